"""Interoperability: Ed-Fi resource shapes (JSON) out and back in, and iCalendar feeds.

Ed-Fi (Data Standard 5, resources /ed-fi/interventions, /ed-fi/studentInterventionAssociations,
/ed-fi/studentInterventionAttendanceEvents) has no recurrence, sessions, goals, exit criteria or
enrollment source, and keys attendance by date, so two sessions a day collide. What Ed-Fi lacks goes
under `_ext.learnflow`, Ed-Fi's own extension convention; the attendance event carries its session's
start there so the import can put it back on the right session. Identifiers are codes and user ids,
never our row ids, so an export imported into another tenant exports the same document.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from services.mtss.domain.programs import (
    Attendance,
    Enrollment,
    ExitCriteria,
    GoalSpec,
    Intervention,
    Session,
)
from services.mtss.domain.schedule import MAX_DURATION, Schedule

CLASS = "uri://ed-fi.org/InterventionClassDescriptor#"
DELIVERY = "uri://ed-fi.org/DeliveryMethodDescriptor#"
CATEGORY = "uri://ed-fi.org/AttendanceEventCategoryDescriptor#"
# Ed-Fi's attendance categories for our four statuses.
CATEGORIES = {
    "present": "In Attendance",
    "absent": "Unexcused Absence",
    "tardy": "Tardy",
    "excused": "Excused Absence",
}
STATUS_OF = {v: k for k, v in CATEGORIES.items()}


def _ref(code: str) -> dict[str, Any]:
    return {"interventionIdentificationCode": code}


def intervention_doc(i: Intervention, sessions: list[Session]) -> dict[str, Any]:
    s = i.schedule
    end = (datetime.combine(date(2000, 1, 1), s.start_time) + timedelta(minutes=s.duration_minutes)).time()
    return {
        "interventionIdentificationCode": i.code,
        "interventionClassDescriptor": CLASS + i.intervention_class,
        "deliveryMethodDescriptor": DELIVERY + i.delivery_method,
        "beginDate": i.begin_date.isoformat(),
        "endDate": i.end_date.isoformat(),
        "minDosage": i.minutes_per_week,
        "meetingTimes": [
            {"startTime": s.start_time.strftime("%H:%M:%S"), "endTime": end.strftime("%H:%M:%S")}
        ],
        "staffs": [{"staffReference": {"staffUniqueId": f}} for f in i.facilitator_ids],
        "_ext": {
            "learnflow": {
                "name": i.name,
                "objectives": list(i.objectives),
                "targetPopulation": i.target_population,
                "ownerId": i.owner_id,
                "room": i.room,
                "template": {"key": i.template_key, "version": i.template_version},
                "goal": {
                    "measure": i.goal.measure,
                    "baseline": float(i.goal.baseline),
                    "target": float(i.goal.target),
                    "goalDate": i.goal.goal_date.isoformat(),
                },
                "exitCriteria": {"pointsAtGoal": i.exit.points_at_goal, "minWeeks": i.exit.min_weeks},
                "schedule": {
                    "rrule": s.rrule,
                    "startTime": s.start_time.strftime("%H:%M"),
                    "durationMinutes": s.duration_minutes,
                    "timeZone": s.time_zone,
                    "holidays": [d.isoformat() for d in s.holidays],
                    "exceptions": [d.isoformat() for d in s.exceptions],
                    "extraDates": [d.isoformat() for d in s.extra_dates],
                },
                "sessions": [
                    {
                        "start": x.starts_at.astimezone(UTC).isoformat(),
                        "end": x.ends_at.astimezone(UTC).isoformat(),
                        "localDate": x.local_date.isoformat(),
                        "room": x.room,
                        "facilitatorId": x.facilitator_id,
                        "status": x.status,
                        "note": x.note,
                    }
                    for x in sessions
                ],
            }
        },
    }


def enrollment_doc(code: str, e: Enrollment) -> dict[str, Any]:
    return {
        "interventionReference": _ref(code),
        "studentReference": {"studentUniqueId": e.student_id},
        "diagnosticStatement": e.reason[:1024],
        "_ext": {
            "learnflow": {
                "source": e.source,
                "enrolledBy": e.enrolled_by,
                "beginDate": e.begin_date.isoformat(),
                "endDate": e.end_date.isoformat() if e.end_date else None,
                "status": e.status,
                "exitConfirmedBy": e.exit_confirmed_by,
                "exitReason": e.exit_reason,
            }
        },
    }


def attendance_doc(code: str, s: Session, a: Attendance) -> dict[str, Any]:
    return {
        "attendanceEventCategoryDescriptor": CATEGORY + CATEGORIES[a.status],
        "eventDate": s.local_date.isoformat(),
        "interventionReference": _ref(code),
        "studentReference": {"studentUniqueId": a.student_id},
        "attendanceEventReason": a.note[:255],
        "interventionDuration": a.minutes,
        "_ext": {
            "learnflow": {
                "sessionStart": s.starts_at.astimezone(UTC).isoformat(),
                "reasonCode": a.reason_code,
                "recordedBy": a.recorded_by,
            }
        },
    }


@dataclass(frozen=True)
class Imported:
    intervention: Intervention
    sessions: list[Session]


def intervention_from(doc: dict[str, Any], new_id: str, tenant_id: str, session_ids: list[str]) -> Imported:
    """Raises KeyError/ValueError/TypeError on a document that is not ours; the service turns those
    into INVALID_ARGUMENT naming the document."""
    x = doc["_ext"]["learnflow"]
    s, g, e = x["schedule"], x["goal"], x["exitCriteria"]
    i = Intervention(
        id=new_id,
        tenant_id=tenant_id,
        code=str(doc["interventionIdentificationCode"])[:60],
        name=str(x["name"]),
        objectives=tuple(str(o) for o in x["objectives"]),
        target_population=str(x["targetPopulation"]),
        owner_id=str(x["ownerId"]),
        facilitator_ids=tuple(str(f["staffReference"]["staffUniqueId"]) for f in doc["staffs"]),
        room=str(x["room"]),
        goal=GoalSpec(
            str(g["measure"]), float(g["baseline"]), float(g["target"]), date.fromisoformat(g["goalDate"])
        ),
        minutes_per_week=int(doc["minDosage"]),
        begin_date=date.fromisoformat(doc["beginDate"]),
        end_date=date.fromisoformat(doc["endDate"]),
        schedule=Schedule(
            rrule=str(s["rrule"]),
            start_time=time.fromisoformat(s["startTime"]),
            duration_minutes=int(s["durationMinutes"]),
            time_zone=str(s["timeZone"]),
            holidays=tuple(date.fromisoformat(d) for d in s["holidays"]),
            exceptions=tuple(date.fromisoformat(d) for d in s["exceptions"]),
            extra_dates=tuple(date.fromisoformat(d) for d in s["extraDates"]),
        ),
        template_key=str(x["template"]["key"]),
        template_version=int(x["template"]["version"]),
        intervention_class=str(doc["interventionClassDescriptor"]).removeprefix(CLASS),
        delivery_method=str(doc["deliveryMethodDescriptor"]).removeprefix(DELIVERY),
        exit=ExitCriteria(int(e["pointsAtGoal"]), int(e["minWeeks"])),
    )
    sessions = [
        Session(
            id=sid,
            intervention_id=new_id,
            starts_at=datetime.fromisoformat(r["start"]),
            ends_at=datetime.fromisoformat(r["end"]),
            local_date=date.fromisoformat(r["localDate"]),
            room=str(r["room"]),
            facilitator_id=str(r["facilitatorId"]),
            status=str(r["status"]) if r["status"] in ("scheduled", "cancelled") else "scheduled",
            note=str(r["note"]),
        )
        for sid, r in zip(session_ids, x["sessions"], strict=True)
    ]
    for s in sessions:
        # Conflict checks rely on no session lasting longer than a schedule allows (store.py).
        if not timedelta(0) < s.ends_at - s.starts_at <= timedelta(minutes=MAX_DURATION):
            raise ValueError(f"a session lasts {s.ends_at - s.starts_at}, not 5-{MAX_DURATION} minutes")
    return Imported(i, sessions)


# --- iCalendar (RFC 5545) -------------------------------------------------------------------------


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Lines longer than 75 octets are folded: CRLF and one space (RFC 5545 §3.1)."""
    raw = line.encode()
    if len(raw) <= 75:
        return line
    parts, start = [], 0
    while start < len(raw):
        size = 75 if start == 0 else 74
        end = min(start + size, len(raw))
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:  # never split a UTF-8 character
            end -= 1
        parts.append(raw[start:end].decode())
        start = end
    return "\r\n ".join(parts)


def _stamp(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def calendar(name: str, sessions: list[tuple[Session, str]], now: datetime) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//LearnFlow//mtss//EN",
        "CALSCALE:GREGORIAN",
        f"X-WR-CALNAME:{_escape(name)}",
    ]
    for s, title in sessions:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{s.id}@mtss.learnflow",
            f"DTSTAMP:{_stamp(now)}",
            f"DTSTART:{_stamp(s.starts_at)}",
            f"DTEND:{_stamp(s.ends_at)}",
            f"SUMMARY:{_escape(title)}",
        ]
        if s.room:
            lines.append(f"LOCATION:{_escape(s.room)}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
