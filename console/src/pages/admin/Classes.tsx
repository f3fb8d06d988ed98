// The tenant's classes (GET /v1/classes): create one with its teacher (POST /v1/classes), and add or
// remove teachers and students (POST /v1/classes/{id}:updateMembership). People are shown by name: the
// tenant's users are read once (GET /v1/users) to name the ids the class API returns.
import { Fragment } from "preact";
import { useState } from "preact/hooks";
import { api, call } from "../../api/client";
import type { components } from "../../api/schema";
import { ErrorBox, useAsync } from "../../ui/async";
import { Field } from "../../ui/form";
import { Page } from "../../ui/page";
import { Paged } from "../../ui/paged";
import "./admin.css";

type Class = components["schemas"]["learnflow.progress.v1.StudentClass"];
type User = components["schemas"]["learnflow.identity.v1.User"];

/** Every user of the tenant (up to ten pages of 200, the most a page holds), to name ids. */
async function allUsers(): Promise<User[]> {
  const out: User[] = [];
  let token: string | undefined;
  for (let i = 0; i < 10; i++) {
    const r = await call(api.GET("/v1/users", { params: { query: { pageSize: 200, pageToken: token } } }));
    out.push(...(r.users ?? []));
    token = r.nextPageToken || undefined;
    if (!token) break;
  }
  return out;
}

function Membership({ cls, people, onSaved }: { cls: Class; people: User[]; onSaved: (c: Class) => void }) {
  const [error, setError] = useState<unknown>(null);
  // A disabled account cannot sign in: it is not offered as a new member.
  const teachers = people.filter((u) => !u.disabled && u.roles?.includes("ROLE_TEACHER"));
  const students = people.filter((u) => !u.disabled && u.roles?.includes("ROLE_STUDENT"));
  async function change(body: { addStudentIds?: string[]; removeStudentIds?: string[]; addTeacherIds?: string[]; removeTeacherIds?: string[] }) {
    setError(null);
    try {
      onSaved(await call(api.POST("/v1/classes/{class_id}:updateMembership", { params: { path: { class_id: cls.id ?? "" } }, body })));
    } catch (err) {
      setError(err);
    }
  }
  function add(e: Event, kind: "teacher" | "student") {
    e.preventDefault();
    const id = String(new FormData(e.currentTarget as HTMLFormElement).get("who") ?? "");
    if (id) void change(kind === "teacher" ? { addTeacherIds: [id] } : { addStudentIds: [id] });
  }
  return (
    <div class="membership">
      <ErrorBox error={error} />
      <form onSubmit={(e) => add(e, "teacher")} class="inline-add" aria-label={`Add a teacher to ${cls.name}`}>
        <label>
          Add a teacher
          <select name="who">
            {teachers.filter((t) => !cls.teacherIds?.includes(t.id ?? "")).map((t) => <option key={t.id} value={t.id}>{t.displayName || t.email}</option>)}
          </select>
        </label>
        <button type="submit" class="secondary small">Add teacher</button>
      </form>
      <form onSubmit={(e) => add(e, "student")} class="inline-add" aria-label={`Add a student to ${cls.name}`}>
        <label>
          Add a student
          <select name="who">
            {students.filter((s) => !cls.studentIds?.includes(s.id ?? "")).map((s) => <option key={s.id} value={s.id}>{s.displayName || s.email}</option>)}
          </select>
        </label>
        <button type="submit" class="secondary small">Add student</button>
      </form>
      <p>
        {[...(cls.teacherIds ?? []).map((id) => ["teacher", id] as const), ...(cls.studentIds ?? []).map((id) => ["student", id] as const)].map(([kind, id]) => {
          const who = people.find((u) => u.id === id);
          const name = who?.displayName || who?.email || id;
          return (
            <button
              key={`${kind}-${id}`}
              type="button"
              class="secondary outline small chip-button"
              title={`Remove ${kind} ${name} from ${cls.name}`}
              onClick={() => void change(kind === "teacher" ? { removeTeacherIds: [id] } : { removeStudentIds: [id] })}
            >
              Remove {name}
            </button>
          );
        })}
      </p>
    </div>
  );
}

export default function Classes() {
  const people = useAsync(allUsers, []);
  const [rev, setRev] = useState(0);
  const [open, setOpen] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [note, setNote] = useState("");
  const names = new Map((people.data ?? []).map((u) => [u.id ?? "", u.displayName || u.email || ""]));
  const name = (id: string) => names.get(id) || id;
  const teachers = (people.data ?? []).filter((u) => !u.disabled && u.roles?.includes("ROLE_TEACHER"));

  async function create(e: Event) {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const f = new FormData(form);
    setError(null);
    try {
      const teacher = String(f.get("teacherId") ?? "");
      const c = await call(api.POST("/v1/classes", { body: { name: String(f.get("name") ?? "").trim(), teacherIds: teacher ? [teacher] : [] } }));
      form.reset();
      setNote(`Class “${c.name}” created.`);
      setRev((n) => n + 1);
    } catch (err) {
      setError(err);
    }
  }

  return (
    <Page title="Classes">
      <details class="create-box">
        <summary>Create a class</summary>
        <form onSubmit={create} aria-label="Create a class">
          <div class="grid compact">
            <Field label="Class name" name="name" error={error}>
              {(p) => <input {...p} required maxLength={200} />}
            </Field>
            <Field label="Teacher" name="teacherIds" error={error}>
              {(p) => (
                <select {...p} name="teacherId">
                  <option value="">None yet</option>
                  {teachers.map((t) => <option key={t.id} value={t.id}>{t.displayName || t.email}</option>)}
                </select>
              )}
            </Field>
          </div>
          <ErrorBox error={error} />
          <button type="submit">Create the class</button>
        </form>
      </details>
      <ErrorBox error={people.error} />
      {note && <p role="status" class="ok-text">{note}</p>}
      <Paged<Class>
        caption="Classes of this tenant"
        deps={[rev]}
        empty="This tenant has no class yet."
        load={(pageToken, pageSize) =>
          call(api.GET("/v1/classes", { params: { query: { pageSize, pageToken: pageToken || undefined } } })).then((r) => ({
            rows: r.classes ?? [],
            next: r.nextPageToken,
          }))
        }
        head={
          <tr><th scope="col">Class</th><th scope="col">Teachers</th><th scope="col">Students</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr>
        }
        row={(c) => (
          <Fragment key={c.id}>
            <tr>
              <td>{c.name}</td>
              <td>{(c.teacherIds ?? []).map(name).join(", ") || "—"}</td>
              <td>{c.studentIds?.length ?? 0}{(c.studentIds?.length ?? 0) > 0 && <small class="muted"> ({(c.studentIds ?? []).slice(0, 3).map(name).join(", ")}{(c.studentIds?.length ?? 0) > 3 ? ", …" : ""})</small>}</td>
              <td>
                <button type="button" class="secondary outline small" aria-expanded={open === c.id} aria-label={`Members of ${c.name}`} onClick={() => setOpen(open === c.id ? null : (c.id ?? null))}>
                  Members
                </button>
              </td>
            </tr>
            {open === c.id && people.data && (
              <tr>
                <td colSpan={4}>
                  <Membership cls={c} people={people.data} onSaved={(u) => { setNote(`Members of “${u.name}” saved.`); setRev((n) => n + 1); }} />
                </td>
              </tr>
            )}
          </Fragment>
        )}
      />
    </Page>
  );
}
