// Dead letters (events a consumer gave up on) and dead jobs (durable jobs that will not run again), per
// context, with redrive: POST /v1/ops/deadLetters/{id}:redrive publishes the event again for that
// consumer only; POST /v1/ops/deadJobs/{id}:redrive queues the job again with fresh attempts.
// A redrive is confirmed first (it makes the work happen again) and its result is said in words.
import { useState } from "preact/hooks";
import { api, call } from "../../api/client";
import type { components } from "../../api/schema";
import { ErrorBox, useAsync } from "../../ui/async";
import { Paged } from "../../ui/paged";
import { Page } from "../../ui/page";
import { Badge, enumWord, when } from "./common";

type DeadLetter = components["schemas"]["learnflow.ops.v1.DeadLetter"];
type Job = components["schemas"]["learnflow.ops.v1.Job"];

/** The contexts to filter by: the ones the capability registry lists as live (an unknown name would
 * be refused by the API anyway). */
function ContextFilter({ value, onChange, id, contexts }: { value: string; onChange: (v: string) => void; id: string; contexts: string[] }) {
  return (
    <div class="ops-filters">
      <div>
        <label for={id}>Context</label>
        <select id={id} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
          <option value="">All contexts</option>
          {contexts.map((c) => <option key={c} value={c}>{c}</option>)}
        </select>
      </div>
    </div>
  );
}

export default function DeadLetters() {
  const [letterContext, setLetterContext] = useState("");
  const [jobContext, setJobContext] = useState("");
  // Bumped after a redrive so the list reloads without the redriven row.
  const [version, setVersion] = useState(0);
  const [notice, setNotice] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState("");
  const registry = useAsync(() => call(api.GET("/v1/capabilities")), []);
  const contexts = [...new Set((registry.data?.capabilities ?? []).map((c) => c.context ?? ""))].filter(Boolean).sort();

  async function redrive(kind: "letter" | "job", id: string, context?: string) {
    if (!confirm(kind === "letter" ? "Publish this event again for its consumer?" : "Queue this job again with fresh attempts?")) return;
    setBusy(id);
    setError(null);
    setNotice("");
    try {
      if (kind === "letter") {
        const r = await call(api.POST("/v1/ops/deadLetters/{id}:redrive", { params: { path: { id } }, body: { context } }));
        setNotice(`Event ${r.eventId} published again for ${r.consumer}.`);
      } else {
        const r = await call(api.POST("/v1/ops/deadJobs/{id}:redrive", { params: { path: { id } }, body: { context } }));
        setNotice(`Job ${r.job?.id} is ${enumWord(r.job?.state, "JOB_STATE_")}, due ${when(r.job?.runTime)}.`);
      }
      setVersion((v) => v + 1);
    } catch (err) {
      setError(err);
    } finally {
      setBusy("");
    }
  }

  return (
    <Page title="Dead letters and jobs">
      <p role="status" class="notice">{notice}</p>
      <ErrorBox error={error} />
      <section aria-labelledby="letters">
        <h2 id="letters">Dead letters</h2>
        <p class="muted">Events a consumer gave up on: undecodable, a deterministic error, or too many deliveries.</p>
        <ContextFilter id="letter-context" value={letterContext} onChange={setLetterContext} contexts={contexts} />
        <Paged<DeadLetter>
          caption="Dead letters"
          deps={[letterContext, version]}
          empty="No dead letters: every consumer has kept up."
          load={async (pageToken, pageSize) => {
            const r = await call(api.GET("/v1/ops/deadLetters", { params: { query: { context: letterContext || undefined, pageToken, pageSize } } }));
            return { rows: r.deadLetters ?? [], next: r.nextPageToken };
          }}
          head={
            <tr>
              <th scope="col">When</th><th scope="col">Context / consumer</th><th scope="col">Event</th>
              <th scope="col">Reason</th><th scope="col">Deliveries</th><th scope="col"><span class="visually-hidden">Action</span></th>
            </tr>
          }
          row={(d) => (
            <tr key={d.id}>
              <td>{when(d.createTime)}</td>
              <td>{d.context} / <code>{d.consumer}</code></td>
              <td class="cell-wrap"><code>{d.eventType}</code> on <code>{d.subject}</code><br /><small class="muted">{d.eventId}</small></td>
              <td class="cell-wrap">{d.reason}</td>
              <td>{d.deliveries}</td>
              <td>
                <button disabled={busy === d.id} aria-busy={busy === d.id ? "true" : undefined} onClick={() => void redrive("letter", d.id!, d.context)} aria-label={`Redrive event ${d.eventId}`}>
                  Redrive
                </button>
              </td>
            </tr>
          )}
        />
      </section>
      <section aria-labelledby="jobs">
        <h2 id="jobs">Dead jobs</h2>
        <p class="muted">Durable jobs that will not run again: a terminal error, or out of attempts.</p>
        <ContextFilter id="job-context" value={jobContext} onChange={setJobContext} contexts={contexts} />
        <Paged<Job>
          caption="Dead jobs"
          deps={[jobContext, version]}
          empty="No dead jobs."
          load={async (pageToken, pageSize) => {
            const r = await call(api.GET("/v1/ops/deadJobs", { params: { query: { context: jobContext || undefined, pageToken, pageSize } } }));
            return { rows: r.jobs ?? [], next: r.nextPageToken };
          }}
          head={
            <tr>
              <th scope="col">Updated</th><th scope="col">Context / kind</th><th scope="col">State</th>
              <th scope="col">Attempts</th><th scope="col">Last error</th><th scope="col"><span class="visually-hidden">Action</span></th>
            </tr>
          }
          row={(j) => (
            <tr key={j.id}>
              <td>{when(j.updateTime)}</td>
              <td>{j.context} / <code>{j.kind}</code>{j.tenantId && <><br /><small class="muted">tenant {j.tenantId}</small></>}</td>
              <td><Badge word={enumWord(j.state, "JOB_STATE_")} /></td>
              <td>{j.attempts} of {j.maxAttempts}</td>
              <td class="cell-wrap pre">{j.lastError}</td>
              <td>
                <button disabled={busy === j.id} aria-busy={busy === j.id ? "true" : undefined} onClick={() => void redrive("job", j.id!, j.context)} aria-label={`Redrive job ${j.id}`}>
                  Redrive
                </button>
              </td>
            </tr>
          )}
        />
      </section>
    </Page>
  );
}
