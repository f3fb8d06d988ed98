// Tenants (schools, districts). The API has one tenant call, CreateTenant (POST /v1/tenants, operators
// only), which creates the tenant with its first admin; there is no call that lists or reads tenants, so
// this page shows the signed-in account's own tenant (from its token) and, to operators, the form.
import { useState } from "preact/hooks";
import { api, call } from "../../api/client";
import type { components } from "../../api/schema";
import { session } from "../../auth";
import { ErrorBox } from "../../ui/async";
import { Field } from "../../ui/form";
import { Page } from "../../ui/page";
import { ShortId, when } from "./common";
import "./admin.css";

type Tenant = components["schemas"]["learnflow.identity.v1.Tenant"];

function CreateTenant() {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<Tenant[]>([]);
  async function submit(e: Event) {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const f = new FormData(form);
    setBusy(true);
    setError(null);
    try {
      const t = await call(
        api.POST("/v1/tenants", {
          body: {
            tenant: { slug: String(f.get("slug") ?? "").trim(), displayName: String(f.get("displayName") ?? "").trim() },
            adminEmail: String(f.get("adminEmail") ?? "").trim(),
            adminPassword: String(f.get("adminPassword") ?? ""),
          },
        }),
      );
      form.reset();
      setCreated((old) => [t, ...old]);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <section aria-labelledby="create-tenant">
      <h2 id="create-tenant">Create a tenant</h2>
      <form onSubmit={submit} aria-label="Create a tenant">
        <div class="grid compact">
          <Field label="Short name (used at sign-in)" name="slug" error={error} hint="3–40 of a-z, 0-9 and -">
            {(p) => <input {...p} required pattern="[a-z0-9-]{3,40}" />}
          </Field>
          <Field label="Display name" name="displayName" error={error}>
            {(p) => <input {...p} required maxLength={200} />}
          </Field>
          <Field label="First admin's email" name="adminEmail" error={error}>
            {(p) => <input {...p} type="email" required autoComplete="off" />}
          </Field>
          <Field label="First admin's password" name="adminPassword" error={error} hint="At least 10 characters">
            {(p) => <input {...p} type="password" required minLength={10} autoComplete="new-password" />}
          </Field>
        </div>
        <ErrorBox error={error} />
        <button type="submit" disabled={busy} aria-busy={busy ? "true" : undefined}>Create the tenant</button>
      </form>
      {created.length > 0 && (
        <div role="status">
          <h3>Created now</h3>
          <ul>
            {created.map((t) => (
              <li key={t.id}>
                <strong>{t.displayName}</strong> (<code>{t.slug}</code>, <ShortId id={t.id} />) {when(t.createTime)}
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}

export default function Tenants() {
  const user = session.user;
  const operator = session.has("operator");
  return (
    <Page title="Tenants">
      <section aria-labelledby="this-tenant">
        <h2 id="this-tenant">This account's tenant</h2>
        <dl class="facts">
          <div><dt>Short name</dt><dd>{user?.tenant || "—"}</dd></div>
          <div><dt>Id</dt><dd><code>{user?.tenantId || "—"}</code></dd></div>
        </dl>
        <p class="muted">The API offers no list of tenants: a tenant is known by its short name, which its users type at sign-in.</p>
      </section>
      {operator ? (
        <CreateTenant />
      ) : (
        <p>Creating a tenant (with its first admin) is an operator's task: sign in as an operator to do it.</p>
      )}
    </Page>
  );
}
