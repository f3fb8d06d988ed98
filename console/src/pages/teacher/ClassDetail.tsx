// One class: its students' summaries, riskiest first by default (GET /v1/classes/{id}/summaries,
// ordered by risk or by mastery, paginated), each opening the student's progress.
import { useState } from "preact/hooks";
import { useRoute } from "preact-iso";
import { api, call } from "../../api/client";
import type { components } from "../../api/schema";
import { Show, useAsync } from "../../ui/async";
import { Paged } from "../../ui/paged";
import { Page } from "../../ui/page";
import { StudentName } from "./people";
import "../student/learn.css";

type Summary = components["schemas"]["learnflow.progress.v1.StudentSummary"];

/** Risk in words as well as colour: the badge never relies on colour alone. */
export function RiskBadge({ risk }: { risk: number }) {
  const pct = Math.round(risk * 100);
  const [tone, word] = risk >= 0.6 ? ["bad", "High"] : risk >= 0.3 ? ["warn", "Medium"] : ["good", "Low"];
  return <span class={`badge ${tone}`}>{word} ({pct} %)</span>;
}

export default function ClassDetail() {
  const { params } = useRoute();
  const classId = params.classId ?? "";
  const [orderBy, setOrderBy] = useState("risk");
  const klass = useAsync(
    () => call(api.GET("/v1/classes/{class_id}", { params: { path: { class_id: classId } } })),
    [classId],
  );
  return (
    <Page title={klass.data?.name ? `Class: ${klass.data.name}` : "Class"}>
      <p>
        <a href="/teach/classes">All classes</a> · <a href="/teach/alerts">Struggle alerts</a>
      </p>
      <Show state={klass}>
        {(c) => (
          <>
            <p class="muted">
              {c.studentIds?.length ?? 0} students · {c.teacherIds?.length ?? 0} teachers
            </p>
            <label class="page-size">
              Order by
              <select value={orderBy} onChange={(e) => setOrderBy(e.currentTarget.value)}>
                <option value="risk">Risk (highest first)</option>
                <option value="mastery">Mastery (lowest first)</option>
              </select>
            </label>
            <Paged<Summary>
              caption="Students of the class"
              deps={[classId, orderBy]}
              empty="No students in this class yet."
              load={async (pageToken, pageSize) => {
                const r = await call(
                  api.GET("/v1/classes/{class_id}/summaries", {
                    params: { path: { class_id: classId }, query: { pageToken, pageSize, orderBy } },
                  }),
                );
                return { rows: r.summaries ?? [], next: r.nextPageToken || undefined };
              }}
              head={
                <tr>
                  <th scope="col">Student</th>
                  <th scope="col">Risk</th>
                  <th scope="col">Mean mastery</th>
                  <th scope="col">Topics mastered</th>
                  <th scope="col">Open alerts</th>
                  <th scope="col">Streak</th>
                  <th scope="col">Last active</th>
                </tr>
              }
              row={(s) => (
                <tr key={s.studentId}>
                  <th scope="row">
                    <a href={`/teach/students/${s.studentId}`}>
                      <StudentName id={s.studentId ?? ""} />
                    </a>
                  </th>
                  <td><RiskBadge risk={s.risk ?? 0} /></td>
                  <td>
                    <progress class="mastery-bar" value={Math.round((s.meanMastery ?? 0) * 100)} max={100} aria-label="Mean mastery" />{" "}
                    {Math.round((s.meanMastery ?? 0) * 100)} %
                  </td>
                  <td>{s.topicsMastered ?? 0}</td>
                  <td>
                    {(s.openAlerts ?? 0) > 0 ? (
                      <a href={`/teach/alerts?student=${s.studentId}`}>{s.openAlerts} open</a>
                    ) : (
                      "0"
                    )}
                  </td>
                  <td>{s.streak?.currentDays ?? 0} days</td>
                  <td>{s.lastActiveTime ? new Date(s.lastActiveTime).toLocaleString() : "—"}</td>
                </tr>
              )}
            />
          </>
        )}
      </Show>
    </Page>
  );
}
