// One workflow run, live: GET /v1/workflows/runs/{id} first, then GET …:watch (server-sent events: the
// run again each time a step changes, until it ends or max_wait_seconds pass; a stream that ends while
// the run is still going is opened again). Each step shows its status, attempts, timings, error and
// output; a Notion step's page id and link are shown as such. Cancel asks a running run to stop.
import { useEffect, useState } from "preact/hooks";
import { api, call } from "../../api/client";
import { streamEvents } from "../../api/sse";
import { ErrorBox, Loading } from "../../ui/async";
import { Page } from "../../ui/page";
import { Badge, Facts, duration, runEnded, runWord, stepWord, temporalUrl, when, type Run as RunT, type StepRun } from "./common";

function StepOutput({ step }: { step: StepRun }) {
  const out = (step.output ?? {}) as Record<string, unknown>;
  if (Object.keys(out).length === 0) return null;
  const pageId = typeof out.page_id === "string" ? out.page_id : "";
  const url = typeof out.url === "string" ? out.url : "";
  return (
    <>
      {(pageId || url) && (
        <p class="notion">
          Notion page <code data-testid="notion-page-id">{pageId}</code>
          {url && (
            <>
              {" "}· <a href={url} target="_blank" rel="noopener">open the page</a>
            </>
          )}
        </p>
      )}
      <details>
        <summary>Output of {step.id}</summary>
        <pre class="output"><code>{JSON.stringify(out, null, 2)}</code></pre>
      </details>
    </>
  );
}

export default function Run({ runId }: { runId: string }) {
  const [run, setRun] = useState<RunT | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const ctl = new AbortController();
    (async () => {
      try {
        let current = await call(api.GET("/v1/workflows/runs/{run_id}", { params: { path: { run_id: runId } } }));
        setRun(current);
        // The watch ends after max_wait_seconds; open it again until the run has ended.
        while (!ctl.signal.aborted && !runEnded(current.status)) {
          let seen = 0;
          for await (const r of streamEvents<RunT>(`/v1/workflows/runs/${encodeURIComponent(runId)}:watch?maxWaitSeconds=300`, ctl.signal)) {
            current = r;
            seen++;
            setRun(r);
          }
          // A stream that closed at once (a proxy, a restart) is not retried in a tight loop.
          if (seen === 0) await new Promise((ok) => setTimeout(ok, 2000));
        }
      } catch (err) {
        if (!ctl.signal.aborted) setError(err);
      }
    })();
    return () => ctl.abort();
  }, [runId]);

  async function cancel() {
    if (!confirm("Stop this run? Its unfinished steps end cancelled.")) return;
    setBusy(true);
    setError(null);
    try {
      setRun(await call(api.POST("/v1/workflows/runs/{run_id}:cancel", { params: { path: { run_id: runId } }, body: {} })));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  const live = run && !runEnded(run.status);
  return (
    <Page
      title={run ? `Run of ${run.template}` : "Workflow run"}
      actions={live && <button class="secondary" onClick={() => void cancel()} disabled={busy} aria-busy={busy ? "true" : undefined}>Cancel the run</button>}
    >
      <ErrorBox error={error} />
      {!run && !error && <Loading what="Loading the run" />}
      {run && (
        <>
          <Facts
            items={[
              ["Status", <span data-testid="run-status"><Badge word={runWord(run.status)} />{live && <small class="muted"> (watching live)</small>}</span>],
              ["Run id", <code>{run.runId}</code>],
              ["Template version", run.templateVersion],
              ["Started", when(run.createTime)],
              ["Finished", run.finishTime ? `${when(run.finishTime)} (${duration(run.createTime, run.finishTime)})` : "—"],
              ["Started by", <code>{run.createdBy}</code>],
              ["Input", Object.entries(run.input ?? {}).map(([k, v]) => `${k}: ${v}`).join("; ")],
              ["Correlation id", <code>{run.correlationId}</code>],
            ]}
          />
          {run.error && <p class="error-box" role="alert">{run.error}</p>}
          <p class="links">
            <a href={temporalUrl(run.runId)} target="_blank" rel="noopener">This run in the Temporal UI</a>
            <a href="/ops/workflows">All runs</a>
          </p>
          <h2>Steps</h2>
          <ol class="steps" aria-live="polite">
            {(run.steps ?? []).map((s) => (
              <li key={s.id} class={`step-${stepWord(s.status)}`} data-testid={`step-${s.id}`}>
                <div class="step-head">
                  <strong>{s.id}</strong> <small class="muted">{s.type}</small> <Badge word={stepWord(s.status)} />
                  <small class="muted">
                    {s.attempts ? `${s.attempts} attempt${s.attempts > 1 ? "s" : ""} · ` : ""}
                    {s.startTime ? duration(s.startTime, s.finishTime) : "not started"}
                  </small>
                </div>
                {s.error && <p class="error-text pre">{s.error}</p>}
                <StepOutput step={s} />
              </li>
            ))}
          </ol>
        </>
      )}
    </Page>
  );
}
