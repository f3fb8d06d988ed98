"""activity's domain: LMS attempts, the monotonic state machine that turns them into standard events,
the deterministic event ids, the xAPI shape of an event and the mentor's message. Pure logic: no gRPC,
SQLAlchemy or NATS here (tests/contracts/test_architecture.py holds it to that). docs/activity.md
explains the choices."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.runtime.errors import Violations

# The two LMS tables the monitor reads (seed 004: `Attempts`, `ContentAttempts`).
EXAMS = "attempts"
CONTENTS = "contentattempts"
SOURCES = (EXAMS, CONTENTS)

# Each attempt moves up these ranks: started → completed → passed | failed for an exam; started →
# completed | watched for content. A state at a higher rank implies the lower ones (an exam seen first
# as `failed` was started and completed), so the events of an attempt depend only on the states the
# LMS reached, never on when the monitor happened to look. Two states of one rank are alternatives:
# once one is emitted the other is a conflict, skipped and logged.
RANKS: dict[str, dict[str, int]] = {
    EXAMS: {"started": 0, "completed": 1, "passed": 2, "failed": 2},
    CONTENTS: {"started": 0, "completed": 1, "watched": 1},
}
PREFIX = {EXAMS: "exam", CONTENTS: "content"}
EVENT_TYPES = (
    "exam_started",
    "exam_completed",
    "exam_passed",
    "exam_failed",
    "content_started",
    "content_completed",
    "content_watched",
)

# uuid5 namespace of activity's event ids (fixed forever: changing it would change every id).
EVENT_NAMESPACE = uuid.UUID("6f1f5b8e-3a4c-5d7e-9b2a-0c1d2e3f4a5b")

MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class Mentor:
    id: int
    name: str
    email: str


@dataclass(frozen=True)
class LmsAttempt:
    """One row of `attempts` or `contentattempts`, joined with its student and exam/content (None
    when the LMS row points at nothing), as the monitor read it."""

    source: str
    id: int
    state: str
    updated_at: datetime
    student_id: int | None = None
    student_name: str | None = None
    student_email: str | None = None
    activity_id: int | None = None
    activity_title: str | None = None
    course: str = ""
    chapter: str = ""
    score: float | None = None
    percentage: float | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    mentors: tuple[Mentor, ...] = ()


@dataclass(frozen=True)
class Tracked:
    """What we know of one LMS attempt: the highest state we emitted ("" none yet) and the LMS's
    state and change time as last read (the completeness audit compares these with the LMS)."""

    source: str
    attempt_id: int
    state: str
    lms_state: str
    lms_updated_at: datetime
    rejected: str = ""


@dataclass(frozen=True)
class Decision:
    """What one read of an attempt does: the states to emit events for (in order), or why nothing
    is emitted (`skip`: a duplicate, a regression or a conflict; `reject`: a bad LMS row)."""

    emit: tuple[str, ...] = ()
    skip: str = ""
    reject: str = ""


def decide(attempt: LmsAttempt, emitted: str) -> Decision:
    """The state machine. `emitted` is the highest state already emitted for the attempt ("" none)."""
    ranks = RANKS[attempt.source]
    if attempt.state not in ranks:
        return Decision(reject=f"unknown state {attempt.state!r}")
    if attempt.student_id is None or attempt.student_name is None:
        return Decision(reject=f"missing student {attempt.student_id}")
    if attempt.activity_id is None or attempt.activity_title is None:
        what = "exam" if attempt.source == EXAMS else "content"
        return Decision(reject=f"missing {what} {attempt.activity_id}")
    new = ranks[attempt.state]
    if emitted:
        old = ranks[emitted]
        if attempt.state == emitted:
            return Decision(skip="duplicate")
        if new < old:
            return Decision(skip=f"regression {emitted} → {attempt.state}")
        if new == old:
            return Decision(skip=f"conflict {emitted} → {attempt.state}")
    else:
        old = -1
    # The implied chain up to the state seen: the first state of each lower rank, then the state.
    chain = [next(s for s, r in ranks.items() if r == rank) for rank in range(new)] + [attempt.state]
    return Decision(emit=tuple(s for s in chain if ranks[s] > old))


def event_type(source: str, state: str) -> str:
    return f"{PREFIX[source]}_{state}"


def event_id(lms: str, source: str, attempt_id: int, state: str) -> str:
    """The same LMS row and state always give the same id (a replay or re-read is idempotent);
    different attempts or states never share one."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{lms}:{source}:{attempt_id}:{state}"))


@dataclass(frozen=True)
class Notification:
    """The notification log per event and mentor (seed step 1's LMSEventLog): `sent` once notify
    accepted the DM (`message_id` is notify's delivery id: its log has the Zulip message id and the
    retries); else `error` says why (no LearnFlow account for the mentor's email, notify refused)."""

    event_id: str
    mentor_id: int
    channel: str
    sent: bool
    message_id: str = ""
    error: str = ""
    processed_at: datetime | None = None


@dataclass(frozen=True)
class ActivityEvent:
    event_id: str
    tenant_id: str
    event_type: str
    source: str
    attempt_id: int
    student_id: int
    student_name: str
    student_email: str
    activity_id: int
    activity_title: str
    occurred_at: datetime
    mentors: tuple[Mentor, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    statement: dict[str, Any] = field(default_factory=dict)
    # The LearnFlow user linked by email ("" while none matches).
    user_id: str = ""
    processed_for_ai: bool = False
    sequence: int = 0
    created_at: datetime | None = None
    notifications: tuple[Notification, ...] = ()


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return max((b - a).total_seconds(), 0.0)


def build_event(
    lms: str, tenant_id: str, attempt: LmsAttempt, state: str, user_id: str = ""
) -> ActivityEvent:
    """The standard event for `attempt` reaching `state` (seed step 1's fields)."""
    assert attempt.student_id is not None and attempt.activity_id is not None  # decide() rejected these
    first = RANKS[attempt.source][state] == 0
    occurred = (attempt.started_at if first else attempt.finished_at) or attempt.updated_at
    metadata: dict[str, Any] = {"course": attempt.course, "chapter": attempt.chapter}
    if not first:
        if attempt.score is not None:
            metadata["score"] = attempt.score
        if attempt.percentage is not None:
            metadata["percentage"] = attempt.percentage
        if (duration := _seconds(attempt.started_at, attempt.finished_at)) is not None:
            metadata["duration_seconds"] = duration
    ev = ActivityEvent(
        event_id=event_id(lms, attempt.source, attempt.id, state),
        tenant_id=tenant_id,
        event_type=event_type(attempt.source, state),
        source=attempt.source,
        attempt_id=attempt.id,
        student_id=attempt.student_id,
        student_name=attempt.student_name or "",
        student_email=attempt.student_email or "",
        activity_id=attempt.activity_id,
        activity_title=attempt.activity_title or "",
        occurred_at=occurred,
        mentors=attempt.mentors,
        metadata=metadata,
        user_id=user_id,
    )
    return ActivityEvent(**{**ev.__dict__, "statement": xapi_statement(lms, ev)})


# --- xAPI -----------------------------------------------------------------------------------------

VERBS = {
    "started": ("http://adlnet.gov/expapi/verbs/attempted", "attempted"),
    "completed": ("http://adlnet.gov/expapi/verbs/completed", "completed"),
    "passed": ("http://adlnet.gov/expapi/verbs/passed", "passed"),
    "failed": ("http://adlnet.gov/expapi/verbs/failed", "failed"),
    "watched": ("https://w3id.org/xapi/video/verbs/played", "watched"),
}
ACTIVITY_TYPES = {
    EXAMS: "http://adlnet.gov/expapi/activities/assessment",
    CONTENTS: "http://adlnet.gov/expapi/activities/lesson",
}


def iso_duration(seconds: float) -> str:
    return f"PT{seconds:.2f}S".replace(".00S", "S")


def xapi_statement(lms: str, ev: ActivityEvent) -> dict[str, Any]:
    """The event as an xAPI 1.0.3 statement: the id is the event id (an LRS treats a re-sent
    statement with the same id and content as a no-op)."""
    state = ev.event_type.split("_", 1)[1]
    verb_id, verb = VERBS[state]
    home = f"lms://{lms}"
    kind = "exams" if ev.source == EXAMS else "contents"
    result: dict[str, Any] = {}
    if "percentage" in ev.metadata:
        result["score"] = {"scaled": round(min(max(ev.metadata["percentage"] / 100, -1), 1), 4)}
        if "score" in ev.metadata:
            result["score"]["raw"] = ev.metadata["score"]
    if state in ("passed", "failed"):
        result["success"] = state == "passed"
    if state in ("completed", "passed", "failed", "watched"):
        result["completion"] = True
    if "duration_seconds" in ev.metadata:
        result["duration"] = iso_duration(ev.metadata["duration_seconds"])
    statement: dict[str, Any] = {
        "id": ev.event_id,
        "actor": {
            "objectType": "Agent",
            "name": ev.student_name,
            "account": {"homePage": home, "name": str(ev.student_id)},
        },
        "verb": {"id": verb_id, "display": {"en-US": verb}},
        "object": {
            "objectType": "Activity",
            "id": f"{home}/{kind}/{ev.activity_id}",
            "definition": {"name": {"en-US": ev.activity_title}, "type": ACTIVITY_TYPES[ev.source]},
        },
        "context": {
            "platform": "LMS",
            "extensions": {
                f"{home}/course": ev.metadata.get("course", ""),
                f"{home}/chapter": ev.metadata.get("chapter", ""),
                f"{home}/attempt": ev.attempt_id,
            },
        },
        "timestamp": ev.occurred_at.isoformat(),
    }
    if ev.student_email:
        statement["actor"]["mbox"] = f"mailto:{ev.student_email}"
    if result:
        statement["result"] = result
    return statement


# --- the mentor's message (seed step 4) -------------------------------------------------------------


def human_duration(seconds: float) -> str:
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return " ".join(
        p for p in (f"{h}h" if h else "", f"{m}m" if m else "", f"{s}s" if s or not (h or m) else "") if p
    )


def format_message(ev: ActivityEvent) -> str:
    """Markdown for Zulip: 🎓 for an exam (score and pass/fail), 📚 for content, time taken, course
    and chapter."""
    state = ev.event_type.split("_", 1)[1]
    verb = {"started": "started", "completed": "completed", "watched": "watched"}.get(state, "completed")
    icon = "🎓" if ev.source == EXAMS else "📚"
    line = f"{icon} Student **{ev.student_name}** just {verb} **{ev.activity_title}**"
    if ev.source == EXAMS and state != "started":
        parts = []
        if "percentage" in ev.metadata:
            parts.append(f"Score: {ev.metadata['percentage']:g}%")
        if state in ("passed", "failed"):
            parts.append(f"Result: {'Pass' if state == 'passed' else 'Fail'}")
        if parts:
            line += " - " + ", ".join(parts)
    lines = [line]
    if "duration_seconds" in ev.metadata:
        lines.append(f"- Time taken: {human_duration(ev.metadata['duration_seconds'])}")
    if ev.source == CONTENTS and "percentage" in ev.metadata and state != "started":
        lines.append(f"- Completion: {ev.metadata['percentage']:g}%")
    where = " > ".join(p for p in (ev.metadata.get("course", ""), ev.metadata.get("chapter", "")) if p)
    if where:
        lines.append(f"- Course: {where}")
    return "\n".join(lines)


# --- monitor state and requests ------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """The monitor's position in one LMS table: everything at or before (updated_at, id) was read."""

    source: str
    updated_at: datetime | None
    id: int


@dataclass(frozen=True)
class MonitorState:
    """The monitor's row: its last poll, the watermark (everything the LMS committed before it was
    read), its last error and its counters."""

    last_poll_at: datetime | None = None
    watermark: datetime | None = None
    last_error: str = ""
    late_commit_guard: bool = False
    skipped: int = 0
    rejected: int = 0
    unmatched: tuple[str, ...] = ()


@dataclass(frozen=True)
class MonitorStatus:
    enabled: bool
    last_poll_at: datetime | None
    last_error: str
    cursors: tuple[Cursor, ...]
    watermark_age_seconds: float | None
    events_by_type: dict[str, int]
    rejected: int
    skipped: int
    unmatched_emails: tuple[str, ...]
    late_commit_guard: bool


@dataclass(frozen=True)
class EventFilter:
    student_id: int | None = None
    event_type: str = ""
    since: datetime | None = None
    until: datetime | None = None


def check_filter(f: EventFilter) -> None:
    v = Violations()
    if f.event_type and f.event_type not in EVENT_TYPES:
        v.add("event_type", f"must be one of {', '.join(EVENT_TYPES)}")
    if f.since and f.until and f.until < f.since:
        v.add("end_time", "must not be before start_time")
    v.raise_if_any()


def parse_event_types(spec: str) -> tuple[str, ...]:
    """LMS_EVENT_TYPES_TO_MONITOR: a comma list of event types, empty for all."""
    names = tuple(n.strip() for n in spec.split(",") if n.strip())
    unknown = [n for n in names if n not in EVENT_TYPES]
    if unknown:
        raise ValueError(f"unknown event types {unknown}; known: {', '.join(EVENT_TYPES)}")
    return names or EVENT_TYPES


def overlap_start(cursor: Cursor, overlap: timedelta) -> tuple[datetime, int] | None:
    """Where a poll starts reading: the overlap window before the cursor (rows that committed late
    with a time inside it are read again; what was read before is deduplicated by event id)."""
    if cursor.updated_at is None:
        return None
    return (cursor.updated_at - overlap, 0)
