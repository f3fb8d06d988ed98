// What a sandbox run gave: the verdict, the output, and for an error its type, message and line, with
// a button that takes the cursor to that line (the editor marks it too).
import type { components } from "../../api/schema";
import { verdictTone, verdictWords } from "./verdict";

export type Execution = components["schemas"]["learnflow.sandbox.v1.Execution"];

export function RunOutput({ run, onGoToLine }: { run: Execution; onGoToLine?: (line: number) => void }) {
  const d = run.diagnosis;
  const line = d?.line ?? 0;
  return (
    <section class="output" aria-label="Run result">
      <p>
        Verdict: <span class={`badge ${verdictTone(run.verdict)}`} data-verdict={run.verdict}>{verdictWords(run.verdict)}</span>{" "}
        <small class="muted">
          {run.durationMs ?? 0} ms · exit code {run.exitCode ?? 0}
        </small>
      </p>
      {d?.exceptionType && (
        <div class="diagnosis" role="alert">
          <strong>
            {d.exceptionType}
            {line > 0 && ` on line ${line}`}
          </strong>
          {d.message && <>: {d.message}</>}
          {d.sourceLine && (
            <pre>
              <code>{d.sourceLine}</code>
            </pre>
          )}
          {line > 0 && onGoToLine && (
            <button type="button" class="secondary" onClick={() => onGoToLine(line)}>
              Go to line {line}
            </button>
          )}
        </div>
      )}
      {run.stdout ? (
        <>
          <h2>Output</h2>
          <pre data-testid="stdout">{run.stdout}{run.stdoutTruncated && "\n… (cut at the output limit)"}</pre>
        </>
      ) : (
        <p class="empty">The program printed nothing.</p>
      )}
      {run.stderr && (
        <details open={!d?.exceptionType}>
          <summary>Error output</summary>
          <pre class="error-text">{run.stderr}{run.stderrTruncated && "\n… (cut at the output limit)"}</pre>
        </details>
      )}
    </section>
  );
}
