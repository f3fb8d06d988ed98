// The API reference: the project's OpenAPI document (gateway/openapi.yaml, the one this build was made
// from) grouped by service, each operation with its method, path, summary, who may call it and the
// fields of its parameters, body and response; a quick start that works against the demo tenant.
// The document and its reader load as their own chunk on first visit (spec.ts), not with the app.
import { useState } from "preact/hooks";
import { Show, useAsync } from "../../ui/async";
import { Page } from "../../ui/page";
import type { ApiDoc, FieldDoc, OperationDoc } from "./spec";
import "./api.css";

function Fields({ caption, fields, where }: { caption: string; fields: FieldDoc[]; where?: boolean }) {
  if (fields.length === 0) return <p class="muted">{caption}: no fields.</p>;
  return (
    <div class="table-scroll">
      <table class="fields">
        <caption>{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Field</th>
            {where && <th scope="col">In</th>}
            <th scope="col">Type</th>
            <th scope="col">About</th>
          </tr>
        </thead>
        <tbody>
          {fields.map((f) => (
            <tr key={f.name}>
              <td>
                <code>{f.name}</code>
                {f.required && <small class="required"> required</small>}
              </td>
              {where && <td>{f.where}</td>}
              <td><code>{f.type}</code></td>
              <td>
                {f.description && <span class="pre">{f.description}</span>}
                {f.children && f.children.length > 0 && (
                  <details class="nested">
                    <summary>Fields of {f.type}</summary>
                    <Fields caption={`${f.name}: ${f.type}`} fields={f.children} />
                  </details>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Operation({ op }: { op: OperationDoc }) {
  // Tables are drawn when an operation is opened: the document has ~100 operations and most visits
  // open a few.
  const [open, setOpen] = useState(false);
  return (
    <details class="operation" onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}>
      <summary>
        <span class={`method method-${op.method.toLowerCase()}`}>{op.method}</span> <code class="path">{op.path}</code>
        <span class="summary-text">{op.summary}</span>
      </summary>
      {open && (
        <div class="operation-body">
          <p>
            <strong>Who may call it:</strong> {op.access}. <small class="muted">Operation id {op.id}</small>
          </p>
          {op.description && op.description !== op.summary && <p class="pre">{op.description}</p>}
          {op.params.length > 0 && <Fields caption="Parameters" fields={op.params} where />}
          {op.body && <Fields caption={`Request body: ${op.body.name}`} fields={op.body.fields} />}
          {op.response && (
            <Fields
              caption={`Response${op.response.streamed ? " (server-sent events, one per message)" : ""}: ${op.response.name}`}
              fields={op.response.fields}
            />
          )}
        </div>
      )}
    </details>
  );
}

function QuickStart() {
  const origin = location.origin;
  const login =
    `TOKEN=$(curl -s ${origin}/v1/auth:login \\\n` +
    `  --json '{"tenant":"demo","email":"teacher@demo.test","password":"learnflow-demo"}' \\\n` +
    `  | jq -r .tokens.accessToken)`;
  const call = `curl -s ${origin}/v1/workflows/templates -H "Authorization: Bearer $TOKEN"`;
  return (
    <section aria-labelledby="quick-start">
      <h2 id="quick-start">Quick start</h2>
      <p>
        Sign in as a demo user (the demo tenant's users share the password <code>learnflow-demo</code>), keep the
        access token, and send it as a bearer token. Errors come back as <code>google.rpc.Status</code> JSON with
        field violations for bad input; send <code>x-request-id</code> to follow a call through the logs.
      </p>
      <p>1. Sign in and keep the access token:</p>
      <pre><code data-testid="quickstart-login">{login}</code></pre>
      <p>2. Call the API with it (here: the workflow templates):</p>
      <pre><code data-testid="quickstart-call">{call}</code></pre>
      <p class="muted">
        Access tokens expire; <code>POST /v1/auth:refresh</code> with the refresh token from the login answer gives
        a new one. Streams (<code>:watch</code>, <code>:stream</code>) answer <code>text/event-stream</code>: use{" "}
        <code>curl -N</code>.
      </p>
    </section>
  );
}

function matches(op: OperationDoc, q: string): boolean {
  return [op.path, op.summary, op.method, op.id].some((s) => s.toLowerCase().includes(q));
}

export default function Reference() {
  const state = useAsync<ApiDoc>(() => import("./spec").then((m) => m.loadDoc()), []);
  const [query, setQuery] = useState("");
  const [service, setService] = useState("");
  return (
    <Page title="API reference">
      <QuickStart />
      <Show state={state}>
        {(doc) => {
          const q = query.trim().toLowerCase();
          const services = doc.services
            .filter((s) => !service || s.name === service)
            .map((s) => ({ ...s, operations: s.operations.filter((op) => !q || matches(op, q)) }))
            .filter((s) => s.operations.length > 0);
          const count = services.reduce((n, s) => n + s.operations.length, 0);
          return (
            <>
              <p class="muted">
                {doc.title} {doc.version}: {doc.services.reduce((n, s) => n + s.operations.length, 0)} operations in{" "}
                {doc.services.length} services. <a href="#quick-start">Quick start</a>
              </p>
              <form class="grid filters" role="search" onSubmit={(e) => e.preventDefault()}>
                <div>
                  <label for="api-search">Search operations</label>
                  <input id="api-search" type="search" value={query} onInput={(e) => setQuery(e.currentTarget.value)} placeholder="workflows, :redrive, login…" />
                </div>
                <div>
                  <label for="api-service">Service</label>
                  <select id="api-service" value={service} onChange={(e) => setService(e.currentTarget.value)}>
                    <option value="">All services</option>
                    {doc.services.map((s) => (
                      <option key={s.name} value={s.name}>{s.name}</option>
                    ))}
                  </select>
                </div>
              </form>
              <p role="status" class="muted">{count} operations shown.</p>
              {services.map((s) => (
                <section key={s.name} class="service" aria-labelledby={`svc-${s.name}`}>
                  <h2 id={`svc-${s.name}`}>{s.name}</h2>
                  {s.description && <p class="pre muted">{s.description}</p>}
                  {s.operations.map((op) => <Operation key={op.id} op={op} />)}
                </section>
              ))}
            </>
          );
        }}
      </Show>
    </Page>
  );
}
