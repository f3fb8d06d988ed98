// One program: what it is (GetIntervention), how the group is doing (the intervention dashboard:
// attendance, dosage, each student's trend, projection and recommendation), its next session to take
// attendance at, and enrollment by hand or from a risk list (a dry run first shows who would be
// enrolled and why not, nothing stored; then the real run enrolls the eligible ones).
import { useState } from "preact/hooks";
import { api, call } from "../../api/client";
import { ErrorBox, Show, useAsync } from "../../ui/async";
import { Field } from "../../ui/form";
import { Page } from "../../ui/page";
import {
  canManage,
  nameOf,
  pct,
  studentsOf,
  todayIn,
  users,
  when,
  zoneOf,
  type Candidate,
  type Intervention,
  type Session,
  type StudentRow,
  type User,
} from "./lib";
import "./mtss.css";

const RECOMMENDATION: Record<string, string> = {
  insufficient_data: "Not enough scores yet",
  continue: "Continue",
  change_instruction: "Change instruction",
  raise_goal: "Raise the goal",
  check_fidelity: "Check fidelity (dosage below plan)",
};
export const recommendationText = (r: string | undefined) => RECOMMENDATION[r ?? ""] ?? (r || "—");

const STATUS: Record<string, string> = {
  ENROLLMENT_STATUS_ACTIVE: "Active",
  ENROLLMENT_STATUS_WITHDRAWN: "Withdrawn",
  ENROLLMENT_STATUS_EXITED: "Exited",
};
export const enrollmentText = (s: string | undefined) => STATUS[s ?? ""] ?? "—";

/** Today's session if there is one, else the next scheduled one (in the school's zone). */
export function nextSession(sessions: Session[], zone: string): Session | undefined {
  const today = todayIn(zone);
  return sessions
    .filter((s) => s.status === "SESSION_STATUS_SCHEDULED" && (s.localDate ?? "") >= today)
    .sort((a, b) => (a.startTime ?? "").localeCompare(b.startTime ?? ""))[0];
}

function Summary({ i, people }: { i: Intervention; people: Map<string, User> }) {
  const zone = zoneOf(i);
  return (
    <dl class="facts">
      <dt>Code</dt><dd><code>{i.code}</code></dd>
      <dt>Template</dt><dd>{i.templateKey} v{i.templateVersion} · {i.interventionClass} · {i.deliveryMethod}</dd>
      <dt>Objectives</dt><dd>{(i.objectives ?? []).join("; ") || "—"}</dd>
      {i.targetPopulation && <><dt>For</dt><dd>{i.targetPopulation}</dd></>}
      <dt>Owner</dt><dd>{nameOf(people, i.ownerId)}</dd>
      <dt>Facilitators</dt><dd>{(i.facilitatorIds ?? []).map((f) => nameOf(people, f)).join(", ") || "—"}</dd>
      <dt>Room</dt><dd>{i.room || "—"}</dd>
      <dt>Runs</dt><dd>{i.beginDate} to {i.endDate} · {i.schedule?.rrule} at {i.schedule?.startTime} ({zone}) · {i.sessionCount} sessions</dd>
      <dt>Dosage</dt><dd>{i.minutesPerWeek} minutes a week</dd>
      <dt>Goal</dt>
      <dd>
        {i.goal?.measure}: from {i.goal?.baseline ?? 0} to {i.goal?.target ?? 0} by {i.goal?.goalDate}
      </dd>
    </dl>
  );
}

function Students({ id, rows, people }: { id: string; rows: StudentRow[]; people: Map<string, User> }) {
  if (rows.length === 0) return <p class="empty">No students enrolled yet.</p>;
  return (
    <div class="table-scroll">
      <table class="striped">
        <caption class="visually-hidden">Students in this program</caption>
        <thead>
          <tr>
            <th scope="col">Student</th>
            <th scope="col">Status</th>
            <th scope="col">Attendance</th>
            <th scope="col">Minutes</th>
            <th scope="col">Last score</th>
            <th scope="col">Slope / week</th>
            <th scope="col">Projected</th>
            <th scope="col">Recommendation</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.studentId}>
              <td><a href={`/mtss/programs/${id}/students/${r.studentId}`}>{nameOf(people, r.studentId)}</a></td>
              <td>{enrollmentText(r.status)}</td>
              <td>{pct(r.attendanceRate)}</td>
              <td>{r.deliveredMinutes ?? 0}</td>
              <td>{r.lastScore ?? "—"}</td>
              <td>{r.olsSlope === undefined ? "—" : r.olsSlope.toFixed(2)}</td>
              <td>{r.projected === undefined ? "—" : r.projected.toFixed(1)}</td>
              <td>
                {recommendationText(r.recommendation)}
                {r.exitRecommended && <> <span class="badge good">Exit recommended</span></>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function EnrollByHand({ id, people, enrolled, done }: { id: string; people: Map<string, User>; enrolled: Set<string>; done: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState("");
  const candidates = studentsOf(people).filter((u) => !enrolled.has(u.id ?? ""));

  async function submit(e: Event) {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const f = new FormData(form);
    setBusy(true);
    setError(null);
    setMessage("");
    try {
      const made = await call(
        api.POST("/v1/mtss/interventions/{intervention_id}/enrollments", {
          params: { path: { intervention_id: id } },
          body: {
            studentIds: f.getAll("studentIds").map(String),
            reason: String(f.get("reason") ?? ""),
            beginDate: String(f.get("beginDate") ?? ""),
          },
        }),
      );
      const n = made.enrollments?.length ?? 0;
      setMessage(`${n} student${n === 1 ? "" : "s"} enrolled.`);
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
      <fieldset>
        <legend>Students to enroll</legend>
        {candidates.length === 0 && <p class="empty">Every student of the school is already in this program.</p>}
        <div class="checks">
          {candidates.map((u) => (
            <label key={u.id}>
              <input type="checkbox" name="studentIds" value={u.id} /> {u.displayName || u.email}
            </label>
          ))}
        </div>
      </fieldset>
      <div class="grid-2">
        <Field label="Reason" name="reason" error={error}>
          {(p) => <input {...p} maxLength={1000} placeholder="Below benchmark on the autumn screener" />}
        </Field>
        <Field label="Begins (empty: today)" name="beginDate" error={error}>
          {(p) => <input {...p} type="date" />}
        </Field>
      </div>
      <ErrorBox error={error} />
      {message && <p role="status">{message}</p>}
      <button type="submit" disabled={busy || candidates.length === 0} aria-busy={busy ? "true" : undefined}>Enroll</button>
    </form>
  );
}

function EnrollFromRiskList({ id, people, done }: { id: string; people: Map<string, User>; done: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [preview, setPreview] = useState<{ csv: string; minRisk: number; candidates: Candidate[] } | null>(null);
  const [message, setMessage] = useState("");

  async function run(csv: string, minRisk: number, dryRun: boolean) {
    setBusy(true);
    setError(null);
    setMessage("");
    try {
      const r = await call(
        api.POST("/v1/mtss/interventions/{intervention_id}:enrollFromRiskList", {
          params: { path: { intervention_id: id } },
          body: { csv, minRisk, dryRun },
        }),
      );
      if (dryRun) setPreview({ csv, minRisk, candidates: r.candidates ?? [] });
      else {
        const n = r.enrollments?.length ?? 0;
        setMessage(`${n} student${n === 1 ? "" : "s"} enrolled from the risk list.`);
        setPreview(null);
        done();
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  function submit(e: Event) {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    void run(String(f.get("csv") ?? ""), Number(f.get("minRisk") ?? 0), true);
  }

  const eligible = preview?.candidates.filter((c) => c.eligible).length ?? 0;
  return (
    <>
      <form onSubmit={submit}>
        <Field label="Risk list (CSV: student_id,risk[,reason])" name="csv" error={error}>
          {(p) => <textarea {...p} rows={4} class="mono" spellcheck={false} placeholder={"student_id,risk,reason\n…,0.8,below benchmark"} />}
        </Field>
        <Field label="Enroll from risk" name="minRisk" error={error} hint="0 to 1">
          {(p) => <input {...p} type="number" min={0} max={1} step="0.05" defaultValue="0.5" />}
        </Field>
        <ErrorBox error={error} />
        <button type="submit" class="secondary" disabled={busy}>Preview (nothing is stored)</button>
      </form>
      {message && <p role="status">{message}</p>}
      {preview && (
        <section aria-label="Risk list preview">
          <div class="table-scroll">
            <table class="striped">
              <caption>Who the risk list would enroll</caption>
              <thead>
                <tr><th scope="col">Student</th><th scope="col">Enrolled?</th><th scope="col">Why</th></tr>
              </thead>
              <tbody>
                {preview.candidates.map((c) => (
                  <tr key={c.studentId}>
                    <td>{nameOf(people, c.studentId)}</td>
                    <td>{c.eligible ? <span class="badge good">Will be enrolled</span> : <span class="badge">Not enrolled</span>}</td>
                    <td>{c.reason}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <button disabled={busy || eligible === 0} onClick={() => void run(preview.csv, preview.minRisk, false)}>
            Enroll {eligible} eligible student{eligible === 1 ? "" : "s"}
          </button>
        </section>
      )}
    </>
  );
}

function Enroll({ id, people, enrolled, done }: { id: string; people: Map<string, User>; enrolled: Set<string>; done: () => void }) {
  // "By hand" starts open for an empty program, and stays as the user leaves it: it must not fold
  // away (hiding its "enrolled" message) when the first enrollment reloads the page's data.
  const [open] = useState(enrolled.size === 0);
  return (
    <section aria-labelledby="enroll-h">
      <h2 id="enroll-h">Enroll students</h2>
      <details open={open}>
        <summary>By hand</summary>
        <EnrollByHand id={id} people={people} enrolled={enrolled} done={done} />
      </details>
      <details>
        <summary>From a risk list</summary>
        <EnrollFromRiskList id={id} people={people} done={done} />
      </details>
    </section>
  );
}

export default function Program({ id }: { id: string }) {
  const state = useAsync(async () => {
    const [intervention, dashboard, sessions, people] = await Promise.all([
      call(api.GET("/v1/mtss/interventions/{intervention_id}", { params: { path: { intervention_id: id } } })),
      call(api.GET("/v1/mtss/interventions/{intervention_id}/dashboard", { params: { path: { intervention_id: id } } })),
      call(api.GET("/v1/mtss/interventions/{intervention_id}/sessions", { params: { path: { intervention_id: id } } })),
      users(),
    ]);
    return { intervention, dashboard, sessions: sessions.sessions ?? [], people };
  }, [id]);

  const title = state.data?.intervention.name || "Program";
  return (
    <Page title={title}>
      <Show state={state}>
        {({ intervention, dashboard, sessions, people }) => {
          const zone = zoneOf(intervention);
          const next = nextSession(sessions, zone);
          const enrolled = new Set((dashboard.students ?? []).map((s) => s.studentId ?? ""));
          return (
            <>
              <nav aria-label="This program" class="subnav">
                <a role="button" href={`/mtss/programs/${id}/calendar`} class="secondary">Calendar</a>
                {next ? (
                  <a role="button" href={`/mtss/programs/${id}/sessions/${next.id}/attendance`}>
                    Take attendance: {when(next.startTime, zone)}
                  </a>
                ) : (
                  <span class="muted">No upcoming session.</span>
                )}
              </nav>
              <Summary i={intervention} people={people} />
              <section aria-labelledby="group-h">
                <h2 id="group-h">The group</h2>
                <p>
                  Attendance {pct(dashboard.attendanceRate)} · {dashboard.sessionsHeld ?? 0} sessions held,{" "}
                  {dashboard.sessionsUpcoming ?? 0} to come · {dashboard.deliveredMinutes ?? 0} minutes delivered
                  (planned {dashboard.plannedMinutesPerStudent ?? 0} a student)
                </p>
                <Students id={id} rows={dashboard.students ?? []} people={people} />
              </section>
              {canManage() && <Enroll id={id} people={people} enrolled={enrolled} done={state.reload} />}
            </>
          );
        }}
      </Show>
    </Page>
  );
}
