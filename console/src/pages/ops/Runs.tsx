// Workflow runs, newest first — the tenant's for an admin, the signed-in user's own otherwise (GET /v1/workflows/runs), filtered by template and status,
// each linking to its live page; and a link to Temporal's own UI, which keeps every run's history.
import { useState } from "preact/hooks";
import { api, call } from "../../api/client";
import { Paged } from "../../ui/paged";
import { Page } from "../../ui/page";
import { Badge, duration, runWord, temporalUrl, when, type Run, type RunStatus } from "./common";

const STATUSES: RunStatus[] = ["RUN_STATUS_RUNNING", "RUN_STATUS_SUCCEEDED", "RUN_STATUS_FAILED", "RUN_STATUS_CANCELLED"];

export default function Runs() {
  const [template, setTemplate] = useState("");
  const [status, setStatus] = useState<RunStatus | "">("");
  return (
    <Page title="Workflow runs" actions={<a href="/ops/workflows/new" role="button">Trigger a workflow</a>}>
      <p class="links">
        <a href={temporalUrl()} target="_blank" rel="noopener">Temporal UI (every run's event history)</a>
        <span class="muted">On port 8233 of this host in `make up` (LEARNFLOW_TEMPORAL_UI_PORT); a run's workflow id is its run id.</span>
      </p>
      <form class="ops-filters" onSubmit={(e) => e.preventDefault()}>
        <div>
          <label for="runs-template">Template</label>
          <input id="runs-template" value={template} onChange={(e) => setTemplate(e.currentTarget.value.trim())} placeholder="all templates" />
        </div>
        <div>
          <label for="runs-status">Status</label>
          <select id="runs-status" value={status} onChange={(e) => setStatus(e.currentTarget.value as RunStatus | "")}>
            <option value="">Any status</option>
            {STATUSES.map((s) => <option key={s} value={s}>{runWord(s)}</option>)}
          </select>
        </div>
      </form>
      <Paged<Run>
        caption="Workflow runs"
        deps={[template, status]}
        empty="No runs yet. Trigger one to see it here."
        load={async (pageToken, pageSize) => {
          const r = await call(
            api.GET("/v1/workflows/runs", { params: { query: { pageToken, pageSize, template: template || undefined, status: status || undefined } } }),
          );
          return { rows: r.runs ?? [], next: r.nextPageToken };
        }}
        head={
          <tr>
            <th scope="col">Started</th><th scope="col">Template</th><th scope="col">Status</th>
            <th scope="col">Steps</th><th scope="col">Took</th><th scope="col">Input</th>
          </tr>
        }
        row={(r) => {
          const done = (r.steps ?? []).filter((s) => s.status === "STEP_STATUS_SUCCEEDED").length;
          return (
            <tr key={r.runId}>
              <td><a href={`/ops/workflows/runs/${encodeURIComponent(r.runId ?? "")}`}>{when(r.createTime)}</a></td>
              <td>{r.template} <small class="muted">v{r.templateVersion?.split(".")[0]}</small></td>
              <td><Badge word={runWord(r.status)} /></td>
              <td>{done} of {r.steps?.length ?? 0}</td>
              <td>{r.finishTime ? duration(r.createTime, r.finishTime) : "—"}</td>
              <td class="cell-wrap">{Object.entries(r.input ?? {}).map(([k, v]) => `${k}: ${v}`).join("; ")}</td>
            </tr>
          );
        }}
      />
    </Page>
  );
}
