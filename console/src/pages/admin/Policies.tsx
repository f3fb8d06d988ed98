// The tenant's intervention policies: the version in force of each, and every change newest first.
// There is no "list policies" call: ListPolicyVersions (newest first) is the source, and a policy is in
// force in the version whose deactivateTime is unset. The first 1,000 versions are enough to find every
// policy of a tenant (a handful of policies with a few dozen versions each); the history below pages.
import { api, call } from "../../api/client";
import type { components } from "../../api/schema";
import { Show, useAsync } from "../../ui/async";
import { Page } from "../../ui/page";
import { Paged } from "../../ui/paged";
import { Badge, NEW, ShortId, when } from "./common";
import "./admin.css";

type Version = components["schemas"]["learnflow.interventions.v1.PolicyVersion"];

function summary(v: Version): string {
  try {
    const rules = JSON.parse(v.rulesJson || "{}") as { title?: string; intervention?: string; when?: { signal?: string } };
    return [rules.title, rules.intervention && `→ ${rules.intervention}`, rules.when?.signal && `on ${rules.when.signal}`]
      .filter(Boolean)
      .join(" ");
  } catch {
    return "";
  }
}

export default function Policies() {
  const inForce = useAsync(
    () =>
      call(api.GET("/v1/interventions/policyVersions", { params: { query: { pageSize: 1000 } } })).then((r) =>
        (r.versions ?? []).filter((v) => !v.deactivateTime).sort((a, b) => (a.policyId ?? "").localeCompare(b.policyId ?? "")),
      ),
    [],
  );
  return (
    <Page title="Policies" actions={<a href={`/admin/policies/${NEW}`} role="button">New policy</a>}>
      <section aria-labelledby="in-force">
        <h2 id="in-force">In force</h2>
        <Show state={inForce} isEmpty={(d) => d.length === 0} empty="This tenant has no policy yet.">
          {(list) => (
            <div class="table-scroll">
              <table class="striped">
                <caption class="visually-hidden">Policies in force</caption>
                <thead>
                  <tr><th scope="col">Policy</th><th scope="col">What it does</th><th scope="col">Version</th><th scope="col">Mode</th><th scope="col">Since</th></tr>
                </thead>
                <tbody>
                  {list.map((v) => (
                    <tr key={v.policyId}>
                      <td><a href={`/admin/policies/${encodeURIComponent(v.policyId ?? "")}`}>{v.policyId}</a></td>
                      <td>{summary(v) || v.file}</td>
                      <td>{v.version}</td>
                      <td><Badge tone={v.mode === "shadow" ? "warn" : undefined}>{v.mode || "enforce"}</Badge></td>
                      <td>{when(v.activateTime)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </Show>
      </section>
      <section aria-labelledby="changes">
        <h2 id="changes">Every change</h2>
        <Paged<Version>
          caption="Policy versions, newest first"
          load={(pageToken, pageSize) =>
            call(api.GET("/v1/interventions/policyVersions", { params: { query: { pageSize, pageToken } } })).then((r) => ({
              rows: r.versions ?? [],
              next: r.nextPageToken,
            }))
          }
          head={
            <tr><th scope="col">Policy</th><th scope="col">Version</th><th scope="col">Source</th><th scope="col">Author</th><th scope="col">Reason</th><th scope="col">Activated</th></tr>
          }
          row={(v) => (
            <tr key={`${v.policyId}-${v.version}`}>
              <td><a href={`/admin/policies/${encodeURIComponent(v.policyId ?? "")}`}>{v.policyId}</a></td>
              <td>{v.version}</td>
              <td>{v.source}</td>
              <td><ShortId id={v.author} /></td>
              <td>{v.reason || "—"}</td>
              <td>{when(v.activateTime)}</td>
            </tr>
          )}
        />
      </section>
    </Page>
  );
}
