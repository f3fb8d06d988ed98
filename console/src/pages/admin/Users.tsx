// The tenant's users (GET /v1/users, by role): create one (POST /v1/users), change their roles, disable
// or enable them (PATCH /v1/users/{id} with an update mask and the etag, so two admins editing one user
// cannot silently overwrite each other: a stale etag is refused and said so).
import { useState } from "preact/hooks";
import { api, call } from "../../api/client";
import type { components } from "../../api/schema";
import { ErrorBox } from "../../ui/async";
import { Field } from "../../ui/form";
import { Page } from "../../ui/page";
import { Paged } from "../../ui/paged";
import { Badge, Filters, when, words } from "./common";
import "./admin.css";

type User = components["schemas"]["learnflow.identity.v1.User"];
type Role = components["schemas"]["learnflow.auth.v1.Role"];

const ROLES: Role[] = ["ROLE_STUDENT", "ROLE_TEACHER", "ROLE_FACILITATOR", "ROLE_MENTOR", "ROLE_CAREGIVER", "ROLE_ADMIN"];
const roleName = (r: string) => words(r, "ROLE_");

function RoleChecks({ legend, chosen, onChange }: { legend: string; chosen: Role[]; onChange: (r: Role[]) => void }) {
  return (
    <fieldset class="checks">
      <legend>{legend}</legend>
      {ROLES.map((r) => (
        <label key={r}>
          <input
            type="checkbox"
            checked={chosen.includes(r)}
            onChange={(e) => onChange(e.currentTarget.checked ? [...chosen, r] : chosen.filter((c) => c !== r))}
          />
          {roleName(r)}
        </label>
      ))}
    </fieldset>
  );
}

function CreateUser({ onCreated }: { onCreated: (u: User) => void }) {
  const [roles, setRoles] = useState<Role[]>(["ROLE_STUDENT"]);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: Event) {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const f = new FormData(form);
    setBusy(true);
    setError(null);
    try {
      const u = await call(
        api.POST("/v1/users", {
          body: {
            user: {
              email: String(f.get("email") ?? "").trim(),
              displayName: String(f.get("displayName") ?? "").trim(),
              timeZone: String(f.get("timeZone") ?? "").trim() || undefined,
              roles,
            },
            password: String(f.get("password") ?? ""),
          },
        }),
      );
      form.reset();
      setRoles(["ROLE_STUDENT"]);
      onCreated(u);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <details class="create-box">
      <summary>Add a user</summary>
      <form onSubmit={submit} aria-label="Add a user">
        <div class="grid compact">
          <Field label="Email" name="email" error={error}>
            {(p) => <input {...p} type="email" required autoComplete="off" />}
          </Field>
          <Field label="Name" name="displayName" error={error}>
            {(p) => <input {...p} required maxLength={200} />}
          </Field>
          <Field label="Initial password" name="password" error={error} hint="At least 10 characters">
            {(p) => <input {...p} type="password" required minLength={10} autoComplete="new-password" />}
          </Field>
          <Field label="Time zone" name="timeZone" error={error} hint="IANA name, e.g. Europe/Paris">
            {(p) => <input {...p} placeholder="UTC" />}
          </Field>
        </div>
        <RoleChecks legend="Roles" chosen={roles} onChange={setRoles} />
        <ErrorBox error={error} />
        <button type="submit" disabled={busy} aria-busy={busy ? "true" : undefined}>Add the user</button>
      </form>
    </details>
  );
}

function EditRoles({ user, onSaved, onCancel }: { user: User; onSaved: (u: User) => void; onCancel: () => void }) {
  const [roles, setRoles] = useState<Role[]>(user.roles ?? []);
  const [error, setError] = useState<unknown>(null);
  async function save(e: Event) {
    e.preventDefault();
    setError(null);
    try {
      onSaved(
        await call(
          api.PATCH("/v1/users/{user_id}", {
            params: { path: { user_id: user.id ?? "" }, query: { updateMask: "roles" } },
            body: { email: user.email, roles, etag: user.etag },
          }),
        ),
      );
    } catch (err) {
      setError(err);
    }
  }
  return (
    <form onSubmit={save} class="edit-roles" aria-label={`Roles of ${user.email}`}>
      <RoleChecks legend={`Roles of ${user.email}`} chosen={roles} onChange={setRoles} />
      <ErrorBox error={error} />
      <div class="button-row">
        <button type="submit">Save roles</button>
        <button type="button" class="secondary outline" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  );
}

export default function Users() {
  const [role, setRole] = useState<Role | "">("");
  const [rev, setRev] = useState(0);
  const [editing, setEditing] = useState<User | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [note, setNote] = useState("");

  async function setDisabled(u: User, disabled: boolean) {
    setError(null);
    setNote("");
    try {
      await call(
        api.PATCH("/v1/users/{user_id}", {
          params: { path: { user_id: u.id ?? "" }, query: { updateMask: "disabled" } },
          body: { email: u.email, roles: u.roles ?? [], disabled, etag: u.etag },
        }),
      );
      setNote(`${u.email} is ${disabled ? "disabled: they can no longer sign in" : "enabled again"}.`);
      setRev((n) => n + 1);
    } catch (err) {
      setError(err);
    }
  }

  return (
    <Page title="Users">
      <CreateUser onCreated={(u) => { setNote(`${u.email} was added.`); setRev((n) => n + 1); }} />
      <Filters label="Filter users">
        <label>
          Role
          <select value={role} onChange={(e) => setRole(e.currentTarget.value as Role | "")}>
            <option value="">Any</option>
            {ROLES.map((r) => <option key={r} value={r}>{roleName(r)}</option>)}
          </select>
        </label>
      </Filters>
      <ErrorBox error={error} />
      {note && <p role="status" class="ok-text">{note}</p>}
      {editing && (
        <EditRoles
          user={editing}
          onCancel={() => setEditing(null)}
          onSaved={(u) => { setEditing(null); setNote(`Roles of ${u.email} saved.`); setRev((n) => n + 1); }}
        />
      )}
      <Paged<User>
        caption="Users of this tenant"
        deps={[role, rev]}
        empty="No user has this role."
        load={(pageToken, pageSize) =>
          call(api.GET("/v1/users", { params: { query: { pageSize, pageToken: pageToken || undefined, role: role || undefined } } })).then(
            (r) => ({ rows: r.users ?? [], next: r.nextPageToken }),
          )
        }
        head={
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Email</th>
            <th scope="col">Roles</th>
            <th scope="col">State</th>
            <th scope="col">Since</th>
            <th scope="col"><span class="visually-hidden">Actions</span></th>
          </tr>
        }
        row={(u) => (
          <tr key={u.id} data-email={u.email}>
            <td>{u.displayName}</td>
            <td>{u.email}</td>
            <td>{(u.roles ?? []).map(roleName).join(", ")}</td>
            <td>{u.disabled ? <Badge tone="bad">disabled</Badge> : <Badge tone="good">active</Badge>}</td>
            <td>{when(u.createTime)}</td>
            <td class="button-row">
              <button type="button" class="secondary outline small" aria-label={`Roles of ${u.email}: edit`} onClick={() => setEditing(u)}>
                Roles
              </button>
              <button
                type="button"
                class="secondary small"
                aria-label={`${u.disabled ? "Enable" : "Disable"} ${u.email}`}
                onClick={() => void setDisabled(u, !u.disabled)}
              >
                {u.disabled ? "Enable" : "Disable"}
              </button>
            </td>
          </tr>
        )}
      />
    </Page>
  );
}
