// The audit trail (GET /v1/audit/records): every recorded change of this tenant, newest first, filtered
// by actor, action, context, resource and time; and the hash chain's verification
// (POST /v1/audit/chains/{tenant}:verify), which recomputes every record's hash and compares the head
// with the latest signed checkpoint, naming the first record that does not hold.
import { useState } from "preact/hooks";
import { api, call } from "../../api/client";
import type { components } from "../../api/schema";
import { session } from "../../auth";
import { ErrorBox } from "../../ui/async";
import { Page } from "../../ui/page";
import { Paged } from "../../ui/paged";
import { Filters, ShortId, toTimestamp, when, words } from "./common";
import "./admin.css";

type Record_ = components["schemas"]["learnflow.audit.v1.AuditRecord"];
type Verdict = components["schemas"]["learnflow.audit.v1.VerifyChainResponse"];

const CONTEXTS = ["identity", "progress", "tutoring", "sandbox", "activity", "interventions", "notify", "mtss", "workflows", "ops", "audit"];

function Change({ r }: { r: Record_ }) {
  const before = r.before && Object.keys(r.before).length > 0 ? JSON.stringify(r.before) : "";
  const after = r.after && Object.keys(r.after).length > 0 ? JSON.stringify(r.after) : "";
  if (!before && !after) return <span class="muted">—</span>;
  return (
    <details>
      <summary>Before / after</summary>
      {before && <pre class="mono small-pre">before: {before}</pre>}
      {after && <pre class="mono small-pre">after: {after}</pre>}
    </details>
  );
}

function VerifyChain() {
  const tenantId = session.user?.tenantId ?? "";
  const [verdict, setVerdict] = useState<Verdict | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function verify() {
    setBusy(true);
    setError(null);
    setVerdict(null);
    try {
      setVerdict(await call(api.POST("/v1/audit/chains/{tenant_id}:verify", { params: { path: { tenant_id: tenantId } }, body: {} })));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <section aria-labelledby="verify-heading">
      <h2 id="verify-heading">Is the trail intact?</h2>
      <p class="muted">
        Each record carries the hash of the one before it; verifying recomputes them all and compares the
        head with the latest signed checkpoint, so an edited, removed or forged record is found.
      </p>
      <button type="button" class="secondary" onClick={() => void verify()} disabled={busy} aria-busy={busy ? "true" : undefined}>
        Verify the chain
      </button>
      <ErrorBox error={error} />
      <div aria-live="polite">
        {verdict &&
          (verdict.intact ? (
            <p class="chain-ok">
              <strong>Intact.</strong> {verdict.recordsChecked ?? 0} records checked (sequence {verdict.firstSequence ?? 0} to{" "}
              {verdict.lastSequence ?? 0})
              {verdict.checkpoint ? `; agrees with the checkpoint of ${when(verdict.checkpoint.signTime)} (sequence ${verdict.checkpoint.sequence}).` : "; no checkpoint signed yet."}
            </p>
          ) : (
            <p class="chain-bad">
              <strong>Broken: {words(verdict.problem, "CHAIN_PROBLEM_")}</strong> at record {verdict.brokenSequence}{" "}
              (<ShortId id={verdict.brokenRecordId} />). {verdict.detail}
            </p>
          ))}
      </div>
    </section>
  );
}

export default function Audit() {
  const [actor, setActor] = useState("");
  const [action, setAction] = useState("");
  const [context, setContext] = useState("");
  const [resource, setResource] = useState("");
  const [start, setStart] = useState("");
  const [end, setEnd] = useState("");
  return (
    <Page title="Audit trail">
      <VerifyChain />
      <section aria-labelledby="records-heading">
        <h2 id="records-heading">Records</h2>
        <Filters label="Filter the audit trail">
          <label>
            Context
            <select value={context} onChange={(e) => setContext(e.currentTarget.value)}>
              <option value="">Any</option>
              {CONTEXTS.map((c) => <option key={c} value={c}>{c}</option>)}
            </select>
          </label>
          <label>
            Action
            <input value={action} placeholder="e.g. policy.activated" onChange={(e) => setAction(e.currentTarget.value.trim())} />
          </label>
          <label>
            Actor (user id)
            <input value={actor} placeholder="any" onChange={(e) => setActor(e.currentTarget.value.trim())} />
          </label>
          <label>
            Resource
            <input value={resource} placeholder="e.g. users/…" onChange={(e) => setResource(e.currentTarget.value.trim())} />
          </label>
          <label>
            From
            <input type="datetime-local" value={start} onChange={(e) => setStart(e.currentTarget.value)} />
          </label>
          <label>
            Until
            <input type="datetime-local" value={end} onChange={(e) => setEnd(e.currentTarget.value)} />
          </label>
        </Filters>
        <Paged<Record_>
          caption="Audit records, newest first"
          deps={[actor, action, context, resource, start, end]}
          empty="No record matches these filters."
          load={(pageToken, pageSize) =>
            call(
              api.GET("/v1/audit/records", {
                params: {
                  query: {
                    pageSize,
                    pageToken: pageToken || undefined,
                    actor: actor || undefined,
                    action: action || undefined,
                    context: context || undefined,
                    resource: resource || undefined,
                    startTime: toTimestamp(start),
                    endTime: toTimestamp(end),
                  },
                },
              }),
            ).then((r) => ({ rows: r.records ?? [], next: r.nextPageToken }))
          }
          head={
            <tr>
              <th scope="col">#</th>
              <th scope="col">When</th>
              <th scope="col">Action</th>
              <th scope="col">Resource</th>
              <th scope="col">Actor</th>
              <th scope="col">Reason</th>
              <th scope="col">Change</th>
            </tr>
          }
          row={(r) => (
            <tr key={r.id}>
              <td>{r.sequence}</td>
              <td>{when(r.occurTime)}</td>
              <td><code>{r.action}</code> <small class="muted">{r.context}</small></td>
              <td>{r.resource}</td>
              <td><ShortId id={r.actor} /> <small class="muted">{r.actorKind}</small></td>
              <td>{r.reason || "—"}</td>
              <td><Change r={r} /></td>
            </tr>
          )}
        />
      </section>
    </Page>
  );
}
