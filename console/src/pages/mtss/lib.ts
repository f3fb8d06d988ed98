// What the MTSS pages share: the API's types under short names, times shown in the school's zone (a
// session is a wall-clock meeting there, whatever the browser's zone), the school-zone → instant
// conversion a move needs, the students' names, the programs this browser knows, and double-booking
// refusals turned into words.
import { api, call } from "../../api/client";
import { ApiError } from "../../api/errors";
import type { components } from "../../api/schema";
import { session } from "../../auth";

type S = components["schemas"];
export type Intervention = S["learnflow.mtss.v1.Intervention"];
export type Template = S["learnflow.mtss.v1.Template"];
export type Session = S["learnflow.mtss.v1.Session"];
export type StudentRow = S["learnflow.mtss.v1.StudentRow"];
export type InterventionDashboard = S["learnflow.mtss.v1.InterventionDashboard"];
export type StudentDashboard = S["learnflow.mtss.v1.StudentDashboard"];
export type ProgressEntry = S["learnflow.mtss.v1.ProgressEntry"];
export type AttendanceRecord = S["learnflow.mtss.v1.AttendanceRecord"];
export type AttendanceStatus = S["learnflow.mtss.v1.AttendanceStatus"];
export type Candidate = S["learnflow.mtss.v1.Candidate"];
export type Communication = S["learnflow.mtss.v1.Communication"];
export type User = S["learnflow.identity.v1.User"];

/** Who may open which MTSS page (the API enforces the same; docs/mtss.md, Roles). */
export const STAFF = ["teacher", "facilitator", "admin"] as const;
export const MANAGERS = ["teacher", "admin"] as const;

export const canManage = () => session.has(...MANAGERS);

export const SCHOOL_ZONE_DEFAULT = "UTC";

/** The school's zone of a program (its schedule's), or UTC when it has none. */
export const zoneOf = (i: Intervention | undefined) => i?.schedule?.timeZone || SCHOOL_ZONE_DEFAULT;

/** "Mon 7 Dec, 09:00" in the school's zone. */
export function when(iso: string | undefined, zone: string, opts: Intl.DateTimeFormatOptions = {}): string {
  if (!iso) return "";
  return new Intl.DateTimeFormat(undefined, {
    timeZone: zone,
    weekday: "short",
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
    ...opts,
  }).format(new Date(iso));
}

export const timeOf = (iso: string | undefined, zone: string) =>
  when(iso, zone, { weekday: undefined, day: undefined, month: undefined });

/** The wall-clock parts of an instant in a zone. */
function wall(instant: number, zone: string): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: zone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(new Date(instant));
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? 0);
  return Date.UTC(get("year"), get("month") - 1, get("day"), get("hour") % 24, get("minute"), get("second"));
}

/**
 * The instant of a wall-clock date and time in a zone (what a move sends): start from the time as if
 * it were UTC, subtract the zone's offset there, and correct once more for an offset that differs on
 * the other side of a daylight-saving change.
 */
export function instantIn(date: string, time: string, zone: string): string {
  const [y, m, d] = date.split("-").map(Number);
  const [hh, mm] = time.split(":").map(Number);
  const target = Date.UTC(y, m - 1, d, hh, mm);
  let guess = target - (wall(target, zone) - target);
  guess += target - wall(guess, zone);
  return new Date(guess).toISOString();
}

/** YYYY-MM-DD and HH:MM of an instant in a zone (to prefill a move). */
export function localParts(iso: string, zone: string): { date: string; time: string } {
  const w = new Date(wall(new Date(iso).getTime(), zone)).toISOString();
  return { date: w.slice(0, 10), time: w.slice(11, 16) };
}

/** Today's date in a zone, YYYY-MM-DD. */
export const todayIn = (zone: string) => localParts(new Date().toISOString(), zone).date;

export const pct = (r: number | undefined) => `${Math.round((r ?? 0) * 100)} %`;

export const shortId = (id: string | undefined) => (id ?? "").slice(0, 8);

// ---- Names -------------------------------------------------------------------------------------

let directory: Promise<Map<string, User>> | null = null;

/**
 * The tenant's users by id (identity's ListUsers, every page), so rosters show names, not UUIDs.
 * Loaded once per page load; a role that may not list users (a caregiver) gets an empty map and sees
 * short ids instead.
 */
export function users(): Promise<Map<string, User>> {
  if (!directory) {
    directory = (async () => {
      const byId = new Map<string, User>();
      let token = "";
      for (let i = 0; i < 50; i++) {
        const page = await call(api.GET("/v1/users", { params: { query: { pageSize: 200, pageToken: token || undefined } } }));
        for (const u of page.users ?? []) if (u.id) byId.set(u.id, u);
        token = page.nextPageToken ?? "";
        if (!token) break;
      }
      return byId;
    })().catch((err) => {
      directory = null; // try again on the next page rather than keep a failure
      if (err instanceof ApiError && err.status === 403) return new Map<string, User>();
      throw err;
    });
  }
  return directory;
}

export function nameOf(map: Map<string, User> | undefined, id: string | undefined): string {
  const u = id ? map?.get(id) : undefined;
  return u ? u.displayName || u.email : `Student ${shortId(id)}`;
}

export function studentsOf(map: Map<string, User> | undefined): User[] {
  return [...(map?.values() ?? [])]
    .filter((u) => u.roles.includes("ROLE_STUDENT") && !u.disabled)
    .sort((a, b) => (a.displayName || a.email).localeCompare(b.displayName || b.email));
}

// ---- The programs this browser knows ------------------------------------------------------------
// The API has no "list interventions" call (only create and get by id), so the programs page lists the
// ones created or opened here, per user, newest first. Listed as a gap in the report.

// ---- Double bookings ----------------------------------------------------------------------------

export interface Clash {
  kind: string;
  resource: string;
  session: string;
  other: string;
}

/** Raised by `adjust`: the API's refusal plus the conflicts it named (metadata.conflicts). */
export class ConflictError extends ApiError {
  clashes: Clash[] = [];
}

/**
 * AdjustSession, keeping what `call` drops: a SCHEDULE_CONFLICT refusal carries
 * `metadata.conflicts = kind:resource:session:other;...`, which the calendar turns into sentences
 * naming the sessions by their day and time.
 */
export async function adjust(
  sessionId: string,
  body: { startTime?: string; room?: string; cancel?: boolean; note?: string },
): Promise<Session> {
  const { data, error, response } = await api.POST("/v1/mtss/sessions/{session_id}:adjust", {
    params: { path: { session_id: sessionId } },
    body,
  });
  if (response.ok && error === undefined) return data as Session;
  const err = new ConflictError(response.status, error, response.headers.get("retry-after"));
  const details = ((error ?? {}) as { details?: Array<Record<string, unknown>> }).details ?? [];
  for (const d of details) {
    if (d.reason !== "SCHEDULE_CONFLICT") continue;
    const raw = String((d.metadata as Record<string, string> | undefined)?.conflicts ?? "");
    for (const item of raw.split(";").filter(Boolean)) {
      // The resource (a room name) may itself hold a colon: the kind is first, the two ids last.
      const parts = item.split(":");
      if (parts.length < 4) continue;
      const other = parts.pop()!;
      const mine = parts.pop()!;
      const kind = parts.shift()!;
      err.clashes.push({ kind, resource: parts.join(":"), session: mine, other });
    }
  }
  throw err;
}

/** "Room 12 is already booked then by the session on Wed 9 Dec, 09:00 (this program)." */
export function clashInWords(c: Clash, sessions: Session[], zone: string, moving: string): string {
  const otherId = c.session === moving ? c.other : c.session;
  const other = sessions.find((s) => s.id === otherId);
  // The API compares rooms case-insensitively and names them in lower case; show the room as spelled.
  const room = [other?.room, ...sessions.map((s) => s.room)].find((r) => r?.toLowerCase() === c.resource) ?? c.resource;
  const what =
    c.kind === "room" ? `Room “${room}”` : c.kind === "facilitator" ? "The facilitator" : "A student in this group";
  const named = other
    ? `the session on ${when(other.startTime, zone)} of this program`
    : `a session of another program (session ${shortId(otherId)})`;
  return `${what} is already booked at that time by ${named}.`;
}
