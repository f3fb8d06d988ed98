// One student in one program: the progress-monitoring chart (scores, the aimline from baseline to
// target, the trend line and its projection at the goal date with the 95 % prediction interval, all
// from GET .../students/{id}/dashboard), the verdict with its reasons, dosage, progress notes
// (POST .../progress), the exit recommendation and its confirmation (:confirmExit; without a
// recommendation the team's reason is required), and caregiver messages with their delivery status.
import { useState } from "preact/hooks";
import { api, call } from "../../api/client";
import { ErrorBox, Show, useAsync } from "../../ui/async";
import { LineChart, type Series } from "../../ui/chart";
import { Field } from "../../ui/form";
import { Page } from "../../ui/page";
import { canManage, nameOf, pct, todayIn, users, when, zoneOf, type Intervention, type StudentDashboard } from "./lib";
import { enrollmentText, recommendationText } from "./Program";
import "./mtss.css";

const WEEK_MS = 7 * 86_400_000;
const day = (iso: string) => Date.UTC(+iso.slice(0, 4), +iso.slice(5, 7) - 1, +iso.slice(8, 10));
const weeksBetween = (from: string, to: string) => (day(to) - day(from)) / WEEK_MS;
const round = (x: number, n = 2) => Math.round(x * 10 ** n) / 10 ** n;

/**
 * The chart's series in weeks since the student's begin date (the x the analysis uses, docs/mtss.md):
 * the scores, the aimline, the OLS trend drawn to the projection point, and the interval's two ends.
 */
export function progressSeries(i: Intervention, d: StudentDashboard): Series[] {
  const begin = d.enrollment?.beginDate || i.beginDate || "";
  if (!begin) return [];
  const scores = (d.history ?? [])
    .filter((h) => h.score !== undefined && h.date)
    .map((h) => ({ x: weeksBetween(begin, h.date!), y: h.score! }));
  const series: Series[] = [{ name: "Scores", kind: "points", points: scores, color: "#1d4ed8" }];
  const goalDate = i.goal?.goalDate;
  if (goalDate) {
    series.push({
      name: "Aimline",
      kind: "line",
      color: "#047857",
      points: [
        { x: 0, y: i.goal?.baseline ?? 0 },
        { x: weeksBetween(begin, goalDate), y: i.goal?.target ?? 0 },
      ],
    });
  }
  const a = d.analysis;
  if (a?.olsSlope !== undefined && a.olsIntercept !== undefined && scores.length > 0) {
    const end = a.projection?.atWeeks ?? Math.max(...scores.map((p) => p.x));
    const line = (x: number) => a.olsIntercept! + a.olsSlope! * x;
    series.push({ name: "Trend", kind: "dashed", color: "#b45309", points: [{ x: 0, y: line(0) }, { x: end, y: line(end) }] });
    if (a.projection?.value !== undefined && a.projection.low !== undefined && a.projection.high !== undefined) {
      series.push({
        name: "Projection (95 % interval)",
        kind: "line",
        color: "#7c3aed",
        points: [
          { x: end, y: a.projection.low },
          { x: end, y: a.projection.high },
        ],
      });
      series.push({ name: "Projected", kind: "points", color: "#be123c", points: [{ x: end, y: a.projection.value }] });
    }
  }
  return series;
}

function Chart({ i, d }: { i: Intervention; d: StudentDashboard }) {
  const series = progressSeries(i, d);
  return (
    <LineChart
      title={`Progress on ${i.goal?.measure || "the goal"}: scores, aimline, trend and projection`}
      series={series}
      yLabel={i.goal?.measure || "score"}
      xFormat={(x) => `week ${round(x, 1)}`}
    />
  );
}

function Verdict({ d }: { d: StudentDashboard }) {
  const a = d.analysis;
  const p = a?.projection;
  return (
    <>
      <p>
        <strong>{recommendationText(d.recommendation)}</strong>
        {a && <span class="muted"> · {a.points ?? 0} of {a.minPoints ?? 6} scores needed</span>}
        {d.exitRecommended && <> <span class="badge good">Exit recommended</span></>}
      </p>
      <dl class="facts">
        <dt>Aimline slope</dt><dd>{round(a?.aimlineSlope ?? 0)} a week</dd>
        <dt>Trend (OLS)</dt><dd>{a?.olsSlope === undefined ? "—" : `${round(a.olsSlope)} a week`}</dd>
        <dt>Tukey slope</dt><dd>{a?.tukeySlope === undefined ? "—" : `${round(a.tukeySlope)} a week`}</dd>
        <dt>Needed rate</dt><dd>{a?.neededRoi === undefined ? "—" : `${round(a.neededRoi)} a week`}</dd>
        <dt>Projected</dt>
        <dd>{p?.value === undefined ? "—" : `${round(p.value, 1)} (95 %: ${round(p.low ?? 0, 1)} to ${round(p.high ?? 0, 1)}) at week ${round(p.atWeeks ?? 0, 1)}`}</dd>
        <dt>Dosage</dt>
        <dd>
          {d.dosage?.deliveredMinutes ?? 0} of {d.dosage?.plannedMinutes ?? 0} planned minutes ({pct(d.dosage?.ratio)}) ·
          attended {d.dosage?.sessionsAttended ?? 0} of {d.dosage?.sessionsHeld ?? 0} sessions ({pct(d.dosage?.attendanceRate)})
        </dd>
      </dl>
      {[...(a?.reasons ?? []), ...(d.reasons ?? [])].length > 0 && (
        <details>
          <summary>Why</summary>
          <ul>{[...(a?.reasons ?? []), ...(d.reasons ?? [])].map((r) => <li key={r}>{r}</li>)}</ul>
        </details>
      )}
    </>
  );
}

function ProgressForm({ id, studentId, zone, done }: { id: string; studentId: string; zone: string; done: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [said, setSaid] = useState("");
  async function submit(e: Event) {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const f = new FormData(form);
    const score = String(f.get("score") ?? "").trim();
    setBusy(true);
    setError(null);
    setSaid("");
    try {
      await call(
        api.POST("/v1/mtss/interventions/{intervention_id}/progress", {
          params: { path: { intervention_id: id } },
          body: {
            studentId,
            date: String(f.get("date") ?? ""),
            score: score === "" ? undefined : Number(score),
            rating: Number(f.get("rating") ?? 0),
            note: String(f.get("note") ?? ""),
          },
        }),
      );
      setSaid("Progress recorded.");
      form.reset();
      done();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <form onSubmit={submit}>
      <div class="grid-3">
        <Field label="Date" name="date" error={error}>
          {(p) => <input {...p} type="date" defaultValue={todayIn(zone)} required />}
        </Field>
        <Field label="Score (optional)" name="score" error={error}>
          {(p) => <input {...p} type="number" step="any" />}
        </Field>
        <Field label="Rating" name="rating" error={error}>
          {(p) => (
            <select {...p}>
              <option value="0">None</option>
              {[1, 2, 3, 4, 5].map((n) => <option key={n} value={n}>{n}</option>)}
            </select>
          )}
        </Field>
      </div>
      <Field label="Note" name="note" error={error}>
        {(p) => <textarea {...p} rows={2} maxLength={4000} />}
      </Field>
      <ErrorBox error={error} />
      {said && <p role="status">{said}</p>}
      <button type="submit" disabled={busy} aria-busy={busy ? "true" : undefined}>Record progress</button>
    </form>
  );
}

function Exit({ id, studentId, d, done }: { id: string; studentId: string; d: StudentDashboard; done: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const e = d.enrollment;
  if (e?.status === "ENROLLMENT_STATUS_EXITED") {
    return <p>Exited on {e.endDate}{e.exitReason ? ` (${e.exitReason})` : ""}, confirmed {when(e.exitConfirmTime, "UTC")} UTC.</p>;
  }
  if (e?.status !== "ENROLLMENT_STATUS_ACTIVE") return <p>{enrollmentText(e?.status)}: no exit to confirm.</p>;
  if (!canManage()) return <p>{d.exitRecommended ? "Exit recommended; a teacher or admin confirms it." : "No exit recommended."}</p>;
  async function submit(ev: Event) {
    ev.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await call(
        api.POST("/v1/mtss/interventions/{intervention_id}/enrollments/{student_id}:confirmExit", {
          params: { path: { intervention_id: id, student_id: studentId } },
          body: { overrideReason: String(new FormData(ev.currentTarget as HTMLFormElement).get("overrideReason") ?? "") },
        }),
      );
      done();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <form onSubmit={submit}>
      <p>{d.exitRecommended ? "The exit criteria are met." : "The exit criteria are not met: confirming needs the team's reason."}</p>
      {!d.exitRecommended && (
        <Field label="Reason for exiting without a recommendation" name="overrideReason" error={error}>
          {(p) => <textarea {...p} rows={2} maxLength={1000} />}
        </Field>
      )}
      <ErrorBox error={error} />
      <button type="submit" class={d.exitRecommended ? "" : "secondary"} disabled={busy}>Confirm exit</button>
    </form>
  );
}

/** Withdrawal ends the enrollment on a date; attendance and progress recorded before stay. */
function Withdraw({ id, studentId, zone, done }: { id: string; studentId: string; zone: string; done: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: Event) {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    setBusy(true);
    setError(null);
    try {
      await call(
        api.POST("/v1/mtss/interventions/{intervention_id}/enrollments/{student_id}:withdraw", {
          params: { path: { intervention_id: id, student_id: studentId } },
          body: { effectiveDate: String(f.get("effectiveDate") ?? ""), reason: String(f.get("reason") ?? "") },
        }),
      );
      done();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <details>
      <summary>Withdraw from the program</summary>
      <form onSubmit={submit}>
        <div class="grid-2">
          <Field label="Last day" name="effectiveDate" error={error}>
            {(p) => <input {...p} type="date" defaultValue={todayIn(zone)} />}
          </Field>
          <Field label="Why" name="reason" error={error}>
            {(p) => <input {...p} maxLength={1000} />}
          </Field>
        </div>
        <ErrorBox error={error} />
        <button type="submit" class="secondary" disabled={busy}>Withdraw</button>
      </form>
    </details>
  );
}

const COMM_STATUS: Record<string, [string, string]> = {
  COMMUNICATION_STATUS_QUEUED: ["Queued", "warn"],
  COMMUNICATION_STATUS_SENT: ["Sent", "good"],
  COMMUNICATION_STATUS_FAILED: ["Failed", "bad"],
};
const TEMPLATES: Record<string, string> = {
  progress_summary: "Progress summary",
  attendance_concern: "Attendance concern",
  exit_notice: "Exit notice",
};

function Messages({ id, studentId }: { id: string; studentId: string }) {
  const log = useAsync(
    () => call(api.GET("/v1/mtss/students/{student_id}/communications", { params: { path: { student_id: studentId } } })),
    [studentId],
  );
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await call(
        api.POST("/v1/mtss/interventions/{intervention_id}/students/{student_id}:message", {
          params: { path: { intervention_id: id, student_id: studentId } },
          body: { template: String(new FormData(e.currentTarget as HTMLFormElement).get("template") ?? "") },
        }),
      );
      log.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <>
      <form onSubmit={submit} class="inline-form">
        <Field label="Message to the caregivers" name="template" error={error}>
          {(p) => (
            <select {...p}>
              {Object.entries(TEMPLATES).map(([k, v]) => <option key={k} value={k}>{v}</option>)}
            </select>
          )}
        </Field>
        <button type="submit" disabled={busy}>Send</button>
      </form>
      <ErrorBox error={error} />
      <div class="row">
        <button class="secondary outline" onClick={log.reload} disabled={log.loading}>Refresh delivery status</button>
      </div>
      <Show state={log} isEmpty={(l) => (l.communications ?? []).length === 0} empty="No messages sent yet.">
        {(l) => (
          <div class="table-scroll">
            <table class="striped">
              <caption class="visually-hidden">Caregiver messages</caption>
              <thead>
                <tr><th scope="col">Sent</th><th scope="col">Message</th><th scope="col">Status</th><th scope="col">Detail</th></tr>
              </thead>
              <tbody>
                {(l.communications ?? []).map((c) => {
                  const [word, tone] = COMM_STATUS[c.status ?? ""] ?? ["Unknown", ""];
                  return (
                    <tr key={c.id}>
                      <td>{when(c.createTime, Intl.DateTimeFormat().resolvedOptions().timeZone)}</td>
                      <td>{TEMPLATES[c.template ?? ""] ?? c.template}</td>
                      <td><span class={`badge ${tone}`}>{word}</span></td>
                      <td>{c.detail || "—"}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </Show>
    </>
  );
}

export default function Student({ id, studentId }: { id: string; studentId: string }) {
  const state = useAsync(async () => {
    const [intervention, dashboard, people] = await Promise.all([
      call(api.GET("/v1/mtss/interventions/{intervention_id}", { params: { path: { intervention_id: id } } })),
      call(
        api.GET("/v1/mtss/interventions/{intervention_id}/students/{student_id}/dashboard", {
          params: { path: { intervention_id: id, student_id: studentId } },
        }),
      ),
      users(),
    ]);
    return { intervention, dashboard, people };
  }, [id, studentId]);
  const name = state.data ? nameOf(state.data.people, studentId) : "Student";
  return (
    <Page title={`${name}: progress`}>
      <Show state={state}>
        {({ intervention, dashboard }) => (
          <>
            <p>
              <a href={`/mtss/programs/${id}`}>{intervention.name}</a> · {enrollmentText(dashboard.enrollment?.status)} since{" "}
              {dashboard.enrollment?.beginDate}
            </p>
            <section aria-labelledby="chart-h">
              <h2 id="chart-h">Progress monitoring</h2>
              <Chart i={intervention} d={dashboard} />
              <Verdict d={dashboard} />
            </section>
            <section aria-labelledby="notes-h">
              <h2 id="notes-h">Progress notes</h2>
              {(dashboard.history ?? []).length === 0 ? (
                <p class="empty">No progress recorded yet.</p>
              ) : (
                <ul class="notes">
                  {[...(dashboard.history ?? [])].reverse().map((h) => (
                    <li key={h.id}>
                      <strong>{h.date}</strong>
                      {h.score !== undefined && <> · score {h.score}</>}
                      {h.rating ? <> · rating {h.rating}/5</> : null}
                      {h.note && <> · {h.note}</>}
                    </li>
                  ))}
                </ul>
              )}
              {dashboard.enrollment?.status === "ENROLLMENT_STATUS_ACTIVE" && (
                <ProgressForm id={id} studentId={studentId} zone={zoneOf(intervention)} done={state.reload} />
              )}
            </section>
            <section aria-labelledby="exit-h">
              <h2 id="exit-h">Exit or withdrawal</h2>
              <Exit id={id} studentId={studentId} d={dashboard} done={state.reload} />
              {canManage() && dashboard.enrollment?.status === "ENROLLMENT_STATUS_ACTIVE" && (
                <Withdraw id={id} studentId={studentId} zone={zoneOf(intervention)} done={state.reload} />
              )}
            </section>
            {canManage() && (
              <section aria-labelledby="msg-h">
                <h2 id="msg-h">Caregiver messages</h2>
                <Messages id={id} studentId={studentId} />
              </section>
            )}
          </>
        )}
      </Show>
    </Page>
  );
}
