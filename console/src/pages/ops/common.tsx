// Small pieces the operator pages share: times in words, status badges, and the addresses of the
// servers beside the API that the API itself does not describe (Temporal's UI, the provider inbox).
import type { ComponentChildren } from "preact";
import type { components } from "../../api/schema";
import "./ops.css";

export type Run = components["schemas"]["learnflow.workflows.v1.WorkflowRun"];
export type StepRun = components["schemas"]["learnflow.workflows.v1.StepRun"];
export type RunStatus = components["schemas"]["learnflow.workflows.v1.RunStatus"];

/** A timestamp as the reader's local date and time ("—" when absent). */
export function when(iso?: string): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** Seconds as "12 s", "3 min", "2 h". */
export function ago(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

/** The time between two timestamps, or from one until now. */
export function duration(start?: string, end?: string): string {
  if (!start) return "—";
  const ms = (end ? new Date(end) : new Date()).getTime() - new Date(start).getTime();
  return ms < 1000 ? `${Math.max(0, ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** An enum value in words: RUN_STATUS_SUCCEEDED → "succeeded". */
export function enumWord(value: string | undefined, prefix: string): string {
  return (value ?? "").replace(prefix, "").replace(/_/g, " ").toLowerCase() || "unknown";
}

const TONE: Record<string, string> = {
  succeeded: "good",
  done: "good",
  running: "",
  pending: "",
  queued: "",
  retrying: "warn",
  cancelled: "warn",
  failed: "bad",
  dead: "bad",
};

export function Badge({ word, tone }: { word: string; tone?: string }) {
  return <span class={`badge ${tone ?? TONE[word] ?? ""}`}>{word}</span>;
}

export const runWord = (s?: string) => enumWord(s, "RUN_STATUS_");
export const stepWord = (s?: string) => enumWord(s, "STEP_STATUS_");
export const runEnded = (s?: string) => s === "RUN_STATUS_SUCCEEDED" || s === "RUN_STATUS_FAILED" || s === "RUN_STATUS_CANCELLED";

/**
 * Temporal's web UI: `make up` serves it on this host's port 8233 (LEARNFLOW_TEMPORAL_UI_PORT), not on
 * the API's origin, and no API call says where it is, so the console assumes the default port.
 */
export function temporalUrl(runId?: string): string {
  const base = `${location.protocol}//${location.hostname}:8233`;
  return runId ? `${base}/namespaces/default/workflows/${encodeURIComponent(runId)}` : base;
}

/**
 * The local third-party servers' inbox page (what the embedded Moodle, Zulip, Slack and PagerDuty
 * received): port 8026 of this host by default (LEARNFLOW_PROVIDERS_HTTP_PORT), not on the API's origin.
 */
export function providerInboxUrl(): string {
  return `${location.protocol}//${location.hostname}:8026/`;
}

/** A labelled definition list of facts (monitor status, a run's header). */
export function Facts({ items }: { items: [string, ComponentChildren][] }) {
  return (
    <dl class="facts">
      {items.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}
