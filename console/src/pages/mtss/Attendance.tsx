// Taking attendance on a tablet: the session's roster (the students active in the program on the
// session's date), one tap per student (Present / Absent / Excused; "Everyone present" for the usual
// day, then tap the exceptions), one Save. POST /v1/mtss/sessions/{id}/attendance stores one record a
// student (a correction replaces the earlier one); what the API stored is shown back after saving.
import { useState } from "preact/hooks";
import { api, call } from "../../api/client";
import { ErrorBox, Show, useAsync } from "../../ui/async";
import { Page } from "../../ui/page";
import { nameOf, timeOf, users, when, zoneOf, type AttendanceRecord, type AttendanceStatus } from "./lib";
import "./mtss.css";

const CHOICES: { status: AttendanceStatus; label: string }[] = [
  { status: "ATTENDANCE_STATUS_PRESENT", label: "Present" },
  { status: "ATTENDANCE_STATUS_ABSENT", label: "Absent" },
  { status: "ATTENDANCE_STATUS_EXCUSED", label: "Excused" },
];
const WORD: Record<string, string> = {
  ATTENDANCE_STATUS_PRESENT: "present",
  ATTENDANCE_STATUS_ABSENT: "absent",
  ATTENDANCE_STATUS_TARDY: "tardy",
  ATTENDANCE_STATUS_EXCUSED: "excused",
};

export default function Attendance({ id, sessionId }: { id: string; sessionId: string }) {
  const state = useAsync(async () => {
    const [intervention, dashboard, sessions, people] = await Promise.all([
      call(api.GET("/v1/mtss/interventions/{intervention_id}", { params: { path: { intervention_id: id } } })),
      call(api.GET("/v1/mtss/interventions/{intervention_id}/dashboard", { params: { path: { intervention_id: id } } })),
      call(api.GET("/v1/mtss/interventions/{intervention_id}/sessions", { params: { path: { intervention_id: id } } })),
      users(),
    ]);
    const meeting = (sessions.sessions ?? []).find((s) => s.id === sessionId);
    const roster = (dashboard.students ?? [])
      .filter((r) => r.status === "ENROLLMENT_STATUS_ACTIVE")
      .map((r) => ({ id: r.studentId ?? "", name: nameOf(people, r.studentId) }))
      .sort((a, b) => a.name.localeCompare(b.name));
    return { intervention, meeting, roster, people };
  }, [id, sessionId]);
  const [marks, setMarks] = useState<Record<string, AttendanceStatus>>({});
  const [saved, setSaved] = useState<AttendanceRecord[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const mark = (student: string, status: AttendanceStatus) => {
    setMarks((m) => ({ ...m, [student]: status }));
    setSaved(null);
  };

  return (
    <Page title="Take attendance">
      <Show state={state}>
        {({ intervention, meeting, roster, people }) => {
          const zone = zoneOf(intervention);
          if (!meeting) return <ErrorBox error={new Error("This session is not one of the program's sessions.")} />;
          const cancelled = meeting.status === "SESSION_STATUS_CANCELLED";
          const marked = roster.filter((r) => marks[r.id]).length;

          async function save() {
            setBusy(true);
            setError(null);
            try {
              const records = roster
                .filter((r) => marks[r.id])
                .map((r) => ({ studentId: r.id, status: marks[r.id] }));
              const r = await call(
                api.POST("/v1/mtss/sessions/{session_id}/attendance", {
                  params: { path: { session_id: sessionId } },
                  body: { records },
                }),
              );
              setSaved(r.records ?? []);
            } catch (err) {
              setError(err);
            } finally {
              setBusy(false);
            }
          }

          return (
            <>
              <p>
                <a href={`/mtss/programs/${id}`}>{intervention.name}</a> · {when(meeting.startTime, zone)}–
                {timeOf(meeting.endTime, zone)} · {meeting.room || "no room"}
              </p>
              {cancelled && <p class="error-box">This session was cancelled: no attendance can be taken.</p>}
              {roster.length === 0 ? (
                <p class="empty">Nobody is enrolled in this program yet.</p>
              ) : (
                <>
                  <div class="roster-actions">
                    <button
                      class="secondary"
                      disabled={cancelled}
                      onClick={() => {
                        setMarks(Object.fromEntries(roster.map((r) => [r.id, "ATTENDANCE_STATUS_PRESENT" as const])));
                        setSaved(null);
                      }}
                    >
                      Everyone present
                    </button>
                  </div>
                  <ul class="roster" aria-label="Roster">
                    {roster.map((r) => (
                      <li key={r.id}>
                        <span class="who-name" id={`st-${r.id}`}>{r.name}</span>
                        <div role="group" aria-labelledby={`st-${r.id}`} class="taps">
                          {CHOICES.map((c) => (
                            <button
                              key={c.status}
                              type="button"
                              disabled={cancelled}
                              class={`tap ${c.label.toLowerCase()}`}
                              aria-pressed={marks[r.id] === c.status ? "true" : "false"}
                              aria-label={`${c.label}: ${r.name}`}
                              onClick={() => mark(r.id, c.status)}
                            >
                              {c.label}
                            </button>
                          ))}
                        </div>
                      </li>
                    ))}
                  </ul>
                  <ErrorBox error={error} />
                  <button
                    class="save"
                    disabled={busy || cancelled || marked === 0}
                    aria-busy={busy ? "true" : undefined}
                    onClick={() => void save()}
                  >
                    Save attendance ({marked} of {roster.length})
                  </button>
                </>
              )}
              {saved && (
                <section role="status" aria-label="Saved attendance">
                  <p><strong>Saved.</strong> The program now has these records for this session:</p>
                  <ul>
                    {saved.map((a) => (
                      <li key={a.studentId}>
                        {nameOf(people, a.studentId)}: {WORD[a.status ?? ""] ?? a.status}
                        {a.minutes ? `, ${a.minutes} minutes` : ""}
                      </li>
                    ))}
                  </ul>
                </section>
              )}
            </>
          );
        }}
      </Show>
    </Page>
  );
}
