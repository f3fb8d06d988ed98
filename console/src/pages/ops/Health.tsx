// Context health, as far as the API shows it: the capability registry (GET /v1/capabilities). Every
// context registers its own name (and any capability it offers) per process at start-up and renews it
// every ttl/2 seconds; a registration whose heartbeat stopped disappears within its TTL. So a context
// listed here has a live process, and a heartbeat older than half its TTL means a renewal was missed.
// Beside it, the dead letters and dead jobs of each context (the first 100 of each, from OperationsService).
// What the API does not give (see the report of issue #17): the contexts that should be running, so
// one that never registered is simply absent; readiness of its database, NATS or Temporal connection.
import { useEffect, useState } from "preact/hooks";
import { api, call } from "../../api/client";
import type { components } from "../../api/schema";
import { ErrorBox, Show, useAsync } from "../../ui/async";
import { Page } from "../../ui/page";
import { Badge, ago, when } from "./common";

type Capability = components["schemas"]["learnflow.workflows.v1.Capability"];

interface ContextHealth {
  context: string;
  instances: Map<string, Capability[]>;
  /** Age of the oldest heartbeat among its registrations, in seconds. */
  oldest: number;
  ttl: number;
}

function group(caps: Capability[], now: number): ContextHealth[] {
  const byContext = new Map<string, ContextHealth>();
  for (const c of caps) {
    const name = c.context || "(no context)";
    const h = byContext.get(name) ?? { context: name, instances: new Map(), oldest: 0, ttl: 0 };
    const inst = c.instance || c.address || "?";
    h.instances.set(inst, [...(h.instances.get(inst) ?? []), c]);
    const age = c.heartbeatTime ? (now - new Date(c.heartbeatTime).getTime()) / 1000 : Infinity;
    h.oldest = Math.max(h.oldest, age);
    h.ttl = Math.max(h.ttl, c.ttlSeconds ?? 0);
    byContext.set(name, h);
  }
  return [...byContext.values()].sort((a, b) => a.context.localeCompare(b.context));
}

function verdict(h: ContextHealth): { word: string; tone: string } {
  if (h.ttl && h.oldest > h.ttl / 2 + 5) return { word: "heartbeat late", tone: "warn" };
  return { word: "live", tone: "good" };
}

/** Dead letters and dead jobs per context, from the first 100 of each (a count past that says "100+"). */
async function deadWork(): Promise<{ letters: Map<string, number>; jobs: Map<string, number>; more: boolean }> {
  const [l, j] = await Promise.all([
    call(api.GET("/v1/ops/deadLetters", { params: { query: { pageSize: 100 } } })),
    call(api.GET("/v1/ops/deadJobs", { params: { query: { pageSize: 100 } } })),
  ]);
  const count = (rows: { context?: string }[]) =>
    rows.reduce((m, r) => m.set(r.context ?? "", (m.get(r.context ?? "") ?? 0) + 1), new Map<string, number>());
  return { letters: count(l.deadLetters ?? []), jobs: count(j.jobs ?? []), more: !!(l.nextPageToken || j.nextPageToken) };
}

export default function Health() {
  const state = useAsync(() => call(api.GET("/v1/capabilities")), []);
  const dead = useAsync(deadWork, []);
  // The registry changes as processes come and go: look again every 15 s while the page is open.
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => {
      setNow(Date.now());
      state.reload();
      dead.reload();
    }, 15_000);
    return () => clearInterval(t);
  }, [state.reload, dead.reload]);
  return (
    <Page title="Context health" actions={<button class="secondary outline" onClick={state.reload}>Refresh</button>}>
      <p class="muted">
        From the capability registry: each context process registers itself and heartbeats; a registration
        disappears within its TTL when the heartbeats stop. A context missing here has no live process.
      </p>
      <ErrorBox error={dead.error} />
      <Show state={state} isEmpty={(d) => !d.capabilities?.length} empty="No context is registered: nothing is running, or the registry is unreachable.">
        {(d) => {
          const contexts = group(d.capabilities ?? [], now);
          return (
            <>
              <p role="status">
                {contexts.length} contexts live, {new Set((d.capabilities ?? []).map((c) => c.instance)).size} processes.
              </p>
              <div class="cards">
                {contexts.map((h) => {
                  const v = verdict(h);
                  return (
                    <article key={h.context} class="context-card" aria-labelledby={`ctx-${h.context}`}>
                      <header>
                        <h2 id={`ctx-${h.context}`} class="h-card">{h.context}</h2>
                        <Badge word={v.word} tone={v.tone} />
                      </header>
                      <p class="muted">
                        Oldest heartbeat {Number.isFinite(h.oldest) ? `${ago(Math.max(0, h.oldest))} ago` : "unknown"}
                        {h.ttl ? `; TTL ${h.ttl} s` : ""}.
                      </p>
                      {dead.data && (
                        <p>
                          <a href="/ops/dead" data-testid={`dead-${h.context}`}>
                            {dead.data.letters.get(h.context) ?? 0}
                            {dead.data.more ? "+" : ""} dead letters, {dead.data.jobs.get(h.context) ?? 0}
                            {dead.data.more ? "+" : ""} dead jobs
                          </a>
                        </p>
                      )}
                      {[...h.instances.entries()].map(([inst, caps]) => (
                        <details key={inst}>
                          <summary>
                            <code>{inst}</code>
                          </summary>
                          <ul>
                            {caps.map((c) => (
                              <li key={c.name}>
                                <code>{c.name}</code> {c.version} at <code>{c.address}</code>; heartbeat {when(c.heartbeatTime)}
                                {c.limits && Object.keys(c.limits).length > 0 && (
                                  <> · limits {Object.entries(c.limits).map(([k, v]) => `${k}=${v}`).join(", ")}</>
                                )}
                              </li>
                            ))}
                          </ul>
                        </details>
                      ))}
                    </article>
                  );
                })}
              </div>
            </>
          );
        }}
      </Show>
    </Page>
  );
}
