// One policy: its text in an editor whose problems show on their lines (POST
// /v1/interventions/policies:check), a backtest of the edit over the stored signals before it goes live
// (:backtest), activation with a reason (:activate), the version history (/policyVersions) with a
// rollback per version (:rollback, a reason required) and the difference between any two versions
// (:diff). /admin/policies/_new starts a new policy ("_new" can never be a policy id: ids start with a
// letter).
import { useEffect, useState } from "preact/hooks";
import { api, call } from "../../api/client";
import type { components } from "../../api/schema";
import { ApiError } from "../../api/errors";
import { ErrorBox, Show, useAsync } from "../../ui/async";
import { Field } from "../../ui/form";
import { Page } from "../../ui/page";
import { Paged } from "../../ui/paged";
import { Badge, NEW, ShortId, toTimestamp, when } from "./common";
import { LineEditor, type LineProblem } from "./LineEditor";
import "./admin.css";

type Version = components["schemas"]["learnflow.interventions.v1.PolicyVersion"];
type Backtest = components["schemas"]["learnflow.interventions.v1.BacktestPolicyResponse"];
type Diff = components["schemas"]["learnflow.interventions.v1.DiffPolicyVersionsResponse"];

const STARTER = `---
id: my_policy
title: What this policy does, in a sentence
intervention: review_concept
mode: shadow
urgency: 50
cooldown_minutes: 120
when:
  signal: struggle.detected
  all:
    - field: rule
      is: repeated_error
message:
  subject: "A concept to review"
  student: "Hi {student_name}, {topic} seems to be giving you trouble: have another look at it."
---

# My policy

Why this policy exists, for the teachers who read it.
`;

/** "review_concept.md:15: message.student names {nickname}" → line 15 and its message. */
export function problemFromViolation(text: string): LineProblem {
  const m = /^[^:\n]*:(\d+): ([\s\S]*)$/.exec(text);
  return m ? { line: Number(m[1]), message: m[2] } : { line: 0, message: text };
}

function pad(n: number) {
  return String(n).padStart(2, "0");
}
function localInput(d: Date) {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function BacktestResult({ r }: { r: Backtest }) {
  return (
    <section aria-labelledby="backtest-result" class="backtest">
      <h3 id="backtest-result">What this edit would have changed</h3>
      <dl class="facts">
        <div><dt>Signals replayed</dt><dd>{r.signals ?? 0}</dd></div>
        <div><dt>Sent (now → with the edit)</dt><dd>{r.sentBefore ?? 0} → {r.sentAfter ?? 0}</dd></div>
        <div><dt>Decisions (now → with the edit)</dt><dd>{r.decisionsBefore ?? 0} → {r.decisionsAfter ?? 0}</dd></div>
        <div><dt>Students affected</dt><dd>{r.studentsAffected?.length ?? 0}</dd></div>
      </dl>
      {(r.flips?.length ?? 0) === 0 ? (
        <p class="empty">No decision would change.</p>
      ) : (
        <div class="table-scroll">
          <table class="striped">
            <caption>Decisions that would flip</caption>
            <thead>
              <tr><th scope="col">When</th><th scope="col">Student</th><th scope="col">Intervention</th><th scope="col">Now → edit</th><th scope="col">Why</th></tr>
            </thead>
            <tbody>
              {r.flips!.map((f) => (
                <tr key={`${f.signalId}-${f.intervention}`}>
                  <td>{when(f.occurTime)}</td>
                  <td><ShortId id={f.studentId} /></td>
                  <td>{f.intervention}</td>
                  <td>{f.before} → {f.after}</td>
                  <td>{f.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {(r.capHits?.length ?? 0) > 0 && (
        <p>Daily cap reached: {r.capHits!.map((c) => `${c.day} (${c.count})`).join(", ")}</p>
      )}
      {(r.urgencyMix?.length ?? 0) > 0 && (
        <p>Urgency of what would be sent: {r.urgencyMix!.map((u) => `${u.band}: ${u.count}`).join(", ")}</p>
      )}
    </section>
  );
}

function DiffView({ policyId, latest, rev }: { policyId: string; latest: number; rev: number }) {
  const [from, setFrom] = useState(Math.max(1, latest - 1));
  const [to, setTo] = useState(latest);
  useEffect(() => {
    setFrom(Math.max(1, latest - 1));
    setTo(latest);
  }, [latest, rev]);
  const state = useAsync<Diff>(
    () =>
      call(
        api.GET("/v1/interventions/policies/{policy_id}:diff", {
          params: { path: { policy_id: policyId }, query: { fromVersion: from, toVersion: to } },
        }),
      ),
    [policyId, from, to, rev],
  );
  const choices = Array.from({ length: latest }, (_, i) => latest - i);
  return (
    <section aria-labelledby="diff-heading">
      <h2 id="diff-heading">Compare versions</h2>
      <div class="grid compact">
        <label>
          From version
          <select value={from} onChange={(e) => setFrom(Number(e.currentTarget.value))}>
            {choices.map((v) => <option key={v} value={v}>{v}</option>)}
          </select>
        </label>
        <label>
          To version
          <select value={to} onChange={(e) => setTo(Number(e.currentTarget.value))}>
            {choices.map((v) => <option key={v} value={v}>{v}</option>)}
          </select>
        </label>
      </div>
      <Show state={state}>
        {(d) =>
          from === to ? (
            <p class="empty">Choose two different versions.</p>
          ) : (
            <>
              {(d.fieldChanges?.length ?? 0) > 0 ? (
                <div class="table-scroll">
                  <table class="striped">
                    <caption>Settings changed from version {from} to {to}</caption>
                    <thead><tr><th scope="col">Setting</th><th scope="col">Version {from}</th><th scope="col">Version {to}</th></tr></thead>
                    <tbody>
                      {d.fieldChanges!.map((c) => (
                        <tr key={c.path}><td><code>{c.path}</code></td><td>{c.beforeJson || "—"}</td><td>{c.afterJson || "—"}</td></tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              ) : (
                <p class="empty">No setting differs.</p>
              )}
              {d.textDiff ? (
                <pre class="diff" aria-label={`Text difference from version ${from} to ${to}`} tabIndex={0}>
                  {d.textDiff.split("\n").map((l, i) => (
                    <span key={i} class={l.startsWith("+") && !l.startsWith("+++") ? "add" : l.startsWith("-") && !l.startsWith("---") ? "del" : ""}>
                      {l}
                      {"\n"}
                    </span>
                  ))}
                </pre>
              ) : (
                <p class="empty">The texts are the same.</p>
              )}
            </>
          )
        }
      </Show>
    </section>
  );
}

function Rollback({ policyId, version, onDone }: { policyId: string; version: number; onDone: (v: Version) => void }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: Event) {
    e.preventDefault();
    const reason = String(new FormData(e.currentTarget as HTMLFormElement).get("reason") ?? "").trim();
    setBusy(true);
    setError(null);
    try {
      onDone(
        await call(
          api.POST("/v1/interventions/policies/{policy_id}:rollback", {
            params: { path: { policy_id: policyId } },
            body: { toVersion: version, reason },
          }),
        ),
      );
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <form class="rollback" onSubmit={submit} aria-label={`Roll back to version ${version}`}>
      <Field label={`Why roll back to version ${version}?`} name="reason" error={error}>
        {(p) => <input {...p} required maxLength={1000} />}
      </Field>
      <ErrorBox error={error} />
      <button type="submit" disabled={busy} aria-busy={busy ? "true" : undefined}>
        Roll back to version {version}
      </button>
    </form>
  );
}

export default function Policy({ policyId = NEW }: { policyId?: string }) {
  const isNew = policyId === NEW;
  const [rev, setRev] = useState(0);
  const [text, setText] = useState<string | null>(isNew ? STARTER : null);
  const [fileName, setFileName] = useState(isNew ? "" : `${policyId}.md`);
  const [problems, setProblems] = useState<LineProblem[]>([]);
  const [checked, setChecked] = useState<string>("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState<"" | "check" | "activate" | "backtest">("");
  const [backtest, setBacktest] = useState<Backtest | null>(null);
  const [done, setDone] = useState("");
  const [rollingBack, setRollingBack] = useState<number | null>(null);
  const now = new Date();
  const [since, setSince] = useState(localInput(new Date(now.getTime() - 7 * 86400_000)));
  const [until, setUntil] = useState(localInput(now));

  const current = useAsync<Version | null>(
    () =>
      isNew
        ? Promise.resolve(null)
        : call(api.GET("/v1/interventions/policies/{policy_id}", { params: { path: { policy_id: policyId }, query: { version: 0 } } })),
    [policyId, rev],
  );
  const latest = useAsync(
    () =>
      isNew
        ? Promise.resolve(0)
        : call(api.GET("/v1/interventions/policyVersions", { params: { query: { policyId, pageSize: 1 } } })).then(
            (r) => r.versions?.[0]?.version ?? 0,
          ),
    [policyId, rev],
  );
  // The editor starts from the version in force (and again after an activation or a rollback).
  useEffect(() => {
    if (current.data) {
      setText(current.data.content ?? "");
      if (current.data.file) setFileName(current.data.file);
    }
  }, [current.data]);

  const content = text ?? "";
  const name = fileName || (isNew ? "policy.md" : `${policyId}.md`);

  function showProblems(err: unknown): boolean {
    if (err instanceof ApiError && err.status === 400) {
      const found = err.violations.filter((v) => v.field === "content").map((v) => problemFromViolation(v.description));
      if (found.length > 0) {
        setProblems(found);
        return true;
      }
    }
    return false;
  }

  async function check() {
    setBusy("check");
    setError(null);
    setDone("");
    try {
      const r = await call(api.POST("/v1/interventions/policies:check", { body: { content, fileName: name } }));
      const found = (r.problems ?? []).map((p) => ({ line: p.line ?? 0, message: p.message ?? "" }));
      setProblems(found);
      setChecked(r.valid ? `No problems: “${r.policyId}” can be activated.` : "");
      return !!r.valid;
    } catch (err) {
      if (!showProblems(err)) setError(err);
      return false;
    } finally {
      setBusy("");
    }
  }

  async function runBacktest() {
    setBusy("backtest");
    setError(null);
    setBacktest(null);
    try {
      setBacktest(
        await call(
          api.POST("/v1/interventions/policies:backtest", {
            body: { content, fileName: name, startTime: toTimestamp(since) ?? "", endTime: toTimestamp(until) ?? "" },
          }),
        ),
      );
    } catch (err) {
      if (!showProblems(err)) setError(err);
    } finally {
      setBusy("");
    }
  }

  async function activate(e: Event) {
    e.preventDefault();
    const reason = String(new FormData(e.currentTarget as HTMLFormElement).get("reason") ?? "").trim();
    setBusy("activate");
    setError(null);
    setDone("");
    try {
      const v = await call(
        api.POST("/v1/interventions/policies:activate", { body: { content, fileName: name, reason: reason || undefined } }),
      );
      setProblems([]);
      setChecked("");
      setDone(`Version ${v.version} of “${v.policyId}” is now in force.`);
      if (isNew && v.policyId) {
        location.assign(`/admin/policies/${encodeURIComponent(v.policyId)}`);
        return;
      }
      setRev((n) => n + 1);
    } catch (err) {
      if (!showProblems(err)) setError(err);
    } finally {
      setBusy("");
    }
  }

  // Any version's text into the editor, to start an edit from it (the version in force is unchanged
  // until the edit is activated).
  async function openVersion(version: number) {
    setError(null);
    try {
      const v = await call(
        api.GET("/v1/interventions/policies/{policy_id}", { params: { path: { policy_id: policyId }, query: { version } } }),
      );
      setText(v.content ?? "");
      setProblems([]);
      setChecked("");
      setDone(`The editor now holds the text of version ${version}; nothing changes until it is activated.`);
      document.getElementById("policy-text")?.focus();
    } catch (err) {
      setError(err);
    }
  }

  function rolledBack(v: Version) {
    setRollingBack(null);
    setDone(`Rolled back: version ${v.version} (the text of an earlier one) is now in force.`);
    setRev((n) => n + 1);
  }

  const inForce = current.data;
  return (
    <Page title={isNew ? "New policy" : `Policy ${policyId}`} actions={<a href="/admin/policies">All policies</a>}>
      {!isNew && (
        <Show state={current}>
          {(v) => (
            <p>
              In force: <Badge tone="good">version {v?.version}</Badge> <span class="muted">({v?.mode || "enforce"}, from {v?.source}, {when(v?.activateTime)})</span>
            </p>
          )}
        </Show>
      )}
      <section aria-labelledby="edit-heading">
        <h2 id="edit-heading">{isNew ? "Write the policy" : "Edit"}</h2>
        {text === null ? (
          <ErrorBox error={current.error} />
        ) : (
          <>
            <LineEditor id="policy-text" label="Policy file (YAML settings between --- lines, then Markdown)" value={content} onInput={(v) => { setText(v); setChecked(""); }} problems={problems} />
            <Field label="File name" name="fileName" error={error} hint=".md: settings + prose; .yaml: settings only">
              {(p) => <input {...p} value={name} maxLength={255} onInput={(e) => setFileName(e.currentTarget.value)} />}
            </Field>
            <div class="button-row">
              <button type="button" class="secondary" disabled={!!busy} aria-busy={busy === "check" ? "true" : undefined} onClick={() => void check()}>
                Check
              </button>
            </div>
            {checked && <p role="status" class="ok-text">{checked}</p>}
            <details class="backtest-box">
              <summary>Backtest before activating</summary>
              <p class="muted">Replays this tenant's stored signals of the window with this text in place of the version in force. Nothing is sent.</p>
              <div class="grid compact">
                <label>From<input type="datetime-local" value={since} onInput={(e) => setSince(e.currentTarget.value)} /></label>
                <label>Until<input type="datetime-local" value={until} onInput={(e) => setUntil(e.currentTarget.value)} /></label>
              </div>
              <button type="button" class="secondary" disabled={!!busy} aria-busy={busy === "backtest" ? "true" : undefined} onClick={() => void runBacktest()}>
                Run the backtest
              </button>
              {backtest && <BacktestResult r={backtest} />}
            </details>
            <form onSubmit={activate} class="activate" aria-label="Activate">
              <Field label="Reason for this change (kept in the history and the audit trail)" name="reason" error={error}>
                {(p) => <input {...p} maxLength={1000} />}
              </Field>
              <button type="submit" disabled={!!busy} aria-busy={busy === "activate" ? "true" : undefined}>
                Activate
              </button>
            </form>
            <ErrorBox error={error} />
            {done && <p role="status" class="ok-text">{done}</p>}
          </>
        )}
      </section>
      {!isNew && (
        <>
          <section aria-labelledby="history-heading">
            <h2 id="history-heading">Versions</h2>
            <Paged<Version>
              caption={`Versions of ${policyId}, newest first`}
              deps={[policyId, rev]}
              load={(pageToken, pageSize) =>
                call(api.GET("/v1/interventions/policyVersions", { params: { query: { policyId, pageSize, pageToken } } })).then((r) => ({
                  rows: r.versions ?? [],
                  next: r.nextPageToken,
                }))
              }
              empty="No version yet."
              head={
                <tr>
                  <th scope="col">Version</th>
                  <th scope="col">State</th>
                  <th scope="col">Source</th>
                  <th scope="col">Author</th>
                  <th scope="col">Reason</th>
                  <th scope="col">Activated</th>
                  <th scope="col"><span class="visually-hidden">Actions</span></th>
                </tr>
              }
              row={(v) => (
                <tr key={v.version} data-version={v.version}>
                  <td>{v.version}</td>
                  <td>{v.deactivateTime ? <Badge>replaced {when(v.deactivateTime)}</Badge> : <Badge tone="good">in force</Badge>}</td>
                  <td>{v.source}</td>
                  <td><ShortId id={v.author} /></td>
                  <td>{v.reason || "—"}</td>
                  <td>{when(v.activateTime)}</td>
                  <td class="button-row">
                    <button type="button" class="secondary outline small" aria-label={`Edit from here (version ${v.version})`} onClick={() => void openVersion(v.version ?? 0)}>
                      Edit from here
                    </button>
                    {v.deactivateTime && (
                      <button type="button" class="secondary outline small" onClick={() => setRollingBack(v.version ?? null)}>
                        Roll back to {v.version}
                      </button>
                    )}
                  </td>
                </tr>
              )}
            />
            {rollingBack !== null && <Rollback policyId={policyId} version={rollingBack} onDone={rolledBack} />}
          </section>
          {(latest.data ?? 0) > 1 && inForce && <DiffView policyId={policyId} latest={latest.data ?? 1} rev={rev} />}
        </>
      )}
    </Page>
  );
}
