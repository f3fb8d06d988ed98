// Interventions the policies decided for the teacher's students (GET /v1/interventions/decisions,
// newest first, paginated): what was decided, whether it was sent, suppressed or only shadowed, why,
// and what became of its delivery.
import { useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { api, call } from "../../api/client";
import type { components } from "../../api/schema";
import { Paged } from "../../ui/paged";
import { Page } from "../../ui/page";
import { StudentName, StudentSelect, useMyStudents } from "./people";
import "../student/learn.css";

type Decision = components["schemas"]["learnflow.interventions.v1.Decision"];

const STATUS: Record<string, string> = { sent: "good", suppressed: "warn", shadow: "" };
const DELIVERY: Record<string, string> = { sent: "good", pending: "warn", failed: "bad", not_sent: "" };

/** The decisions table; `studentId` narrows it to one student (the student page). */
export function DecisionList({ studentId }: { studentId: string }) {
  return (
    <Paged<Decision>
      caption="Intervention decisions"
      deps={[studentId]}
      empty="No interventions decided yet."
      load={async (pageToken, pageSize) => {
        const r = await call(
          api.GET("/v1/interventions/decisions", {
            params: { query: { pageToken, pageSize, studentId: studentId || undefined } },
          }),
        );
        return { rows: r.decisions ?? [], next: r.nextPageToken || undefined };
      }}
      head={
        <tr>
          <th scope="col">Student</th>
          <th scope="col">Intervention</th>
          <th scope="col">Decision</th>
          <th scope="col">Reason</th>
          <th scope="col">Delivery</th>
          <th scope="col">When</th>
        </tr>
      }
      row={(d) => (
        <tr key={d.id}>
          <td>
            <a href={`/teach/students/${d.studentId}`}>
              <StudentName id={d.studentId ?? ""} />
            </a>
          </td>
          <td class="break">
            <strong>{d.intervention}</strong>
            {d.message && (
              <details>
                <summary>Message</summary>
                <p class="pre">{d.message}</p>
              </details>
            )}
            <br />
            <small class="muted">
              {d.policyId} v{d.policyVersion}
            </small>
          </td>
          <td>
            <span class={`badge ${STATUS[d.status ?? ""] ?? ""}`}>{d.status || "—"}</span>
          </td>
          <td class="break">{d.reason || "—"}</td>
          <td>
            <span class={`badge ${DELIVERY[d.deliveryStatus ?? ""] ?? ""}`}>{(d.deliveryStatus || "—").replace("_", " ")}</span>
            {(d.deliveryAttempts ?? 0) > 1 && <small class="muted"> · {d.deliveryAttempts} attempts</small>}
            {d.deliveryError && <small class="field-error"> · {d.deliveryError}</small>}
          </td>
          <td>{d.createTime ? new Date(d.createTime).toLocaleString() : "—"}</td>
        </tr>
      )}
    />
  );
}

export default function Interventions() {
  const { query } = useLocation();
  const [studentId, setStudentId] = useState(query.student ?? "");
  const students = useMyStudents();
  return (
    <Page title="Interventions">
      <div class="filters">
        <StudentSelect students={students} value={studentId} onChange={setStudentId} />
      </div>
      <DecisionList studentId={studentId} />
    </Page>
  );
}
