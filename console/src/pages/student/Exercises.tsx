// Practice exercises: ask tutoring for one on a topic and difficulty (POST /v1/exerciseRequests answers
// with the request as a conversation message at once; the exercise comes as the tutor's reply on the
// conversation's stream, once its reference solution has passed its own cases in the sandbox), write a
// solution in the editor,
// try it (POST /v1/executions with the exercise id) and submit it for grading
// (POST /v1/exercises/{id}:grade): the score and each test case's result. Hidden cases count but their
// content never reaches the student.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, call } from "../../api/client";
import type { components } from "../../api/schema";
import { streamEvents } from "../../api/sse";
import { ErrorBox, Show, useAsync } from "../../ui/async";
import { Field } from "../../ui/form";
import { Page } from "../../ui/page";
import { CodeEditor, type EditorControl, type LineMark } from "./CodeEditor";
import { RunOutput, type Execution } from "./RunOutput";
import { verdictTone, verdictWords } from "./verdict";
import "./learn.css";
import { ScrollTable } from "./scroll";

type Generated = components["schemas"]["learnflow.tutoring.v1.GeneratedExercise"];
type Difficulty = components["schemas"]["learnflow.tutoring.v1.Difficulty"];
type Grade = components["schemas"]["learnflow.sandbox.v1.GradeSubmissionResponse"];
type Message = components["schemas"]["learnflow.tutoring.v1.ChatMessage"];

// How long to wait for the tutor's exercise before saying so (generation includes sandbox runs).
const WAIT_SECONDS = 60;

/** The tutor's reply to a message: the first tutor message after it on the conversation's stream. */
async function tutorReply(sent: Message, signal: AbortSignal): Promise<Message> {
  const path = `/v1/conversations/${encodeURIComponent(sent.conversationId ?? "")}:stream?maxWaitSeconds=${WAIT_SECONDS}&afterSequence=${sent.sequence ?? "0"}`;
  for await (const m of streamEvents<Message>(path, signal)) {
    if (m.author === "AUTHOR_TUTOR") return m;
  }
  throw new Error(`The tutor did not answer within ${WAIT_SECONDS} s; try again.`);
}

// The topics tutoring's exercise templates cover (RequestExerciseRequest.topic).
const TOPICS = ["loops", "strings", "lists", "functions", "dicts", "conditionals"];
const DIFFICULTIES: [Difficulty, string][] = [
  ["DIFFICULTY_EASY", "Easy"],
  ["DIFFICULTY_MEDIUM", "Medium"],
  ["DIFFICULTY_HARD", "Hard"],
];

function GradeView({ grade }: { grade: Grade }) {
  const all = (grade.passed ?? 0) === (grade.total ?? 0) && (grade.total ?? 0) > 0;
  return (
    <section aria-label="Grading result">
      <h2>
        Score: <span class={`badge ${all ? "good" : "bad"}`}>{grade.passed ?? 0} / {grade.total ?? 0} passed</span>{" "}
        <small class="muted">({Math.round((grade.score ?? 0) * 100)} %)</small>
      </h2>
      <ScrollTable label="Test cases">
        <table class="striped">
          <caption class="visually-hidden">Test cases</caption>
          <thead>
            <tr>
              <th scope="col">Test case</th>
              <th scope="col">Result</th>
              <th scope="col">Verdict</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {(grade.cases ?? []).map((c, i) => (
              <tr key={`${c.name}-${i}`}>
                <td>{c.hidden ? <em>Hidden case</em> : c.name}</td>
                <td>
                  <span class={`badge ${c.passed ? "good" : "bad"}`}>{c.passed ? "Passed" : "Failed"}</span>
                </td>
                <td>{verdictWords(c.verdict)}</td>
                <td class="break">
                  {c.firstDifference ? <code>{c.firstDifference}</code> : c.hidden && !c.passed ? "Hidden: no details" : ""}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </ScrollTable>
    </section>
  );
}

function Attempt({ exercise }: { exercise: Generated }) {
  const editor = useRef<EditorControl | null>(null);
  const [run, setRun] = useState<Execution | null>(null);
  const [grade, setGrade] = useState<Grade | null>(null);
  const [mark, setMark] = useState<LineMark | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState<"" | "run" | "grade">("");
  const id = exercise.exerciseId ?? "";
  // The visible test cases, so the student knows what is expected (students never get hidden ones).
  const detail = useAsync(
    () => call(api.GET("/v1/exercises/{exercise_id}", { params: { path: { exercise_id: id } } })),
    [id],
  );

  async function tryIt() {
    setBusy("run");
    setError(null);
    try {
      const r = await call(api.POST("/v1/executions", { body: { code: editor.current?.code() ?? "", exerciseId: id } }));
      setRun(r);
      setMark({ line: r.verdict === "VERDICT_OK" ? 0 : (r.diagnosis?.line ?? 0) });
    } catch (err) {
      setError(err);
    } finally {
      setBusy("");
    }
  }

  async function submit() {
    setBusy("grade");
    setError(null);
    try {
      setGrade(
        await call(
          api.POST("/v1/exercises/{exercise_id}:grade", {
            params: { path: { exercise_id: id } },
            body: { code: editor.current?.code() ?? "" },
          }),
        ),
      );
    } catch (err) {
      setError(err);
    } finally {
      setBusy("");
    }
  }

  return (
    <article aria-labelledby="exercise-title">
      <header>
        <h2 id="exercise-title">{exercise.title}</h2>
        <small class="muted">
          {exercise.topic} · {DIFFICULTIES.find(([d]) => d === exercise.difficulty)?.[1] ?? "Easy"} · variation{" "}
          {exercise.variation ?? 0} · {exercise.visibleCases ?? 0} visible and {exercise.hiddenCases ?? 0} hidden test cases
        </small>
      </header>
      <p class="pre">{exercise.prompt}</p>
      <Show state={detail}>
        {(ex) =>
          (ex.testCases ?? []).length > 0 && (
            <details>
              <summary>Visible test cases</summary>
              <ul>
                {(ex.testCases ?? []).map((t) => (
                  <li key={t.name}>
                    <strong>{t.name}</strong>
                    {t.stdin && <> · input <code>{t.stdin}</code></>}
                    {t.expectedStdout && <> · expected output <code>{t.expectedStdout}</code></>}
                    {t.code && <pre><code>{t.code}</code></pre>}
                  </li>
                ))}
              </ul>
            </details>
          )
        }
      </Show>
      <CodeEditor label="Your solution" initial={exercise.starterCode ?? ""} mark={mark} onRun={() => void tryIt()} control={editor} error={error} />
      <div class="run-bar">
        <button type="button" class="secondary" disabled={!!busy} aria-busy={busy === "run" ? "true" : undefined} onClick={() => void tryIt()}>
          Run
        </button>
        <button type="button" disabled={!!busy} aria-busy={busy === "grade" ? "true" : undefined} onClick={() => void submit()}>
          Submit for grading
        </button>
      </div>
      <ErrorBox error={error} />
      <div aria-live="polite">
        {grade && <GradeView grade={grade} />}
        {run && !grade && <RunOutput run={run} onGoToLine={(n) => editor.current?.goToLine(n)} />}
        {run && grade && (
          <details>
            <summary>
              Last run: <span class={`badge ${verdictTone(run.verdict)}`}>{verdictWords(run.verdict)}</span>
            </summary>
            <RunOutput run={run} onGoToLine={(n) => editor.current?.goToLine(n)} />
          </details>
        )}
      </div>
    </article>
  );
}

export default function Exercises() {
  const [exercise, setExercise] = useState<Generated | null>(null);
  const [topic, setTopic] = useState(TOPICS[0]);
  const [difficulty, setDifficulty] = useState<Difficulty>("DIFFICULTY_EASY");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const waiting = useRef<AbortController | null>(null);
  useEffect(() => () => waiting.current?.abort(), []); // leaving the page stops waiting

  async function request(variation: number) {
    setBusy(true);
    setError(null);
    waiting.current?.abort();
    const ctl = new AbortController();
    waiting.current = ctl;
    try {
      const sent = await call(api.POST("/v1/exerciseRequests", { body: { topic, difficulty, variation } }));
      const reply = await tutorReply(sent, ctl.signal);
      // No exercise (none could be validated, say): the tutor's words say why.
      if (!reply.exercise?.exerciseId) throw new Error(reply.text || "The tutor answered without an exercise; try another topic.");
      setExercise(reply.exercise);
    } catch (err) {
      if (!ctl.signal.aborted) setError(err);
    } finally {
      if (waiting.current === ctl) setBusy(false);
    }
  }

  return (
    <Page title="Exercises">
      <form onSubmit={(e) => { e.preventDefault(); void request(0); }}>
        <div class="filters">
          <Field label="Topic" name="topic" error={error}>
            {(p) => (
              <select {...p} value={topic} onChange={(e) => setTopic(e.currentTarget.value)}>
                {TOPICS.map((t) => <option key={t} value={t}>{t}</option>)}
              </select>
            )}
          </Field>
          <Field label="Difficulty" name="difficulty" error={error}>
            {(p) => (
              <select {...p} value={difficulty} onChange={(e) => setDifficulty(e.currentTarget.value as Difficulty)}>
                {DIFFICULTIES.map(([d, w]) => <option key={d} value={d}>{w}</option>)}
              </select>
            )}
          </Field>
        </div>
        <div class="run-bar">
          <button type="submit" disabled={busy} aria-busy={busy ? "true" : undefined}>
            Get an exercise
          </button>
          {exercise && (
            <button type="button" class="secondary" disabled={busy} onClick={() => void request((exercise.variation ?? 0) + 1)}>
              A similar one
            </button>
          )}
        </div>
      </form>
      <ErrorBox error={error} />
      {exercise ? (
        <Attempt key={exercise.exerciseId} exercise={exercise} />
      ) : (
        <p class={busy ? "muted" : "empty"} aria-busy={busy ? "true" : undefined}>
          {busy ? "The tutor is preparing an exercise and checking it in the sandbox…" : "Pick a topic and a difficulty to get an exercise."}
        </p>
      )}
    </Page>
  );
}
