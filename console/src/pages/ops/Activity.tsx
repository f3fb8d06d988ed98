// The LMS activity monitor (GET /v1/activity/monitor): whether it runs, its last poll, how far behind
// its watermark is (the ops alert fires past 10 minutes), its cursors, counts and errors; the events it
// stored (GET /v1/activity/events, which the API gives admins but not operators); and where to see what
// the embedded third-party servers received (their inbox page, on its own port).
import { useState } from "preact/hooks";
import { api, call } from "../../api/client";
import { session } from "../../auth";
import { Show, useAsync } from "../../ui/async";
import { Paged } from "../../ui/paged";
import { Page } from "../../ui/page";
import type { components } from "../../api/schema";
import { Badge, Facts, ago, providerInboxUrl, when } from "./common";

type Event = components["schemas"]["learnflow.activity.v1.ActivityEvent"];
const STALE_SECONDS = 600; // the ActivityMonitorWatermarkStale alert's threshold (deploy's rules)

function Events() {
  const [type, setType] = useState("");
  return (
    <>
      <form class="ops-filters" onSubmit={(e) => e.preventDefault()}>
        <div>
          <label for="events-type">Event type</label>
          <select id="events-type" value={type} onChange={(e) => setType(e.currentTarget.value)}>
            <option value="">All types</option>
            {["exam_started", "exam_completed", "exam_passed", "exam_failed", "content_started", "content_completed", "content_watched"].map((t) => (
              <option key={t} value={t}>{t}</option>
            ))}
          </select>
        </div>
      </form>
      <Paged<Event>
        caption="Activity events"
        deps={[type]}
        empty="No events stored yet."
        load={async (pageToken, pageSize) => {
          const r = await call(api.GET("/v1/activity/events", { params: { query: { pageToken, pageSize, eventType: type || undefined } } }));
          return { rows: r.events ?? [], next: r.nextPageToken };
        }}
        head={
          <tr>
            <th scope="col">Occurred</th><th scope="col">Type</th><th scope="col">Student</th><th scope="col">Activity</th><th scope="col">Mentor DMs</th>
          </tr>
        }
        row={(e) => (
          <tr key={e.eventId}>
            <td>{when(e.occurTime)}</td>
            <td>{e.eventType}</td>
            <td class="cell-wrap">{e.studentName} <small class="muted">{e.studentEmail}</small></td>
            <td class="cell-wrap">{e.activityTitle}</td>
            <td>{(e.notifications ?? []).filter((n) => n.sent).length} of {(e.notifications ?? []).length} sent</td>
          </tr>
        )}
      />
    </>
  );
}

export default function Activity() {
  const monitor = useAsync(() => call(api.GET("/v1/activity/monitor")), []);
  const canReadEvents = session.has("admin", "teacher", "mentor");
  return (
    <Page title="Activity monitor" actions={<button class="secondary outline" onClick={monitor.reload}>Refresh</button>}>
      <Show state={monitor}>
        {(m) => {
          const stale = !m.hasWatermark || (m.watermarkAgeSeconds ?? 0) > STALE_SECONDS;
          return (
            <>
              <Facts
                items={[
                  ["Monitor", <Badge word={m.enabled ? "enabled" : "disabled"} tone={m.enabled ? "good" : "warn"} />],
                  ["Last poll", when(m.lastPollTime)],
                  [
                    "Watermark age",
                    m.hasWatermark ? (
                      <Badge word={`${ago(m.watermarkAgeSeconds ?? 0)} behind`} tone={stale ? "bad" : "good"} />
                    ) : (
                      <Badge word="no poll completed yet" tone="warn" />
                    ),
                  ],
                  ["Late-commit guard", m.lateCommitGuard ? "on" : "off (no pg_read_all_stats)"],
                  ["Rejected rows", m.rejectedRows ?? "0"],
                  ["Skipped rows", m.skippedRows ?? "0"],
                ]}
              />
              {m.lastError && <p class="error-box" role="alert">Last error: {m.lastError}</p>}
              <div class="grid">
                <section aria-labelledby="by-type">
                  <h2 id="by-type">Events by type</h2>
                  {Object.keys(m.eventsByType ?? {}).length === 0 ? (
                    <p class="empty">None stored yet.</p>
                  ) : (
                    <ul>{Object.entries(m.eventsByType ?? {}).map(([k, v]) => <li key={k}>{k}: {v}</li>)}</ul>
                  )}
                </section>
                <section aria-labelledby="cursors">
                  <h2 id="cursors">Cursors</h2>
                  {(m.cursors ?? []).length === 0 ? (
                    <p class="empty">No cursor yet.</p>
                  ) : (
                    <ul>{(m.cursors ?? []).map((c) => <li key={c.source}>{c.source}: id {c.id}, {when(c.updateTime)}</li>)}</ul>
                  )}
                </section>
              </div>
              {(m.unmatchedEmails ?? []).length > 0 && (
                <p>Students with no LearnFlow account: {(m.unmatchedEmails ?? []).join(", ")}</p>
              )}
            </>
          );
        }}
      </Show>
      <section aria-labelledby="events">
        <h2 id="events">Stored events</h2>
        {canReadEvents ? (
          <Events />
        ) : (
          <p class="muted">The API lets teachers, mentors and admins list the events, not operators.</p>
        )}
      </section>
      <section aria-labelledby="inbox">
        <h2 id="inbox">What the third-party servers received</h2>
        <p>
          In the embedded mode (<code>make up</code>) the local Moodle, Zulip, Slack and PagerDuty servers keep
          every message they were sent. Their inbox page is not on the API's origin:{" "}
          <a href={providerInboxUrl()} target="_blank" rel="noopener">the provider inbox</a> (port 8026 of this host by
          default, LEARNFLOW_PROVIDERS_HTTP_PORT), or <code>learnflow providers inbox</code>.
        </p>
      </section>
    </Page>
  );
}
