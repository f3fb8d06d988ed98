// The classes the teacher teaches (GET /v1/classes, by name, paginated), each opening its roster.
import { api, call } from "../../api/client";
import type { components } from "../../api/schema";
import { Paged } from "../../ui/paged";
import { Page } from "../../ui/page";
import "../student/learn.css";

type StudentClass = components["schemas"]["learnflow.progress.v1.StudentClass"];

export default function Classes() {
  return (
    <Page title="My classes">
      <Paged<StudentClass>
        caption="Classes"
        empty="You do not teach a class yet: an administrator creates classes and their rosters."
        load={async (pageToken, pageSize) => {
          const r = await call(api.GET("/v1/classes", { params: { query: { pageToken, pageSize } } }));
          return { rows: r.classes ?? [], next: r.nextPageToken || undefined };
        }}
        head={
          <tr>
            <th scope="col">Class</th>
            <th scope="col">Students</th>
            <th scope="col">Teachers</th>
          </tr>
        }
        row={(c) => (
          <tr key={c.id}>
            <th scope="row">
              <a href={`/teach/classes/${c.id}`}>{c.name}</a>
            </th>
            <td>{c.studentIds?.length ?? 0}</td>
            <td>{c.teacherIds?.length ?? 0}</td>
          </tr>
        )}
      />
    </Page>
  );
}
