// Struggle alerts of the teacher's classes (GET /v1/struggleAlerts, newest first, paginated), filtered
// by state and student, each acknowledged ("I have seen it") or resolved ("the episode is over": the next
// detection opens a new alert) in place.
import { useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { api, call } from "../../api/client";
import type { components } from "../../api/schema";
import { ErrorBox } from "../../ui/async";
import { Paged } from "../../ui/paged";
import { Page } from "../../ui/page";
import { StudentName, StudentSelect, useMyStudents } from "./people";
import "../student/learn.css";

type Alert = components["schemas"]["learnflow.progress.v1.StruggleAlert"];
type AlertState = components["schemas"]["learnflow.progress.v1.AlertState"];

export const STATES: Record<string, [string, string]> = {
  ALERT_STATE_OPEN: ["Open", "bad"],
  ALERT_STATE_ACKNOWLEDGED: ["Acknowledged", "warn"],
  ALERT_STATE_RESOLVED: ["Resolved", "good"],
};

const RESOLUTIONS: Record<string, string> = {
  ALERT_RESOLUTION_TEACHER: "by a teacher",
  ALERT_RESOLUTION_STUDENT_PROGRESS: "by the student's progress",
  ALERT_RESOLUTION_QUIET_PERIOD: "after a quiet period",
};

const RULES: Record<string, string> = {
  repeated_error: "Repeated error",
  exercise_timeout: "Exercise timeout",
  failed_quiz: "Failed quiz",
  wheel_spinning: "Wheel spinning",
  activity_drop: "Activity drop",
};

export function AlertStateBadge({ alert }: { alert: Alert }) {
  const [word, tone] = STATES[alert.state ?? ""] ?? ["Unknown", ""];
  return (
    <span class={`badge ${tone}`} data-state={alert.state}>
      {word}
      {alert.state === "ALERT_STATE_RESOLVED" && RESOLUTIONS[alert.resolution ?? ""] && ` ${RESOLUTIONS[alert.resolution ?? ""]}`}
    </span>
  );
}

/** The alerts table with its actions; `studentId` narrows it to one student (the student page). */
export function AlertList({ studentId, state }: { studentId: string; state: AlertState }) {
  // Alerts changed on this page, shown as the API returned them, without reloading the list.
  const [changed, setChanged] = useState<Record<string, Alert>>({});
  const [busy, setBusy] = useState("");
  const [error, setError] = useState<unknown>(null);

  async function act(alert: Alert, verb: "acknowledge" | "resolve") {
    const id = alert.id ?? "";
    setBusy(id);
    setError(null);
    try {
      const done =
        verb === "acknowledge"
          ? await call(api.POST("/v1/struggleAlerts/{alert_id}:acknowledge", { params: { path: { alert_id: id } }, body: {} }))
          : await call(api.POST("/v1/struggleAlerts/{alert_id}:resolve", { params: { path: { alert_id: id } }, body: {} }));
      setChanged((c) => ({ ...c, [id]: done }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy("");
    }
  }

  return (
    <>
      <ErrorBox error={error} />
      <Paged<Alert>
        caption="Struggle alerts"
        deps={[studentId, state]}
        empty="No alerts: none of your students is struggling right now."
        load={async (pageToken, pageSize) => {
          const r = await call(
            api.GET("/v1/struggleAlerts", {
              params: { query: { pageToken, pageSize, state, studentId: studentId || undefined } },
            }),
          );
          return { rows: r.alerts ?? [], next: r.nextPageToken || undefined };
        }}
        head={
          <tr>
            <th scope="col">Student</th>
            <th scope="col">Why</th>
            <th scope="col">Severity</th>
            <th scope="col">Raised</th>
            <th scope="col">Status</th>
            <th scope="col">Actions</th>
          </tr>
        }
        row={(original) => {
          const a = changed[original.id ?? ""] ?? original;
          const who = <StudentName id={a.studentId ?? ""} />;
          return (
            <tr key={a.id} data-alert={a.id}>
              <td>
                <a href={`/teach/students/${a.studentId}`}>{who}</a>
              </td>
              <td class="break">
                <strong>{RULES[a.rule ?? ""] ?? a.rule}</strong>: {a.explanation}
              </td>
              <td>{a.severity?.replace("SEVERITY_", "").toLowerCase() || "—"}</td>
              <td>{a.createTime ? new Date(a.createTime).toLocaleString() : "—"}</td>
              <td>
                <AlertStateBadge alert={a} />
              </td>
              <td>
                <div class="row-actions">
                  {a.state === "ALERT_STATE_OPEN" && (
                    <button type="button" disabled={busy === a.id} onClick={() => void act(a, "acknowledge")}>
                      Acknowledge<span class="visually-hidden"> the alert about {a.explanation}</span>
                    </button>
                  )}
                  {a.state !== "ALERT_STATE_RESOLVED" && (
                    <button type="button" class="secondary" disabled={busy === a.id} onClick={() => void act(a, "resolve")}>
                      Resolve<span class="visually-hidden"> the alert about {a.explanation}</span>
                    </button>
                  )}
                </div>
              </td>
            </tr>
          );
        }}
      />
    </>
  );
}

export default function Alerts() {
  const { query } = useLocation();
  const [studentId, setStudentId] = useState(query.student ?? "");
  const [state, setState] = useState<AlertState>("ALERT_STATE_UNSPECIFIED");
  const students = useMyStudents();
  return (
    <Page title="Struggle alerts">
      <div class="filters">
        <label>
          Status
          <select value={state} onChange={(e) => setState(e.currentTarget.value as AlertState)}>
            <option value="ALERT_STATE_UNSPECIFIED">Open and acknowledged</option>
            <option value="ALERT_STATE_OPEN">Open</option>
            <option value="ALERT_STATE_ACKNOWLEDGED">Acknowledged</option>
            <option value="ALERT_STATE_RESOLVED">Resolved</option>
          </select>
        </label>
        <StudentSelect students={students} value={studentId} onChange={setStudentId} />
      </div>
      <AlertList studentId={studentId} state={state} />
    </Page>
  );
}
