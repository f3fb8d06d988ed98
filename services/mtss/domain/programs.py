"""Interventions, their templates, sessions, enrollments, attendance, progress notes, exit decisions
and dosage: the records and the rules about them. Names follow Ed-Fi where Ed-Fi has the thing
(Intervention, InterventionPrescription = our template, StudentInterventionAssociation = enrollment,
StudentInterventionAttendanceEvent = attendance); sessions, goals, exit criteria and dosage tracking
are our extensions (docs/mtss.md)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time

from services.mtss.domain.analysis import CHANGE, Analysis
from services.mtss.domain.schedule import Schedule, check_schedule
from services.runtime.errors import FailedPrecondition, PermissionDenied, Violations
from services.runtime.request_context import Principal

MAX_TEXT = 2000
MAX_NAME = 200
MAX_ITEMS = 50
# An "intensify" (change instruction) recommendation is held back while delivered dosage is below
# this share of the plan: weak progress with too few minutes says little about the intervention.
FIDELITY_THRESHOLD = 0.8

MANAGERS = ("teacher", "admin")  # teachers and interventionists manage programs
STAFF = ("teacher", "facilitator", "admin", "mentor")

# The dates a program, a goal or a progress entry may name: the years every context accepts (the
# runtime bounds request timestamps the same way). Outside them a local time placed in UTC can leave
# Python's years 1-9999 (0001-01-01 08:00 in Tokyo is in year 0), and no school needs them.
EARLIEST_DATE, LATEST_DATE = date(1900, 1, 1), date(2999, 12, 31)

# A probe score, a goal's baseline and target: words or digits a minute, a percentage, points. A
# million either way leaves room for any measure a school uses and keeps the analysis's sums and
# squares far from float's limits.
MAX_SCORE = 1_000_000.0

ATTENDANCE_STATUSES = ("present", "absent", "tardy", "excused")
ATTENDED = ("present", "tardy")


@dataclass(frozen=True)
class ExitCriteria:
    """Recommend an exit when the last `points_at_goal` scores all reach the target and the student
    has been in the intervention at least `min_weeks` weeks."""

    points_at_goal: int = 3
    min_weeks: int = 6


@dataclass(frozen=True)
class Template:
    """A versioned program template (Ed-Fi InterventionPrescription plus a schedule and a goal
    measure). An intervention keeps the version it was made from."""

    key: str
    version: int
    name: str
    objectives: tuple[str, ...]
    intervention_class: str  # Ed-Fi InterventionClassDescriptor: Instruction, Behavior, ...
    delivery_method: str  # Ed-Fi DeliveryMethodDescriptor: Small Group, Individual, Whole Class
    measure: str
    minutes_per_week: int
    rrule: str
    start_time: time
    duration_minutes: int
    weeks: int
    exit: ExitCriteria = ExitCriteria()


# The configuration a template gives an intervention; what ReapplyTemplate compares and changes.
TEMPLATE_FIELDS = (
    "objectives",
    "intervention_class",
    "delivery_method",
    "measure",
    "minutes_per_week",
    "exit",
)


def template_config(t: Template) -> dict[str, object]:
    return {f: getattr(t, f) for f in TEMPLATE_FIELDS}


BUILTIN_TEMPLATES: tuple[Template, ...] = (
    Template(
        "reading-group", 1, "Reading group", ("Improve oral reading fluency",), "Instruction", "Small Group",
        "words correct per minute", 90, "FREQ=WEEKLY;BYDAY=MO,WE,FR", time(9, 0), 30, 12,
    ),
    Template(
        "reading-group", 2, "Reading group",
        ("Improve oral reading fluency", "Improve decoding accuracy"), "Instruction", "Small Group",
        "words correct per minute", 120, "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH", time(9, 0), 30, 12,
        ExitCriteria(points_at_goal=3, min_weeks=8),
    ),
    Template(
        "math-fluency", 1, "Math fluency", ("Improve math fact fluency",), "Instruction", "Small Group",
        "digits correct per minute", 60, "FREQ=WEEKLY;BYDAY=TU,TH", time(10, 0), 30, 10,
    ),
    Template(
        "check-in-check-out", 1, "Check-in/check-out", ("Meet daily behaviour goals",), "Behavior",
        "Individual", "daily point-card percentage", 50, "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
        time(8, 0), 10, 8, ExitCriteria(points_at_goal=4, min_weeks=6),
    ),
)  # fmt: skip


@dataclass(frozen=True)
class GoalSpec:
    measure: str
    baseline: float
    target: float
    goal_date: date


@dataclass(frozen=True)
class Intervention:
    """Ed-Fi Intervention, extended with its schedule, goal, owner and template version."""

    id: str
    tenant_id: str
    code: str  # Ed-Fi InterventionIdentificationCode (≤ 60 characters)
    name: str
    objectives: tuple[str, ...]
    target_population: str
    owner_id: str
    facilitator_ids: tuple[str, ...]
    room: str
    goal: GoalSpec
    minutes_per_week: int
    begin_date: date
    end_date: date
    schedule: Schedule
    template_key: str
    template_version: int
    intervention_class: str = "Instruction"
    delivery_method: str = "Small Group"
    exit: ExitCriteria = ExitCriteria()
    created_by: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Session:
    id: str
    intervention_id: str
    starts_at: datetime
    ends_at: datetime
    local_date: date
    room: str
    facilitator_id: str
    status: str = "scheduled"  # scheduled or cancelled
    note: str = ""


@dataclass(frozen=True)
class Enrollment:
    """Ed-Fi StudentInterventionAssociation, with source, actor and effective dates."""

    id: str
    intervention_id: str
    student_id: str
    source: str  # manual, risk_list, progress, import
    reason: str
    enrolled_by: str
    enrolled_at: datetime | None
    begin_date: date
    end_date: date | None = None
    status: str = "active"  # active, withdrawn, exited
    exit_recommended: bool = False
    exit_confirmed_by: str = ""
    exit_confirmed_at: datetime | None = None
    exit_reason: str = ""


@dataclass(frozen=True)
class Attendance:
    """One student's attendance at one session (Ed-Fi StudentInterventionAttendanceEvent, keyed by
    session rather than by date so two sessions a day each have theirs)."""

    session_id: str
    student_id: str
    status: str
    minutes: int
    reason_code: str = ""
    note: str = ""
    recorded_by: str = ""
    recorded_at: datetime | None = None


@dataclass(frozen=True)
class ProgressEntry:
    id: str
    intervention_id: str
    student_id: str
    on: date
    score: float | None
    rating: int  # 0 = none, 1..5
    note: str
    recorded_by: str
    recorded_at: datetime | None = None
    session_id: str = ""


@dataclass(frozen=True)
class Dosage:
    planned_minutes: int  # minutes per week x weeks elapsed
    delivered_minutes: int
    sessions_held: int
    sessions_attended: int

    @property
    def ratio(self) -> float:
        return self.delivered_minutes / self.planned_minutes if self.planned_minutes else 1.0

    @property
    def attendance_rate(self) -> float:
        return self.sessions_attended / self.sessions_held if self.sessions_held else 0.0


@dataclass(frozen=True)
class Decision:
    """The recommendation shown to the team: the analysis verdict after the fidelity gate, plus
    whether the exit criteria are met, with the reasons."""

    recommendation: str  # continue, change_instruction, raise_goal, insufficient_data, check_fidelity
    exit_recommended: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class RiskEntry:
    student_id: str
    risk: float  # 0..1
    reason: str = ""


@dataclass(frozen=True)
class Candidate:
    student_id: str
    eligible: bool
    reason: str
    risk: float = 0.0


@dataclass
class NewIntervention:
    """What a caller gives to create an intervention; the template fills what is left empty."""

    template_key: str
    template_version: int  # 0: the newest
    name: str = ""
    code: str = ""
    objectives: tuple[str, ...] = ()
    target_population: str = ""
    owner_id: str = ""
    facilitator_ids: tuple[str, ...] = ()
    room: str = ""
    goal: GoalSpec | None = None
    minutes_per_week: int = 0
    begin_date: date | None = None
    end_date: date | None = None
    schedule: Schedule | None = None
    use_template_objectives: bool = False
    extra: dict[str, object] = field(default_factory=dict)


# --- rules ---------------------------------------------------------------------------------------


def may_manage(caller: Principal) -> None:
    if not caller.has_any(*MANAGERS, "service"):
        raise PermissionDenied("only teachers, interventionists and admins manage interventions")


def may_facilitate(caller: Principal, intervention: Intervention, session: Session | None) -> None:
    """Facilitators record for their own sessions only; managers for any of their tenant."""
    if caller.has_any(*MANAGERS, "service"):
        return
    if caller.has_any("facilitator"):
        if session is not None and session.facilitator_id == caller.subject:
            return
        if session is None and caller.subject in intervention.facilitator_ids:
            return
    raise PermissionDenied("facilitators record attendance and notes for their own sessions only")


def check_text(
    v: Violations, value: str, path: str, *, required: bool = False, limit: int = MAX_TEXT
) -> None:
    if required and not value.strip():
        v.add(path, "is required")
    elif len(value) > limit:
        v.add(path, f"must be at most {limit} characters")


def check_date(v: Violations, value: date, path: str) -> bool:
    """Whether `value` lies within EARLIEST_DATE..LATEST_DATE; a violation on `path` when not."""
    if EARLIEST_DATE <= value <= LATEST_DATE:
        return True
    v.add(path, f"must be between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}")
    return False


def check_score(v: Violations, value: float, path: str) -> None:
    if not -MAX_SCORE <= value <= MAX_SCORE:  # NaN fails too
        v.add(path, f"must be between {-MAX_SCORE:,.0f} and {MAX_SCORE:,.0f}")


def check_new(v: Violations, new: NewIntervention, template: Template | None) -> None:
    """Objective, owner and schedule are required (seed US1 scenario 3) along with the rest."""
    if template is None:
        v.add("intervention.template_key", "no such template (or version)")
    if not any(o.strip() for o in new.objectives):
        v.add("intervention.objectives", "at least one objective is required")
    for i, o in enumerate(new.objectives):
        check_text(v, o, f"intervention.objectives[{i}]", limit=MAX_NAME)
    if not new.owner_id:
        v.add("intervention.owner_id", "is required")
    check_schedule(v, new.schedule, "intervention.schedule")
    check_text(v, new.name, "intervention.name", required=True, limit=MAX_NAME)
    check_text(v, new.code, "intervention.code", limit=60)
    check_text(v, new.room, "intervention.room", limit=MAX_NAME)
    check_text(v, new.target_population, "intervention.target_population", limit=MAX_TEXT)
    if new.begin_date is None:
        v.add("intervention.begin_date", "is required")
    elif not check_date(v, new.begin_date, "intervention.begin_date"):
        new = replace(new, begin_date=None)
    if new.end_date is None:
        v.add("intervention.end_date", "is required")
    elif not check_date(v, new.end_date, "intervention.end_date"):
        new = replace(new, end_date=None)
    if new.begin_date and new.end_date:
        if new.end_date < new.begin_date:
            v.add("intervention.end_date", "must not be before begin_date")
        elif (new.end_date - new.begin_date).days > 400:
            v.add("intervention.end_date", "an intervention lasts at most 400 days")
    if new.minutes_per_week < 0 or new.minutes_per_week > 3000:
        v.add("intervention.minutes_per_week", "must be between 0 and 3000")
    if new.goal is None:
        v.add("intervention.goal", "is required")
    else:
        check_text(v, new.goal.measure, "intervention.goal.measure", limit=MAX_NAME)
        check_date(v, new.goal.goal_date, "intervention.goal.goal_date")
        if new.begin_date and new.goal.goal_date <= new.begin_date:
            v.add("intervention.goal.goal_date", "must be after begin_date")
        check_score(v, new.goal.baseline, "intervention.goal.baseline")
        check_score(v, new.goal.target, "intervention.goal.target")
        if new.goal.target == new.goal.baseline:
            v.add("intervention.goal.target", "must differ from the baseline")


def apply_template(new: NewIntervention, t: Template) -> NewIntervention:
    """Fills what the caller left empty from the template (objectives only when asked, since an
    objective is the one field the seed requires the creator to state)."""
    out = replace(new)
    if not out.name:
        out.name = t.name
    if out.use_template_objectives and not out.objectives:
        out.objectives = t.objectives
    if not out.minutes_per_week:
        out.minutes_per_week = t.minutes_per_week
    if out.schedule is not None:
        s = out.schedule
        out.schedule = replace(
            s,
            rrule=s.rrule or t.rrule,
            duration_minutes=s.duration_minutes or t.duration_minutes,
        )
    if out.goal is not None and not out.goal.measure:
        out.goal = replace(out.goal, measure=t.measure)
    return out


def template_changes(current: Intervention, t: Template) -> list[str]:
    """The template fields whose values differ between the intervention and template t."""
    mine = {
        "objectives": current.objectives,
        "intervention_class": current.intervention_class,
        "delivery_method": current.delivery_method,
        "measure": current.goal.measure,
        "minutes_per_week": current.minutes_per_week,
        "exit": current.exit,
    }
    theirs = template_config(t)
    return sorted(k for k in TEMPLATE_FIELDS if mine[k] != theirs[k])


def reapply(current: Intervention, t: Template, acknowledged: set[str]) -> Intervention:
    """A newer template version is applied only with an explicit acknowledgment of exactly the
    fields it changes; anything else is FAILED_PRECONDITION naming the changes."""
    if t.key != current.template_key:
        raise FailedPrecondition(f"template {t.key} is not this intervention's ({current.template_key})")
    if t.version <= current.template_version:
        raise FailedPrecondition(
            f"version {t.version} is not newer than the intervention's {current.template_version}"
        )
    changes = template_changes(current, t)
    if set(changes) != acknowledged:
        raise FailedPrecondition(
            "acknowledge exactly the changed fields: " + ", ".join(changes),
            reason="TEMPLATE_CHANGES_NOT_ACKNOWLEDGED",
            metadata={"changes": ",".join(changes)},
        )
    return replace(
        current,
        objectives=t.objectives,
        intervention_class=t.intervention_class,
        delivery_method=t.delivery_method,
        goal=replace(current.goal, measure=t.measure),
        minutes_per_week=t.minutes_per_week,
        exit=t.exit,
        template_version=t.version,
    )


def dosage(
    minutes_per_week: int, begin: date, today: date, held: int, attended: int, delivered: int
) -> Dosage:
    weeks = max(0.0, (today - begin).days / 7)
    return Dosage(
        planned_minutes=round(minutes_per_week * weeks),
        delivered_minutes=delivered,
        sessions_held=held,
        sessions_attended=attended,
    )


def decide(
    analysis: Analysis,
    d: Dosage,
    scores: list[float],
    target: float,
    increasing: bool,
    weeks_enrolled: float,
    criteria: ExitCriteria,
    threshold: float = FIDELITY_THRESHOLD,
) -> Decision:  # fmt: skip
    reasons = list(analysis.reasons)
    recommendation = analysis.verdict
    if recommendation == CHANGE and d.planned_minutes and d.ratio < threshold:
        recommendation = "check_fidelity"
        reasons.append(
            f"intensifying is held back: {d.delivered_minutes} of {d.planned_minutes} planned minutes "
            f"delivered ({d.ratio:.0%} < {threshold:.0%}); deliver the plan first"
        )
    recent = scores[-criteria.points_at_goal :] if criteria.points_at_goal else []
    met = len(recent) == criteria.points_at_goal and all(
        (s >= target) if increasing else (s <= target) for s in recent
    )
    exit_ok = met and weeks_enrolled >= criteria.min_weeks
    if met and not exit_ok:
        reasons.append(
            f"goal reached in the last {criteria.points_at_goal} points but enrolled "
            f"{weeks_enrolled:.1f} of the {criteria.min_weeks} weeks the exit criteria ask"
        )
    elif exit_ok:
        reasons.append(
            f"exit recommended: the last {criteria.points_at_goal} scores reached the target {target:g} "
            f"after {weeks_enrolled:.1f} weeks"
        )
    return Decision(recommendation=recommendation, exit_recommended=exit_ok, reasons=tuple(reasons))


def parse_risk_csv(v: Violations, text: str, path: str) -> list[RiskEntry]:
    """An uploaded risk list: a header row with student_id and risk (0..1), optional reason. Text
    that is not CSV (csv.Error) is a violation on `path` saying which line and why."""
    reader = csv.DictReader(io.StringIO(text))
    try:
        rows = list(reader)
    except csv.Error as err:
        v.add(path, f"line {reader.line_num + 1}: {_csv_problem(str(err))}")  # the line being read
        return []
    if not rows:
        v.add(path, "needs a header row (student_id,risk[,reason]) and at least one row")
        return []
    if "student_id" not in rows[0] or "risk" not in rows[0]:
        v.add(path, "the header must name student_id and risk")
        return []
    out = []
    for i, row in enumerate(rows, start=2):
        sid = (row.get("student_id") or "").strip()
        try:
            risk = float(row.get("risk") or "")
        except ValueError:
            v.add(path, f"line {i}: risk must be a number between 0 and 1")
            continue
        if not sid or not 0 <= risk <= 1:
            v.add(path, f"line {i}: needs a student_id and a risk between 0 and 1")
            continue
        out.append(RiskEntry(sid, risk, (row.get("reason") or "").strip()[:MAX_NAME]))
    return out


def _csv_problem(error: str) -> str:
    """Python's csv.Error in words an uploader can act on."""
    if "new-line character seen in unquoted field" in error:
        return (
            "a line ends with a lone carriage return (CR, old Mac line endings); "
            "save the file with LF or CRLF line endings"
        )
    if "field larger than field limit" in error:
        return f"a value is longer than {csv.field_size_limit()} characters"
    return f"is not valid CSV ({error})"


def screen(
    entries: list[RiskEntry], min_risk: float, enrolled: set[str], known: set[str], max_students: int = 0
) -> list[Candidate]:
    """Who a rules-based enrollment would enroll, and why (or why not): the dry-run preview, highest
    risk first. The criteria: a risk of at least `min_risk`, and at most `max_students` (0: no limit)
    of those, the highest risks first; a student listed twice counts once, at their higher risk."""
    out = []
    taken = 0
    seen: set[str] = set()
    for e in sorted(entries, key=lambda e: (-e.risk, e.student_id)):
        if e.student_id in seen:
            continue
        seen.add(e.student_id)
        if e.student_id not in known:
            out.append(Candidate(e.student_id, False, "not a student of this school", e.risk))
        elif e.student_id in enrolled:
            out.append(Candidate(e.student_id, False, "already enrolled", e.risk))
        elif e.risk < min_risk:
            out.append(
                Candidate(
                    e.student_id, False, f"risk {e.risk:.2f} below the criterion {min_risk:.2f}", e.risk
                )
            )
        elif max_students and taken >= max_students:
            out.append(
                Candidate(
                    e.student_id,
                    False,
                    f"risk {e.risk:.2f} ≥ {min_risk:.2f}, but beyond the {max_students} highest risks",
                    e.risk,
                )
            )
        else:
            taken += 1
            why = f"risk {e.risk:.2f} ≥ {min_risk:.2f}" + (f": {e.reason}" if e.reason else "")
            out.append(Candidate(e.student_id, True, why, e.risk))
    return out


@dataclass(frozen=True)
class Communication:
    """One caregiver message in the student's communication log. The body is never stored here, only
    the approved template's name; the delivery status follows notify's answer."""

    id: str
    intervention_id: str
    student_id: str
    caregiver_id: str
    template: str
    status: str  # one of COMMUNICATION_ORDER
    detail: str
    sent_by: str
    created_at: datetime | None = None
    updated_at: datetime | None = None


# Approved caregiver message templates (FR-012): a caregiver message is one of these, never free text.
CAREGIVER_TEMPLATES = ("progress_summary", "attendance_concern", "exit_notice")

# A communication's statuses in the only order it moves (docs/mtss.md): queued (written, not yet
# handed to notify), pending (notify took it and waits on its provider), failed (notify or mtss gave
# up), sent (notify's provider has it; notify's "read" is sent too). An update to an earlier or the
# same status is ignored: notify's delivery events and the delivery job race and arrive out of
# order, so whatever comes last must never move a message back. failed comes before sent: notify
# may still deliver after a failure (a redriven delivery, a send mtss gave up on that notify took).
COMMUNICATION_ORDER = ("queued", "pending", "failed", "sent")


@dataclass(frozen=True)
class StudentView:
    enrollment: Enrollment
    dosage: Dosage
    analysis: Analysis
    decision: Decision
    history: list[ProgressEntry]


@dataclass(frozen=True)
class StudentRow:
    enrollment: Enrollment
    dosage: Dosage
    last_score: float | None
    analysis: Analysis
    decision: Decision


@dataclass(frozen=True)
class GroupView:
    intervention: Intervention
    session_count: int
    sessions_held: int
    sessions_upcoming: int
    rows: list[StudentRow]
