// The message log: every delivery notify made for this tenant (GET /v1/notify/deliveries), newest
// first, filtered by status, channel and recipient, with each delivery's notes (deferrals, retries,
// fallbacks, failures) and a redrive for a failed one (POST /v1/notify/deliveries/{id}:redrive).
import { useState } from "preact/hooks";
import { api, call } from "../../api/client";
import type { components } from "../../api/schema";
import { ErrorBox } from "../../ui/async";
import { Page } from "../../ui/page";
import { Paged } from "../../ui/paged";
import { Badge, Filters, ShortId, when, words } from "./common";
import "./admin.css";

type Delivery = components["schemas"]["learnflow.notify.v1.Delivery"];
type Status = components["schemas"]["learnflow.notify.v1.DeliveryStatus"];

const STATUSES: Status[] = [
  "DELIVERY_STATUS_PENDING",
  "DELIVERY_STATUS_SENT",
  "DELIVERY_STATUS_FAILED",
  "DELIVERY_STATUS_RETRYING",
  "DELIVERY_STATUS_READ",
  "DELIVERY_STATUS_DEFERRED",
  "DELIVERY_STATUS_DIGESTED",
];
const CHANNELS = ["moodle", "in_app", "email", "zulip", "slack", "pagerduty"];

function tone(s?: Status): "good" | "warn" | "bad" | undefined {
  if (s === "DELIVERY_STATUS_FAILED") return "bad";
  if (s === "DELIVERY_STATUS_SENT" || s === "DELIVERY_STATUS_READ") return "good";
  if (s === "DELIVERY_STATUS_RETRYING" || s === "DELIVERY_STATUS_DEFERRED") return "warn";
  return undefined;
}

export default function Messages() {
  const [status, setStatus] = useState<Status | "">("");
  const [channel, setChannel] = useState("");
  const [recipient, setRecipient] = useState("");
  const [rev, setRev] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const [note, setNote] = useState("");

  async function redrive(d: Delivery) {
    setError(null);
    setNote("");
    try {
      const again = await call(
        api.POST("/v1/notify/deliveries/{delivery_id}:redrive", { params: { path: { delivery_id: d.id ?? "" } }, body: {} }),
      );
      setNote(`Delivery ${d.id} queued again (${words(again.status, "DELIVERY_STATUS_")}).`);
      setRev((n) => n + 1);
    } catch (err) {
      setError(err);
    }
  }

  return (
    <Page title="Message log">
      <Filters label="Filter the message log">
        <label>
          Status
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value as Status | "")}>
            <option value="">Any</option>
            {STATUSES.map((s) => <option key={s} value={s}>{words(s, "DELIVERY_STATUS_")}</option>)}
          </select>
        </label>
        <label>
          Channel
          <select value={channel} onChange={(e) => setChannel(e.currentTarget.value)}>
            <option value="">Any</option>
            {CHANNELS.map((c) => <option key={c} value={c}>{c}</option>)}
          </select>
        </label>
        <label>
          Recipient (user id)
          <input value={recipient} placeholder="any" onChange={(e) => setRecipient(e.currentTarget.value.trim())} />
        </label>
      </Filters>
      <ErrorBox error={error} />
      {note && <p role="status" class="ok-text">{note}</p>}
      <Paged<Delivery>
        caption="Deliveries, newest first"
        deps={[status, channel, recipient, rev]}
        empty="No message matches these filters."
        load={(pageToken, pageSize) =>
          call(
            api.GET("/v1/notify/deliveries", {
              params: {
                query: {
                  pageSize,
                  pageToken: pageToken || undefined,
                  status: status || undefined,
                  channel: channel || undefined,
                  recipientId: recipient || undefined,
                },
              },
            }),
          ).then((r) => ({ rows: r.deliveries ?? [], next: r.nextPageToken }))
        }
        head={
          <tr>
            <th scope="col">Created</th>
            <th scope="col">Status</th>
            <th scope="col">Channel</th>
            <th scope="col">Recipient</th>
            <th scope="col">Subject</th>
            <th scope="col">Attempts</th>
            <th scope="col">What happened</th>
            <th scope="col"><span class="visually-hidden">Actions</span></th>
          </tr>
        }
        row={(d) => (
          <tr key={d.id} data-delivery={d.id}>
            <td>{when(d.createTime)}</td>
            <td><Badge tone={tone(d.status)}>{words(d.status, "DELIVERY_STATUS_")}</Badge></td>
            <td>{d.channel}{d.requestedChannel && d.requestedChannel !== d.channel ? ` (asked: ${d.requestedChannel})` : ""}</td>
            <td><ShortId id={d.recipientId || d.address} /></td>
            <td>{d.subject || d.template}</td>
            <td>{d.attempts ?? 0}</td>
            <td>
              {d.lastError && <div class="error-text">{d.lastError}</div>}
              <details>
                <summary>{(d.notes?.length ?? 0) === 1 ? "1 note" : `${d.notes?.length ?? 0} notes`}, the text</summary>
                <ul class="notes">
                  {(d.notes ?? []).map((n, i) => (
                    <li key={i}>{when(n.time)}: {n.kind} — {n.reason}</li>
                  ))}
                  <li>Sent {when(d.sentTime)}{d.readTime ? `, read ${when(d.readTime)}` : ""}; template {d.template} v{d.templateVersion}; id <code>{d.id}</code></li>
                </ul>
                <p class="pre small-pre">{d.body}</p>
              </details>
            </td>
            <td>
              {d.status === "DELIVERY_STATUS_FAILED" && (
                <button type="button" class="small" onClick={() => void redrive(d)}>Redrive</button>
              )}
            </td>
          </tr>
        )}
      />
    </Page>
  );
}
