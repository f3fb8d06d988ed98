// Students by name rather than by id: GET /v1/users/{id} (teachers may read the users of their tenant),
// once per id per page load, and the teacher's own students (the members of the classes they teach) for
// the student filters.
import { useEffect, useState } from "preact/hooks";
import { api, call } from "../../api/client";
import { useAsync, type AsyncState } from "../../ui/async";

const names = new Map<string, Promise<string>>();

/** The user's display name, else email; the id itself when the user cannot be read (the row still shows). */
export function nameOf(id: string): Promise<string> {
  let found = names.get(id);
  if (!found) {
    found = call(api.GET("/v1/users/{user_id}", { params: { path: { user_id: id } } })).then(
      (u) => u.displayName || u.email || id,
      () => id,
    );
    names.set(id, found);
  }
  return found;
}

export function StudentName({ id }: { id: string }) {
  const [name, setName] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    void nameOf(id).then((n) => live && setName(n));
    return () => {
      live = false;
    };
  }, [id]);
  return <>{name ?? id}</>;
}

export interface Student {
  id: string;
  name: string;
}

/** The students of the classes the caller teaches, by name (the first 200 classes). */
export function useMyStudents(): AsyncState<Student[]> {
  return useAsync(async () => {
    const r = await call(api.GET("/v1/classes", { params: { query: { pageSize: 200 } } }));
    const ids = [...new Set((r.classes ?? []).flatMap((c) => c.studentIds ?? []))];
    const all = await Promise.all(ids.map(async (id) => ({ id, name: await nameOf(id) })));
    return all.sort((a, b) => a.name.localeCompare(b.name));
  }, []);
}

/** A select of the teacher's students, "All students" first. */
export function StudentSelect({
  students,
  value,
  onChange,
}: {
  students: AsyncState<Student[]>;
  value: string;
  onChange: (id: string) => void;
}) {
  return (
    <label>
      Student
      <select value={value} onChange={(e) => onChange(e.currentTarget.value)} aria-busy={students.loading ? "true" : undefined}>
        <option value="">All students</option>
        {(students.data ?? []).map((s) => (
          <option key={s.id} value={s.id}>{s.name}</option>
        ))}
        {value && !(students.data ?? []).some((s) => s.id === value) && <option value={value}>{value}</option>}
      </select>
    </label>
  );
}
