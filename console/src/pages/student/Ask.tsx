// Ask the tutor: the question goes to POST /v1/questions, the answer streams in over server-sent
// events (GET /v1/conversations/{id}:stream), and debugging hints climb a ladder (locate → explain →
// fix) one rung per "another hint", the solution code only on the last rung.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, call } from "../../api/client";
import type { components } from "../../api/schema";
import { streamEvents } from "../../api/sse";
import { ErrorBox } from "../../ui/async";
import { Field } from "../../ui/form";
import { Page } from "../../ui/page";
import { takeAskDraft } from "./drafts";

type Message = components["schemas"]["learnflow.tutoring.v1.ChatMessage"];
const RUNGS = { HINT_RUNG_LOCATE: "Where", HINT_RUNG_EXPLAIN: "Why", HINT_RUNG_FIX: "Fix" } as Record<string, string>;

export function HintLadder({ message }: { message: Message }) {
  const hint = message.hint;
  if (!hint?.rung || hint.rung === "HINT_RUNG_UNSPECIFIED") return null;
  const order = ["HINT_RUNG_LOCATE", "HINT_RUNG_EXPLAIN", "HINT_RUNG_FIX"];
  const at = order.indexOf(hint.rung);
  return (
    <ol class="ladder" aria-label="Hint ladder">
      {order.map((r, i) => (
        <li key={r} class={i <= at ? "reached" : ""} aria-current={i === at ? "step" : undefined}>
          {RUNGS[r]}
        </li>
      ))}
    </ol>
  );
}

export function MessageView({ m }: { m: Message }) {
  const tutor = m.author === "AUTHOR_TUTOR";
  return (
    <article class={tutor ? "msg tutor" : "msg student"} aria-label={tutor ? "Tutor" : "You"}>
      <header>
        <strong>{tutor ? "Tutor" : "You"}</strong>
        {tutor && m.agent && <small class="muted"> · {m.agent}</small>}
        {m.hint?.line ? <small class="muted"> · line {m.hint.line}</small> : null}
      </header>
      {tutor && <HintLadder message={m} />}
      <p class="pre">{m.text}</p>
      {m.code && <pre><code>{m.code}</code></pre>}
      {m.error && <pre class="error-text">{m.error}</pre>}
      {m.sources && m.sources.length > 0 && (
        <footer>
          Sources: {m.sources.map((s) => <span key={s.ref} class="chip">{s.title || s.ref}</span>)}
        </footer>
      )}
    </article>
  );
}

export default function Ask() {
  const [conversation, setConversation] = useState("");
  const [messages, setMessages] = useState<Message[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [waiting, setWaiting] = useState(false);
  const stream = useRef<AbortController | null>(null);
  // A question prepared on the code page from a failed run (its code and error attached), taken once.
  const [draft] = useState(takeAskDraft);

  // One stream per conversation, closed when the page goes away. The server ends a stream after 300 s
  // without a message; it is reopened from the last message seen, so nothing is missed or repeated.
  useEffect(() => {
    if (!conversation) return;
    const ctl = new AbortController();
    stream.current = ctl;
    (async () => {
      let after = "0";
      while (!ctl.signal.aborted) {
        try {
          for await (const m of streamEvents<Message>(
            `/v1/conversations/${encodeURIComponent(conversation)}:stream?maxWaitSeconds=300&afterSequence=${after}`,
            ctl.signal,
          )) {
            after = m.sequence ?? after;
            setMessages((old) => (old.some((o) => o.id === m.id) ? old : [...old, m]));
            if (m.author === "AUTHOR_TUTOR") setWaiting(false);
          }
        } catch (err) {
          if (!ctl.signal.aborted) setError(err);
          return;
        }
      }
    })();
    return () => ctl.abort();
  }, [conversation]);

  async function ask(text: string, code: string, errorText: string) {
    setBusy(true);
    setError(null);
    try {
      const sent = await call(
        api.POST("/v1/questions", { body: { conversationId: conversation || undefined, text, code, error: errorText } }),
      );
      setWaiting(true);
      if (!conversation) setConversation(sent.conversationId ?? "");
      return true;
    } catch (err) {
      setError(err);
      return false;
    } finally {
      setBusy(false);
    }
  }

  async function submit(e: Event) {
    e.preventDefault();
    const formEl = e.currentTarget as HTMLFormElement;
    const form = new FormData(formEl);
    if (await ask(String(form.get("text")), String(form.get("code") ?? ""), String(form.get("error") ?? ""))) {
      // A draft from the code page filled the fields' defaults: clear them, or reset() brings it back.
      formEl.querySelectorAll("textarea").forEach((t) => (t.defaultValue = ""));
      formEl.reset();
    }
  }

  const lastTutor = [...messages].reverse().find((m) => m.author === "AUTHOR_TUTOR");
  const canClimb = lastTutor?.hint?.rung && lastTutor.hint.rung !== "HINT_RUNG_FIX";

  return (
    <Page
      title="Ask the tutor"
      actions={
        conversation && (
          <button class="secondary outline" onClick={() => { setConversation(""); setMessages([]); }}>
            New conversation
          </button>
        )
      }
    >
      <div class="conversation" aria-live="polite" aria-relevant="additions">
        {messages.map((m) => <MessageView key={m.id} m={m} />)}
        {waiting && <p aria-busy="true" class="muted">The tutor is thinking…</p>}
      </div>
      {canClimb && (
        <button class="secondary" disabled={busy} onClick={() => void ask("I'm still stuck, can I have another hint?", "", "")}>
          Another hint
        </button>
      )}
      <form onSubmit={submit}>
        <Field label="Your question" name="text" error={error}>
          {(p) => (
            <textarea {...p} rows={3} maxLength={4000} placeholder="Why does my while loop never stop?" defaultValue={draft?.text} />
          )}
        </Field>
        <details open={!!draft}>
          <summary>Attach code or an error</summary>
          <Field label="Code" name="code" error={error}>
            {(p) => <textarea {...p} rows={6} class="mono" spellcheck={false} defaultValue={draft?.code} />}
          </Field>
          <Field label="Error or traceback" name="error" error={error}>
            {(p) => <textarea {...p} rows={3} class="mono" spellcheck={false} defaultValue={draft?.error} />}
          </Field>
        </details>
        <ErrorBox error={error} />
        <button type="submit" disabled={busy} aria-busy={busy ? "true" : undefined}>Ask</button>
      </form>
    </Page>
  );
}
