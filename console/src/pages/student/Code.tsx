// The code editor page: write Python, run it in the sandbox (POST /v1/executions), see its output and
// verdict; an error marks its line in the editor. Runs count in the student's progress (the sandbox
// publishes sandbox.executed), so repeated errors are what a teacher's struggle alert is made of.
import { useRef, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { api, call } from "../../api/client";
import { ErrorBox } from "../../ui/async";
import { Field } from "../../ui/form";
import { Page } from "../../ui/page";
import { CodeEditor, type EditorControl, type LineMark } from "./CodeEditor";
import { leaveAskDraft, saveCode, savedCode } from "./drafts";
import { RunOutput, type Execution } from "./RunOutput";
import "./learn.css";

const SAMPLE = 'name = "LearnFlow"\nprint(f"Hello, {name}!")\n';

export default function Code() {
  const { route } = useLocation();
  const [initial] = useState(() => savedCode() ?? SAMPLE);
  const editor = useRef<EditorControl | null>(null);
  const [stdin, setStdin] = useState("");
  const [run, setRun] = useState<Execution | null>(null);
  const [mark, setMark] = useState<LineMark | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function execute() {
    const code = editor.current?.code() ?? "";
    if (busy) return;
    saveCode(code); // kept for the tab: going to the tutor and back does not lose it
    setBusy(true);
    setError(null);
    try {
      const result = await call(api.POST("/v1/executions", { body: { code, stdin } }));
      setRun(result);
      setMark({ line: result.verdict === "VERDICT_OK" ? 0 : (result.diagnosis?.line ?? 0) });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  // The failed run goes to the tutor with its code and error, so the student only says what puzzles them.
  function askAbout(r: Execution) {
    const d = r.diagnosis;
    const where = d?.line ? ` on line ${d.line}` : "";
    leaveAskDraft({
      text: d?.exceptionType ? `Why do I get ${d.exceptionType}${where}?` : "Why does my code not work?",
      code: editor.current?.code() ?? "",
      error: r.stderr || [d?.exceptionType, d?.message].filter(Boolean).join(": "),
    });
    route("/learn/ask");
  }

  return (
    <Page title="Code editor">
      <form onSubmit={(e) => { e.preventDefault(); void execute(); }}>
        <CodeEditor label="Code" initial={initial} mark={mark} onRun={() => void execute()} control={editor} error={error} />
        <details>
          <summary>Input for the program (stdin)</summary>
          <Field label="Input" name="stdin" error={error}>
            {(p) => <textarea {...p} rows={3} class="mono" value={stdin} onInput={(e) => setStdin(e.currentTarget.value)} />}
          </Field>
        </details>
        <div class="run-bar">
          <button type="submit" disabled={busy} aria-busy={busy ? "true" : undefined}>
            Run
          </button>
          <a href="/learn/ask">Stuck? Ask the tutor</a>
        </div>
      </form>
      <ErrorBox error={error} />
      <div aria-live="polite">
        {run && <RunOutput run={run} onGoToLine={(n) => editor.current?.goToLine(n)} />}
        {run && run.verdict !== "VERDICT_OK" && (
          <button type="button" class="secondary outline" onClick={() => askAbout(run)}>
            Ask the tutor about this error
          </button>
        )}
      </div>
    </Page>
  );
}
