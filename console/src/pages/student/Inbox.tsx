// The student's in-app messages (GET /v1/notify/inbox, newest first, paginated), unread ones first in
// weight, each marked read by the student (POST /v1/notify/inbox/{id}:markRead). Interventions reach
// students here, e.g. "review this concept" after the same error three times.
import { useState } from "preact/hooks";
import { api, call } from "../../api/client";
import type { components } from "../../api/schema";
import { ErrorBox } from "../../ui/async";
import { Paged } from "../../ui/paged";
import { Page } from "../../ui/page";
import { when } from "./verdict";
import "./learn.css";

type Message = components["schemas"]["learnflow.notify.v1.InAppMessage"];

const URGENCY: Record<string, string> = { URGENCY_HIGH: "bad", URGENCY_CRITICAL: "bad", URGENCY_NORMAL: "", URGENCY_LOW: "" };

export default function Inbox() {
  const [unreadOnly, setUnreadOnly] = useState(false);
  // Messages marked read on this page: the row changes at once, without reloading the page of rows.
  const [read, setRead] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>(null);

  async function markRead(m: Message) {
    setError(null);
    try {
      const done = await call(
        api.POST("/v1/notify/inbox/{message_id}:markRead", { params: { path: { message_id: m.id ?? "" } }, body: {} }),
      );
      setRead((r) => ({ ...r, [m.id ?? ""]: done.readTime ?? new Date().toISOString() }));
    } catch (err) {
      setError(err);
    }
  }

  return (
    <Page title="Inbox">
      <label>
        <input type="checkbox" role="switch" checked={unreadOnly} onChange={(e) => setUnreadOnly(e.currentTarget.checked)} />
        Unread only
      </label>
      <ErrorBox error={error} />
      <Paged<Message>
        caption="Messages"
        deps={[unreadOnly]}
        empty={unreadOnly ? "No unread messages." : "No messages yet."}
        load={async (pageToken, pageSize) => {
          const r = await call(api.GET("/v1/notify/inbox", { params: { query: { pageToken, pageSize, unreadOnly } } }));
          return { rows: r.messages ?? [], next: r.nextPageToken || undefined };
        }}
        head={
          <tr>
            <th scope="col">Message</th>
            <th scope="col">Received</th>
            <th scope="col">Status</th>
          </tr>
        }
        row={(m) => {
          const readAt = m.readTime || read[m.id ?? ""];
          return (
            <tr key={m.id} class={readAt ? "inbox-row" : "inbox-row unread"}>
              <td class="break">
                <details>
                  <summary>
                    {m.subject || "(no subject)"}
                    {URGENCY[m.urgency ?? ""] && <> <span class="badge bad">urgent</span></>}
                  </summary>
                  <p class="pre">{m.body}</p>
                </details>
              </td>
              <td>{when(m.createTime)}</td>
              <td>
                {readAt ? (
                  <span class="badge">Read</span>
                ) : (
                  <div class="row-actions">
                    <span class="badge warn">Unread</span>
                    <button type="button" class="secondary" onClick={() => void markRead(m)}>
                      Mark read<span class="visually-hidden">: {m.subject}</span>
                    </button>
                  </div>
                )}
              </td>
            </tr>
          );
        }}
      />
    </Page>
  );
}
