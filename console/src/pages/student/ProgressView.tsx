// A student's progress (GET /v1/students/{id}/progress): streak, mastery per topic, and their recent
// activity over time as charts. The student's own page and the teacher's student page both show it.
//
// The API keeps the current mastery per topic and the recent activity, not a mastery history, so the
// "over time" charts are drawn from the recent activity: graded scores per topic, and activity per day.
import { api, call } from "../../api/client";
import type { components } from "../../api/schema";
import { Show, useAsync } from "../../ui/async";
import { LineChart, type Series } from "../../ui/chart";
import { when } from "./verdict";
import { ScrollTable } from "./scroll";

type Progress = components["schemas"]["learnflow.progress.v1.StudentProgress"];
type Activity = components["schemas"]["learnflow.progress.v1.Activity"];

const LEVELS: Record<string, [string, string]> = {
  MASTERY_LEVEL_ATTEMPTED: ["Attempted", "bad"],
  MASTERY_LEVEL_FAMILIAR: ["Familiar", "warn"],
  MASTERY_LEVEL_PROFICIENT: ["Proficient", "good"],
  MASTERY_LEVEL_MASTERED: ["Mastered", "good"],
};

const KINDS: Record<string, string> = {
  ACTIVITY_KIND_EXERCISE_ATTEMPT: "Exercise attempt",
  ACTIVITY_KIND_QUIZ_SUBMISSION: "Quiz",
  ACTIVITY_KIND_CODE_RUN: "Code run",
  ACTIVITY_KIND_CODE_REVIEW: "Code review",
  ACTIVITY_KIND_HINT_REQUEST: "Hint",
  ACTIVITY_KIND_TIME_ON_TASK: "Time on task",
  ACTIVITY_KIND_CONTENT_VIEW: "Reading",
};

// Kinds whose score means something (0..1); a code run's score is always 0.
const GRADED = new Set(["ACTIVITY_KIND_EXERCISE_ATTEMPT", "ACTIVITY_KIND_QUIZ_SUBMISSION", "ACTIVITY_KIND_CODE_REVIEW"]);

const DAY = 86_400_000;
const day = (x: number) => new Date(x).toLocaleDateString();
const time = (x: number) => new Date(x).toLocaleString();

function scoreSeries(activity: Activity[]): Series[] {
  const byTopic = new Map<string, { x: number; y: number }[]>();
  for (const a of activity) {
    if (!GRADED.has(a.kind) || !a.occurTime) continue;
    const topic = a.topic || "other";
    byTopic.set(topic, [...(byTopic.get(topic) ?? []), { x: Date.parse(a.occurTime), y: Math.round((a.score ?? 0) * 100) }]);
  }
  return [...byTopic.entries()].map(([name, points]) => ({ name, points, kind: points.length > 1 ? "line" : "points" }));
}

function perDay(activity: Activity[]): Series[] {
  const counts = new Map<number, { all: number; errors: number }>();
  for (const a of activity) {
    if (!a.occurTime) continue;
    const d = Math.floor(Date.parse(a.occurTime) / DAY) * DAY;
    const c = counts.get(d) ?? { all: 0, errors: 0 };
    c.all += 1;
    if (a.kind === "ACTIVITY_KIND_CODE_RUN" && a.verdict && a.verdict !== "OK") c.errors += 1;
    counts.set(d, c);
  }
  const days = [...counts.keys()].sort((a, b) => a - b);
  const kind = days.length > 1 ? "line" : "points";
  return [
    { name: "Activities", points: days.map((d) => ({ x: d, y: counts.get(d)!.all })), kind },
    { name: "Runs that failed", points: days.map((d) => ({ x: d, y: counts.get(d)!.errors })), kind: days.length > 1 ? "dashed" : "points" },
  ];
}

function what(a: Activity): string {
  if (a.kind === "ACTIVITY_KIND_CODE_RUN") return a.exceptionType || a.verdict || "";
  if (GRADED.has(a.kind)) return `${Math.round((a.score ?? 0) * 100)} %`;
  if (a.durationSeconds) return `${Math.round(a.durationSeconds / 60)} min`;
  return "";
}

export function ProgressBody({ progress }: { progress: Progress }) {
  const topics = [...(progress.topics ?? [])].sort((a, b) => (b.score ?? 0) - (a.score ?? 0));
  const recent = progress.recentActivity ?? [];
  const streak = progress.streak ?? {};
  return (
    <>
      <div class="stats">
        <div class="stat">
          <strong>{streak.currentDays ?? 0}</strong> day streak
        </div>
        <div class="stat">
          <strong>{streak.longestDays ?? 0}</strong> longest streak
        </div>
        <div class="stat">
          <strong>{topics.filter((t) => t.level === "MASTERY_LEVEL_MASTERED").length}</strong> topics mastered
        </div>
        <div class="stat">
          <strong>{progress.openAlerts ?? 0}</strong> open alerts
        </div>
      </div>
      <p class="muted">Last active: {streak.lastActiveDate || "not yet"}</p>

      <h2>Mastery by topic</h2>
      {topics.length === 0 ? (
        <p class="empty">No topic practised yet: run some code or try an exercise.</p>
      ) : (
        <ScrollTable label="Mastery by topic">
          <table class="striped">
            <caption class="visually-hidden">Mastery by topic</caption>
            <thead>
              <tr>
                <th scope="col">Topic</th>
                <th scope="col">Level</th>
                <th scope="col">Mastery</th>
                <th scope="col">Attempts</th>
                <th scope="col">Updated</th>
              </tr>
            </thead>
            <tbody>
              {topics.map((t) => {
                const [word, tone] = LEVELS[t.level ?? ""] ?? ["Not started", ""];
                const pct = Math.round((t.score ?? 0) * 100);
                return (
                  <tr key={t.topic}>
                    <th scope="row">{t.topic}</th>
                    <td><span class={`badge ${tone}`}>{word}</span></td>
                    <td>
                      <progress class="mastery-bar" value={pct} max={100} aria-label={`${t.topic} mastery`} /> {pct} %
                    </td>
                    <td>{t.attempts ?? 0}</td>
                    <td>{when(t.updateTime)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </ScrollTable>
      )}

      <h2>Over time</h2>
      <LineChart title="Scores of graded work over time, by topic" series={scoreSeries(recent)} xFormat={time} yLabel="score, %" />
      <LineChart title="Activity per day" series={perDay(recent)} xFormat={day} yLabel="count" height={180} />

      <h2>Recent activity</h2>
      {recent.length === 0 ? (
        <p class="empty">No activity yet.</p>
      ) : (
        <ScrollTable label="Recent activity">
          <table class="striped">
            <caption class="visually-hidden">Recent activity</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">What</th>
                <th scope="col">Topic</th>
                <th scope="col">Result</th>
              </tr>
            </thead>
            <tbody>
              {recent.map((a) => (
                <tr key={a.id}>
                  <td>{when(a.occurTime)}</td>
                  <td>{KINDS[a.kind] ?? a.kind}</td>
                  <td>{a.topic || "—"}</td>
                  <td>{what(a)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </ScrollTable>
      )}
    </>
  );
}

/** Loads and shows a student's progress; `studentId` "me" is the signed-in student. */
export function ProgressView({ studentId }: { studentId: string }) {
  const state = useAsync(
    () => call(api.GET("/v1/students/{student_id}/progress", { params: { path: { student_id: studentId } } })),
    [studentId],
  );
  return <Show state={state}>{(p) => <ProgressBody progress={p} />}</Show>;
}
