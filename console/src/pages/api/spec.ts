// The API reference's model of gateway/openapi.yaml: operations grouped by service (the document's
// tags), each with its method, path, summary, roles and the fields of its parameters, request body and
// response. The document is bundled as text (Vite's `?raw`) into this module's own lazy chunk, so only
// a visit to the reference pays for it, and it is always the document this build was made from.
import source from "../../../../gateway/openapi.yaml?raw";
import { parseYaml, type Yaml } from "./yaml";

type Obj = { [key: string]: Yaml };

export interface FieldDoc {
  name: string;
  type: string;
  required: boolean;
  description: string;
  /** Where a parameter goes: path or query (empty for a body or response field). */
  where?: string;
  /** The fields of a message-typed field (or of a list's messages), a few levels deep. */
  children?: FieldDoc[];
}

export interface OperationDoc {
  id: string;
  method: string;
  path: string;
  summary: string;
  description: string;
  /** Who may call it, in words: "public", "any signed-in caller", or the roles. */
  access: string;
  params: FieldDoc[];
  body?: { name: string; fields: FieldDoc[] };
  response?: { name: string; fields: FieldDoc[]; streamed: boolean };
}

export interface ServiceDoc {
  name: string;
  description: string;
  operations: OperationDoc[];
}

export interface ApiDoc {
  title: string;
  version: string;
  description: string;
  services: ServiceDoc[];
}

const METHODS = ["get", "post", "put", "patch", "delete"];

const obj = (v: Yaml | undefined): Obj => (v && typeof v === "object" && !Array.isArray(v) ? v : {});
const str = (v: Yaml | undefined): string => (typeof v === "string" ? v : v == null ? "" : String(v));
const shortName = (ref: string) => ref.split("/").pop()!.split(".").pop()!;

export function buildDoc(doc: Yaml): ApiDoc {
  const root = obj(doc);
  const schemas = obj(obj(root.components).schemas);
  const resolve = (s: Obj): Obj => {
    const ref = str(s.$ref);
    return ref ? obj(schemas[ref.split("/").pop()!]) : s;
  };

  function typeOf(s: Obj): string {
    if (s.$ref) {
      const target = resolve(s);
      // An enum is clearer as its values than as its message name.
      if (Array.isArray(target.enum)) return enumText(target.enum);
      return shortName(str(s.$ref));
    }
    if (Array.isArray(s.allOf) && s.allOf.length === 1) return typeOf(obj(s.allOf[0]));
    if (Array.isArray(s.enum)) return enumText(s.enum);
    const t = str(s.type);
    if (t === "array") return `${typeOf(obj(s.items))}[]`;
    if (t === "object" && s.additionalProperties && typeof s.additionalProperties === "object")
      return `map<string, ${typeOf(obj(s.additionalProperties))}>`;
    const format = str(s.format);
    return format ? `${t || "any"} (${format})` : t || "any";
  }

  function enumText(values: Yaml[]): string {
    const shown = values.filter((v) => !String(v).endsWith("_UNSPECIFIED")).map(String);
    return shown.length > 6 ? `${shown.slice(0, 6).join(" | ")} | …` : shown.join(" | ");
  }

  /** The message a field holds (itself, through allOf, or as a list's items), when it is one. */
  function messageOf(s: Obj): Obj | null {
    if (Array.isArray(s.allOf) && s.allOf.length === 1) return messageOf(obj(s.allOf[0]));
    if (str(s.type) === "array") return messageOf(obj(s.items));
    const target = resolve(s);
    return s.$ref && target.properties ? s : null;
  }

  // Nested messages are expanded three levels down, and never into a message already being expanded
  // (google.protobuf.Struct-like and recursive messages would not end).
  function fieldsOf(schemaRef: Obj, depth = 0, seen: string[] = []): FieldDoc[] {
    const s = resolve(schemaRef);
    const required = new Set((Array.isArray(s.required) ? s.required : []).map(String));
    return Object.entries(obj(s.properties)).map(([name, p]) => {
      const msg = messageOf(obj(p));
      const ref = msg ? str(msg.$ref) : "";
      const children = msg && depth < 3 && !seen.includes(ref) ? fieldsOf(msg, depth + 1, [...seen, ref]) : undefined;
      return {
        name,
        type: typeOf(obj(p)),
        required: required.has(name),
        description: str(obj(p).description) || str(resolve(obj(p)).description),
        children,
      };
    });
  }

  function access(op: Obj): string {
    if (Array.isArray(op.security) && op.security.length === 0) return "public (no token)";
    const roles = Array.isArray(op["x-learnflow-roles"]) ? op["x-learnflow-roles"].map(String) : [];
    if (roles.length === 0) return "any signed-in caller";
    return roles.map((r) => r.replace(/^ROLE_/, "").toLowerCase()).join(", ");
  }

  const byTag = new Map<string, OperationDoc[]>();
  for (const [path, item] of Object.entries(obj(root.paths))) {
    for (const method of METHODS) {
      const op = obj(obj(item)[method]);
      if (!op.operationId) continue;
      const params = (Array.isArray(op.parameters) ? op.parameters : []).map((p) => {
        const q = obj(p);
        return {
          name: str(q.name),
          type: typeOf(obj(q.schema)),
          required: q.required === true,
          description: str(q.description),
          where: str(q.in),
        };
      });
      const bodySchema = obj(obj(obj(obj(op.requestBody).content)["application/json"]).schema);
      const ok = obj(obj(op.responses)["200"]);
      const content = obj(ok.content);
      const streamed = "text/event-stream" in content;
      const okSchema = obj(obj(content["application/json"] ?? content["text/event-stream"]).schema);
      const doc: OperationDoc = {
        id: str(op.operationId),
        method: method.toUpperCase(),
        path,
        summary: str(op.summary),
        description: str(op.description),
        access: access(op),
        params,
        body: Object.keys(bodySchema).length
          ? { name: bodySchema.$ref ? shortName(str(bodySchema.$ref)) : typeOf(bodySchema), fields: fieldsOf(bodySchema, 0, [str(bodySchema.$ref)]) }
          : undefined,
        response: Object.keys(okSchema).length
          ? { name: okSchema.$ref ? shortName(str(okSchema.$ref)) : typeOf(okSchema), fields: fieldsOf(okSchema, 0, [str(okSchema.$ref)]), streamed }
          : undefined,
      };
      const tag = Array.isArray(op.tags) && op.tags.length ? str(op.tags[0]) : "Other";
      byTag.set(tag, [...(byTag.get(tag) ?? []), doc]);
    }
  }
  const tagDescriptions = new Map(
    (Array.isArray(root.tags) ? root.tags : []).map((t) => [str(obj(t).name), str(obj(t).description)]),
  );
  const services = [...byTag.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, operations]) => ({
      name,
      description: tagDescriptions.get(name) ?? "",
      operations: operations.sort((a, b) => a.path.localeCompare(b.path) || a.method.localeCompare(b.method)),
    }));
  const info = obj(root.info);
  return { title: str(info.title), version: str(info.version), description: str(info.description), services };
}

/** The reference of the document bundled with this build. */
export function loadDoc(): ApiDoc {
  return buildDoc(parseYaml(source));
}
