// A program's sessions as a calendar (a week or a month, in the school's zone), each one adjustable:
// moved to another day or time, given another room, or cancelled (POST /v1/mtss/sessions/{id}:adjust).
// A move or room change that would double-book a room, the facilitator or an enrolled student is refused
// by the API before anything changes; the refusal is said in words naming the sessions it collides with.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, call } from "../../api/client";
import { ErrorBox, Show, useAsync } from "../../ui/async";
import { Field } from "../../ui/form";
import { Page } from "../../ui/page";
import {
  adjust,
  canManage,
  clashInWords,
  ConflictError,
  instantIn,
  localParts,
  timeOf,
  todayIn,
  when,
  zoneOf,
  type Session,
} from "./lib";
import { nextSession } from "./Program";
import "./mtss.css";

const DAY_MS = 86_400_000;
const toDay = (iso: string) => Date.UTC(+iso.slice(0, 4), +iso.slice(5, 7) - 1, +iso.slice(8, 10));
const fromDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const addDays = (iso: string, n: number) => fromDay(toDay(iso) + n * DAY_MS);
/** The Monday on or before a date (weeks start on Monday, as school timetables do). */
const monday = (iso: string) => addDays(iso, -((new Date(toDay(iso)).getUTCDay() + 6) % 7));
const dayName = (iso: string, style: "short" | "long" = "short") =>
  new Intl.DateTimeFormat(undefined, { timeZone: "UTC", weekday: style, day: "numeric", month: style === "long" ? "long" : "short" }).format(toDay(iso));
const monthName = (iso: string) =>
  new Intl.DateTimeFormat(undefined, { timeZone: "UTC", month: "long", year: "numeric" }).format(toDay(iso));
const WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

type View = "week" | "month";

/** The days shown: one week, or the whole weeks covering a month. */
function daysOf(view: View, anchor: string): { days: string[]; month: string } {
  if (view === "week") {
    const start = monday(anchor);
    return { days: Array.from({ length: 7 }, (_, i) => addDays(start, i)), month: "" };
  }
  const first = `${anchor.slice(0, 7)}-01`;
  const start = monday(first);
  const nextMonth = fromDay(Date.UTC(+anchor.slice(0, 4), +anchor.slice(5, 7), 1));
  const days: string[] = [];
  for (let d = start; d < nextMonth || days.length % 7 !== 0; d = addDays(d, 1)) days.push(d);
  return { days, month: anchor.slice(0, 7) };
}

function AdjustPanel({
  s,
  sessions,
  zone,
  done,
}: {
  s: Session;
  sessions: Session[];
  zone: string;
  done: (updated: Session) => void;
}) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [said, setSaid] = useState("");
  const start = localParts(s.startTime ?? new Date().toISOString(), zone);
  const cancelled = s.status === "SESSION_STATUS_CANCELLED";
  // A chosen session's details take focus (they open below the grid, off-screen on a phone), so the
  // keyboard and a screen reader continue from them.
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    heading.current?.focus();
    setError(null);
    setSaid("");
  }, [s.id]);

  async function send(body: Parameters<typeof adjust>[1], what: string) {
    setBusy(true);
    setError(null);
    setSaid("");
    try {
      const updated = await adjust(s.id ?? "", body);
      setSaid(what);
      done(updated);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  function submit(e: Event) {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    const date = String(f.get("date") ?? "");
    const time = String(f.get("time") ?? "");
    const room = String(f.get("room") ?? "");
    const body: Parameters<typeof adjust>[1] = { note: String(f.get("note") ?? "") };
    if (date !== start.date || time !== start.time) body.startTime = instantIn(date, time, zone);
    if (room !== (s.room ?? "")) body.room = room;
    void send(body, "The session was changed.");
  }

  const clashes = error instanceof ConflictError ? error.clashes : [];
  return (
    <section class="adjust" aria-labelledby="adjust-h">
      <h2 id="adjust-h" tabIndex={-1} ref={heading}>Session on {when(s.startTime, zone)}</h2>
      <p>
        {timeOf(s.startTime, zone)}–{timeOf(s.endTime, zone)} · {s.room || "no room"}
        {cancelled && <> · <span class="badge bad">Cancelled</span></>}
        {s.note && <> · {s.note}</>}
      </p>
      {!cancelled && (
        <p>
          <a href={`/mtss/programs/${s.interventionId}/sessions/${s.id}/attendance`}>Take attendance for this session</a>
        </p>
      )}
      {canManage() && !cancelled && (
        <form onSubmit={submit} key={s.id}>
          <div class="grid-2">
            <Field label="Date" name="date" error={error}>
              {(p) => <input {...p} type="date" defaultValue={start.date} required />}
            </Field>
            <Field label={`Starts at (${zone})`} name="startTime" error={error}>
              {(p) => <input {...p} name="time" type="time" defaultValue={start.time} required />}
            </Field>
          </div>
          <Field label="Room" name="room" error={error}>
            {(p) => <input {...p} defaultValue={s.room ?? ""} maxLength={200} />}
          </Field>
          <Field label="Note (why it changed)" name="note" error={error}>
            {(p) => <input {...p} maxLength={2000} />}
          </Field>
          {clashes.length > 0 ? (
            <div role="alert" class="error-box">
              <strong>Not changed: that would double-book.</strong>
              <ul>
                {clashes.map((c) => (
                  <li key={`${c.kind}${c.resource}${c.other}`}>{clashInWords(c, sessions, zone, s.id ?? "")}</li>
                ))}
              </ul>
            </div>
          ) : (
            <ErrorBox error={error} />
          )}
          {said && <p role="status">{said}</p>}
          <div class="row">
            <button type="submit" disabled={busy}>Save changes</button>
            <button
              type="button"
              class="secondary outline"
              disabled={busy}
              onClick={(e) => {
                const note = String(new FormData((e.currentTarget as HTMLButtonElement).form!).get("note") ?? "");
                void send({ cancel: true, note }, "The session was cancelled.");
              }}
            >
              Cancel this session
            </button>
          </div>
        </form>
      )}
      {said && cancelled && <p role="status">{said}</p>}
    </section>
  );
}

export default function Calendar({ id }: { id: string }) {
  const state = useAsync(async () => {
    const [intervention, sessions] = await Promise.all([
      call(api.GET("/v1/mtss/interventions/{intervention_id}", { params: { path: { intervention_id: id } } })),
      call(api.GET("/v1/mtss/interventions/{intervention_id}/sessions", { params: { path: { intervention_id: id } } })),
    ]);
    return { intervention, sessions: sessions.sessions ?? [] };
  }, [id]);
  const [view, setView] = useState<View>("week");
  const [anchor, setAnchor] = useState("");
  const [selected, setSelected] = useState("");
  const [changed, setChanged] = useState<Record<string, Session>>({});

  return (
    <Page title="Program calendar">
      <Show state={state}>
        {({ intervention, sessions: loaded }) => {
          const zone = zoneOf(intervention);
          const sessions = loaded.map((s) => changed[s.id ?? ""] ?? s);
          const at = anchor || nextSession(sessions, zone)?.localDate || todayIn(zone);
          const { days, month } = daysOf(view, at);
          const byDay = new Map<string, Session[]>();
          for (const s of sessions) {
            const list = byDay.get(s.localDate ?? "") ?? [];
            list.push(s);
            byDay.set(s.localDate ?? "", list);
          }
          for (const list of byDay.values()) list.sort((a, b) => (a.startTime ?? "").localeCompare(b.startTime ?? ""));
          const today = todayIn(zone);
          const chosen = sessions.find((s) => s.id === selected);
          const heading = view === "week" ? `Week of ${dayName(days[0], "long")}` : monthName(at);
          const step = (n: number) =>
            setAnchor(view === "week" ? addDays(at, 7 * n) : fromDay(Date.UTC(+at.slice(0, 4), +at.slice(5, 7) - 1 + n, 1)));
          const weeks = Array.from({ length: days.length / 7 }, (_, w) => days.slice(w * 7, w * 7 + 7));
          return (
            <>
              <p>
                <a href={`/mtss/programs/${id}`}>{intervention.name}</a> · times in {zone} ·{" "}
                {sessions.filter((s) => s.status === "SESSION_STATUS_SCHEDULED").length} sessions scheduled
              </p>
              <div class="cal-bar">
                <div role="group" aria-label="Show" class="row">
                  <button class="toggle" aria-pressed={view === "week" ? "true" : "false"} onClick={() => setView("week")}>Week</button>
                  <button class="toggle" aria-pressed={view === "month" ? "true" : "false"} onClick={() => setView("month")}>Month</button>
                </div>
                <div class="row">
                  <button class="secondary" onClick={() => step(-1)}>Previous {view}</button>
                  <button class="secondary outline" onClick={() => setAnchor(today)}>Today</button>
                  <button class="secondary" onClick={() => step(1)}>Next {view}</button>
                </div>
              </div>
              <table class={`cal ${view}`}>
                <caption>{heading}</caption>
                <thead>
                  <tr>{WEEKDAYS.map((d) => <th scope="col" key={d}>{d.slice(0, 3)}<span class="visually-hidden">{d.slice(3)}</span></th>)}</tr>
                </thead>
                <tbody>
                  {weeks.map((week) => (
                    <tr key={week[0]}>
                      {week.map((d) => {
                        const list = byDay.get(d) ?? [];
                        const outside = month !== "" && !d.startsWith(month);
                        return (
                          <td key={d} class={`${outside ? "outside" : ""} ${d === today ? "today" : ""} ${list.length ? "" : "none"}`}>
                            <div class="day">{dayName(d)}{d === today && <span class="visually-hidden"> (today)</span>}</div>
                            {list.map((s) => {
                              const off = s.status === "SESSION_STATUS_CANCELLED";
                              return (
                                <button
                                  key={s.id}
                                  data-session={s.id}
                                  class={`session ${off ? "cancelled" : ""}`}
                                  aria-pressed={s.id === selected ? "true" : "false"}
                                  onClick={() => setSelected(s.id ?? "")}
                                >
                                  {timeOf(s.startTime, zone)}
                                  {s.room ? ` · ${s.room}` : ""}
                                  {off && " · cancelled"}
                                </button>
                              );
                            })}
                          </td>
                        );
                      })}
                    </tr>
                  ))}
                </tbody>
              </table>
              {sessions.length === 0 && <p class="empty">This program has no sessions.</p>}
              {chosen ? (
                <AdjustPanel
                  s={chosen}
                  sessions={sessions}
                  zone={zone}
                  done={(u) => {
                    setChanged((c) => ({ ...c, [u.id ?? ""]: u }));
                    if (u.localDate) setAnchor(u.localDate);
                  }}
                />
              ) : (
                <p class="muted">Choose a session to see it, take its attendance or change it.</p>
              )}
            </>
          );
        }}
      </Show>
    </Page>
  );
}
