"""OpenAPI 3.1 for the REST surface Envoy's transcoder exposes, generated from the same descriptor set.

Per google.api.http binding: the path (template variables become path parameters, `{user.id}` keeps
its dotted name), the verb, the request body per `body` ("*": the request message minus the path
fields; "field": that field), query parameters for the remaining request fields (lowerCamelCase
JSON names; the transcoder also accepts the proto names), and the response message. JSON follows
the proto3 JSON mapping with the transcoder's print options: lowerCamelCase names, 64-bit integers
as strings, enums as names, primitive fields always printed.

Every error is `#/components/schemas/Status` (google.rpc.Status as JSON), whether a service or
Envoy itself produced it. Non-public operations need `bearerAuth`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from buf.validate import validate_pb2
from google.protobuf import descriptor_pb2

from gateway.descriptors import DescriptorSet, HttpBinding, Method, field_behaviors, openapi_parameter
from gateway.envoy import LOCAL_REPLY_STATUS, MAX_REQUEST_BODY_BYTES, RateLimits, rate_limit_for

JsonDict = dict[str, Any]
FD = descriptor_pb2.FieldDescriptorProto

_SCALARS: dict[int, JsonDict] = {
    FD.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FD.TYPE_FLOAT: {"type": "number", "format": "float"},
    FD.TYPE_INT32: {"type": "integer", "format": "int32"},
    FD.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FD.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FD.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0, "maximum": 4294967295},
    FD.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0, "maximum": 4294967295},
    # proto3 JSON: 64-bit integers are strings
    FD.TYPE_INT64: {"type": "string", "format": "int64"},
    FD.TYPE_SINT64: {"type": "string", "format": "int64"},
    FD.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    FD.TYPE_UINT64: {"type": "string", "format": "uint64"},
    FD.TYPE_FIXED64: {"type": "string", "format": "uint64"},
    FD.TYPE_BOOL: {"type": "boolean"},
    FD.TYPE_STRING: {"type": "string"},
    FD.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
}

_WELL_KNOWN: dict[str, JsonDict] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {
        "type": "string",
        "pattern": r"^-?[0-9]+(\.[0-9]+)?s$",
        "examples": ["1.5s"],
    },
    "google.protobuf.FieldMask": {
        "type": "string",
        "description": "Comma-separated lowerCamelCase field paths.",
        "examples": ["displayName,roles"],
    },
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Empty": {"type": "object", "additionalProperties": False},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
        "additionalProperties": True,
    },
    "google.protobuf.BoolValue": {"type": ["boolean", "null"]},
    "google.protobuf.StringValue": {"type": ["string", "null"]},
    "google.protobuf.BytesValue": {"type": ["string", "null"], "contentEncoding": "base64"},
    "google.protobuf.Int32Value": {"type": ["integer", "null"], "format": "int32"},
    "google.protobuf.UInt32Value": {"type": ["integer", "null"], "format": "int64"},
    "google.protobuf.Int64Value": {"type": ["string", "null"], "format": "int64"},
    "google.protobuf.UInt64Value": {"type": ["string", "null"], "format": "uint64"},
    "google.protobuf.FloatValue": {"type": ["number", "null"], "format": "float"},
    "google.protobuf.DoubleValue": {"type": ["number", "null"], "format": "double"},
}

STATUS_SCHEMA: JsonDict = {
    "type": "object",
    "description": (
        "google.rpc.Status as JSON: the one error shape of this API, from the services and from the "
        "gateway alike. `details` carries google.rpc.ErrorInfo (a stable `reason`, domain "
        "`learnflow.dev`, `metadata.correlation_id` = the request's x-request-id) and, for invalid "
        "arguments, google.rpc.BadRequest."
    ),
    "required": ["code", "message"],
    "properties": {
        "code": {
            "type": "integer",
            "format": "int32",
            "description": "google.rpc.Code (e.g. 16 UNAUTHENTICATED).",
        },
        "message": {"type": "string"},
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["@type"],
                "properties": {"@type": {"type": "string"}},
                "additionalProperties": True,
            },
        },
    },
    "examples": [
        {
            "code": 16,
            "message": "authentication required: Jwt is missing",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "UNAUTHENTICATED",
                    "domain": "learnflow.dev",
                    "metadata": {"correlation_id": "0b9f3e50-5b98-4722-9ec9-094cc504ad1d"},
                }
            ],
        }
    ],
}

_ERROR_RESPONSES: dict[str, tuple[int, str]] = {
    "BadRequest": (
        400,
        "Invalid argument: malformed JSON, unknown field or query parameter, failed validation;"
        " a body that is not `application/json`; a path or query that is not percent-encoded UTF-8;"
        " a query parameter named like a secret (secrets go in the body).",
    ),
    "Unauthenticated": (401, "Missing, expired or invalid access token."),
    "PermissionDenied": (403, "The caller lacks a required role or the resource is outside its tenant."),
    "NotFound": (404, "The resource (or the route) does not exist."),
    "PayloadTooLarge": (
        413,
        f"The request body is over the gateway's limit ({MAX_REQUEST_BODY_BYTES >> 20} MiB).",
    ),
    "RateLimited": (429, "Too many requests; retry after the number of seconds in Retry-After."),
    "Unavailable": (503, "The service behind the gateway is unavailable; retry with backoff."),
}


_UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_IGNORE_IF_ZERO = validate_pb2.IGNORE_IF_ZERO_VALUE


def _rules(fld: descriptor_pb2.FieldDescriptorProto) -> Any:
    options = fld.options
    return options.Extensions[validate_pb2.field] if options.HasExtension(validate_pb2.field) else None


def _string_constraints(rules: Any, optional: bool) -> JsonDict:
    """JSON Schema for protovalidate's string rules. With IGNORE_IF_ZERO_VALUE an empty string is
    also valid, so a format becomes a pattern that admits it."""
    out: JsonDict = {}
    if rules.HasField("max_len"):
        out["maxLength"] = rules.max_len
    if rules.HasField("min_len"):
        out["minLength"] = rules.min_len
    if rules.HasField("uuid") and rules.uuid:
        if optional:
            out["pattern"] = f"^({_UUID})?$"
        else:
            out["format"] = "uuid"
    if rules.HasField("email") and rules.email and not optional:
        out["format"] = "email"
    if rules.HasField("pattern"):
        out["pattern"] = f"^$|{rules.pattern}" if optional else rules.pattern
    return out


def _number_constraints(rules: Any) -> JsonDict:
    out: JsonDict = {}
    for ours, theirs in (
        ("gte", "minimum"),
        ("lte", "maximum"),
        ("gt", "exclusiveMinimum"),
        ("lt", "exclusiveMaximum"),
    ):
        if rules.HasField(ours):
            out[theirs] = getattr(rules, ours)
    return out


_NUMBER_RULES = {
    FD.TYPE_INT32: "int32",
    FD.TYPE_SINT32: "sint32",
    FD.TYPE_UINT32: "uint32",
    FD.TYPE_DOUBLE: "double",
    FD.TYPE_FLOAT: "float",
}


def constraints(fld: descriptor_pb2.FieldDescriptorProto) -> tuple[JsonDict, JsonDict]:
    """The field's protovalidate rules as JSON Schema: (for the value or each item, for the list)."""
    rules = _rules(fld)
    if rules is None:
        return {}, {}
    optional = rules.ignore == _IGNORE_IF_ZERO
    value: JsonDict = {}
    listing: JsonDict = {}
    scalar = rules
    if fld.label == FD.LABEL_REPEATED and rules.HasField("repeated"):
        if rules.repeated.HasField("max_items"):
            listing["maxItems"] = rules.repeated.max_items
        if rules.repeated.HasField("min_items"):
            listing["minItems"] = rules.repeated.min_items
        scalar = rules.repeated.items
    if fld.type == FD.TYPE_STRING and scalar.HasField("string"):
        value = _string_constraints(scalar.string, optional)
    elif fld.type in _NUMBER_RULES and scalar.HasField(_NUMBER_RULES[fld.type]):
        value = _number_constraints(getattr(scalar, _NUMBER_RULES[fld.type]))
    return value, listing


def _json_name(fld: descriptor_pb2.FieldDescriptorProto) -> str:
    if fld.json_name:
        return fld.json_name
    head, *rest = fld.name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _first_sentence(comment: str) -> str:
    """The first sentence of the first paragraph, on one line (an operation summary)."""
    paragraph = " ".join(comment.split("\n\n", 1)[0].split())
    head, dot, _rest = paragraph.partition(". ")
    return head + "." if dot else paragraph


def _is_map(ds: DescriptorSet, fld: descriptor_pb2.FieldDescriptorProto) -> bool:
    if fld.type != FD.TYPE_MESSAGE or fld.label != FD.LABEL_REPEATED:
        return False
    msg = ds.messages.get(fld.type_name.lstrip("."))
    return bool(msg and msg.options.map_entry)


class _Builder:
    def __init__(self, ds: DescriptorSet, rate_limits: RateLimits) -> None:
        self.ds = ds
        self.rate_limits = rate_limits
        self.schemas: dict[str, JsonDict] = {}

    # -- schemas -------------------------------------------------------------------------------------

    def ref(self, full_name: str) -> JsonDict:
        if full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[full_name])
        if full_name in self.ds.enums:
            self._enum(full_name)
        else:
            self._message(full_name)
        return {"$ref": f"#/components/schemas/{full_name}"}

    def _enum(self, name: str) -> None:
        if name in self.schemas:
            return
        enum = self.ds.enums[name]
        schema: JsonDict = {"type": "string", "enum": [v.name for v in enum.value]}
        if name in self.ds.comments:
            schema["description"] = self.ds.comments[name]
        self.schemas[name] = schema

    def _message(self, name: str) -> None:
        if name in self.schemas:
            return
        self.schemas[name] = {}  # placeholder: recursion-safe
        self.schemas[name] = self.message_schema(name)

    def field_schema(self, fld: descriptor_pb2.FieldDescriptorProto) -> JsonDict:
        if _is_map(self.ds, fld):
            entry = self.ds.messages[fld.type_name.lstrip(".")]
            value = next(f for f in entry.field if f.name == "value")
            return {"type": "object", "additionalProperties": self._single(value)}
        single = self._single(fld)
        if fld.label == FD.LABEL_REPEATED:
            _, listing = constraints(fld)
            return {"type": "array", "items": single, **listing}
        return single

    def _single(self, fld: descriptor_pb2.FieldDescriptorProto) -> JsonDict:
        if fld.type in (FD.TYPE_MESSAGE, FD.TYPE_ENUM):
            return self.ref(fld.type_name.lstrip("."))
        # The contract's bounds (protovalidate), so clients and fuzzers see the limits the server holds.
        value, _ = constraints(fld)
        return {**_SCALARS[fld.type], **value}

    def message_schema(self, name: str, *, exclude: frozenset[str] = frozenset()) -> JsonDict:
        msg = self.ds.messages[name]
        props: JsonDict = {}
        required: list[str] = []
        for fld in msg.field:
            if fld.name in exclude:
                continue
            schema = self.field_schema(fld)
            behaviors = field_behaviors(fld)
            comment = self.ds.comments.get(f"{name}.{fld.name}")
            if comment or "OUTPUT_ONLY" in behaviors:
                if "$ref" in schema:
                    schema = {"allOf": [schema]}  # siblings of $ref: keep the reference intact
                if comment:
                    schema["description"] = comment
                if "OUTPUT_ONLY" in behaviors:
                    schema["readOnly"] = True
            props[_json_name(fld)] = schema
            if "REQUIRED" in behaviors:
                required.append(_json_name(fld))
        out: JsonDict = {"type": "object", "properties": props}
        if required:
            out["required"] = required
        if name in self.ds.comments and not exclude:
            out["description"] = self.ds.comments[name]
        return out

    # -- fields of a request -------------------------------------------------------------------------

    def resolve(self, message: str, field_path: str) -> descriptor_pb2.FieldDescriptorProto:
        msg = self.ds.messages[message]
        parts = field_path.split(".")
        for i, part in enumerate(parts):
            fld = next((f for f in msg.field if f.name == part), None)
            if fld is None:
                raise ValueError(f"{message}: no field {field_path!r}")
            if i == len(parts) - 1:
                return fld
            msg = self.ds.messages[fld.type_name.lstrip(".")]
        raise AssertionError("unreachable")

    def query_fields(
        self, message: str, prefix: str, skip: set[str], depth: int = 0
    ) -> Iterator[tuple[str, descriptor_pb2.FieldDescriptorProto]]:
        """Leaf fields that may be given as query parameters (dotted proto paths)."""
        for fld in self.ds.messages[message].field:
            path = f"{prefix}{fld.name}"
            if path in skip or _is_map(self.ds, fld):
                continue
            type_name = fld.type_name.lstrip(".")
            if fld.type == FD.TYPE_MESSAGE and type_name not in _WELL_KNOWN:
                if fld.label == FD.LABEL_REPEATED or depth >= 3:
                    continue
                yield from self.query_fields(type_name, path + ".", skip, depth + 1)
                continue
            yield path, fld

    # -- operations ----------------------------------------------------------------------------------

    def operation(self, m: Method, b: HttpBinding, index: int) -> JsonDict:
        tpl = b.parsed
        path_fields = {v.field_path for v in tpl.variables}
        summary = _first_sentence(m.comment)
        op: JsonDict = {
            "operationId": f"{m.service.rsplit('.', 1)[-1]}_{m.name}" + (f"_{index}" if index else ""),
            "tags": [m.service.rsplit(".", 1)[-1]],
        }
        if summary:
            op["summary"] = summary
        notes = []
        if m.comment and m.comment != summary:
            notes.append(m.comment)
        if b.body not in ("", "*"):
            shared = sorted(v for v in path_fields if v.startswith(b.body + "."))
            for field_path in shared:
                sub = field_path[len(b.body) + 1 :]
                notes.append(
                    f"`{field_path}` comes from the path; `{sub}` in the body may be omitted, and if "
                    "given must be the same value (a different one is rejected with 400)."
                )
        notes.append(f"gRPC: `{m.grpc_path}`.")
        if m.public:
            notes.append("Public: no token needed.")
        elif m.roles:
            notes.append("Requires one of the roles: " + ", ".join(m.roles) + ".")
        else:
            notes.append("Any authenticated caller.")
        op["description"] = "\n\n".join(notes)
        op["x-grpc-method"] = m.full_name
        op["security"] = [] if m.public else [{"bearerAuth": []}]
        if m.roles:
            op["x-learnflow-roles"] = list(m.roles)

        params: list[JsonDict] = []
        for var in tpl.variables:
            fld = self.resolve(m.input_type, var.field_path)
            params.append(
                {
                    "name": openapi_parameter(var.field_path),
                    "in": "path",
                    "required": True,
                    "schema": self._single(fld),
                }
                | (
                    {"description": c}
                    if (c := self.ds.comments.get(f"{m.input_type}.{var.field_path}"))
                    else {}
                )
            )
        if b.body != "*":
            skip = set(path_fields) | ({b.body} if b.body else set())
            for path, fld in self.query_fields(m.input_type, "", skip):
                json_path = ".".join(
                    _json_name(self.resolve(m.input_type, ".".join(path.split(".")[: i + 1])))
                    for i in range(path.count(".") + 1)
                )
                param: JsonDict = {
                    "name": json_path,
                    "in": "query",
                    "required": False,
                    "schema": self.field_schema(fld),
                }
                comment = self._comment_for_path(m.input_type, path)
                if comment:
                    param["description"] = comment
                if fld.label == FD.LABEL_REPEATED:
                    param["explode"] = True
                params.append(param)
        if params:
            op["parameters"] = params

        if b.body:
            if b.body == "*":
                top_level_path = {p for p in path_fields if "." not in p}
                schema = (
                    self.message_schema(m.input_type, exclude=frozenset(top_level_path))
                    if top_level_path
                    else self.ref(m.input_type)
                )
            else:
                schema = self.field_schema(self.resolve(m.input_type, b.body))
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}

        # A Media Type Object has no `description` (OpenAPI 3.1): the SSE framing is described on
        # the response itself, or the document does not validate.
        ok: JsonDict = (
            {
                "description": "OK: server-sent events, one `data:` JSON message per event.",
                "content": {"text/event-stream": {"schema": self.ref(m.output_type)}},
            }
            if m.server_streaming
            else {"description": "OK", "content": {"application/json": {"schema": self.ref(m.output_type)}}}
        )
        responses: JsonDict = {"200": ok}
        responses["400"] = {"$ref": "#/components/responses/BadRequest"}
        if not m.public:
            responses["401"] = {"$ref": "#/components/responses/Unauthenticated"}
            responses["403"] = {"$ref": "#/components/responses/PermissionDenied"}
        if tpl.variables:
            responses["404"] = {"$ref": "#/components/responses/NotFound"}
        if b.body:
            responses["413"] = {"$ref": "#/components/responses/PayloadTooLarge"}
        bucket = rate_limit_for(m, self.rate_limits, b)
        if bucket is not None:
            limit = bucket[1]
            responses["429"] = {"$ref": "#/components/responses/RateLimited"}
            op["x-ratelimit"] = {"per_second": limit.per_second, "burst": limit.burst}
        responses["503"] = {"$ref": "#/components/responses/Unavailable"}
        responses["default"] = {"$ref": "#/components/responses/Error"}
        op["responses"] = responses
        return op

    def _comment_for_path(self, message: str, path: str) -> str:
        parts = path.split(".")
        msg = message
        for part in parts[:-1]:
            fld = self.resolve(msg, part)
            msg = fld.type_name.lstrip(".")
        return self.ds.comments.get(f"{msg}.{parts[-1]}", "")


def build(ds: DescriptorSet, rate_limits: RateLimits | None = None) -> JsonDict:
    builder = _Builder(ds, rate_limits or RateLimits())
    paths: dict[str, JsonDict] = {}
    tags: list[JsonDict] = []
    for svc in ds.services:
        tag: JsonDict = {"name": svc.short_name}
        if svc.comment:
            tag["description"] = svc.comment
        tags.append(tag)
        for m in svc.methods:
            for i, b in enumerate(m.bindings):
                item = paths.setdefault(b.parsed.openapi_path(), {})
                verb = b.verb.lower()
                if verb in item:
                    raise ValueError(f"two RPCs bind {b.verb} {b.template}")
                item[verb] = builder.operation(m, b, i)

    responses: JsonDict = {
        name: {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}},
        }
        for name, (_status, text) in _ERROR_RESPONSES.items()
    }
    responses["RateLimited"]["headers"] = {
        "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
    }
    responses["Error"] = {
        "description": "Any other error, as google.rpc.Status.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}},
    }
    codes = ", ".join(
        f"{http} -> {code} ({reason})" for http, (code, reason, _m) in LOCAL_REPLY_STATUS.items()
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "LearnFlow API",
            "version": "v1",
            "description": (
                "REST/JSON surface of the LearnFlow gRPC services, transcoded by the Envoy gateway "
                "(generated from the proto contracts; the same port also serves native gRPC). "
                "Errors are google.rpc.Status JSON; errors the gateway makes itself use the same shape "
                f"with these codes: {codes}. Send `x-request-id` to correlate; it is echoed back."
            ),
        },
        "servers": [{"url": "/"}],
        "tags": tags,
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": (
                        "ES256 access token from POST /v1/auth:login (issuer and audience `learnflow`)."
                    ),
                }
            },
            "responses": responses,
            "schemas": {"Status": STATUS_SCHEMA, **dict(sorted(builder.schemas.items()))},
        },
    }
