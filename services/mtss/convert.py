"""The one place where mtss's domain objects and its protobuf messages meet: requests in (dates and
times parsed here, a bad one an INVALID_ARGUMENT naming its field), resources and events out."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time

from google.protobuf.message import Message
from learnflow.mtss.v1 import events_pb2, mtss_service_pb2, resources_pb2

from services.mtss.domain import analysis as an
from services.mtss.domain import programs as p
from services.mtss.domain.conflicts import Conflict
from services.mtss.domain.schedule import Schedule
from services.runtime.errors import Violations

SESSION_STATUS = {
    "scheduled": resources_pb2.SESSION_STATUS_SCHEDULED,
    "cancelled": resources_pb2.SESSION_STATUS_CANCELLED,
}
SOURCE = {
    "manual": resources_pb2.ENROLLMENT_SOURCE_MANUAL,
    "risk_list": resources_pb2.ENROLLMENT_SOURCE_RISK_LIST,
    "import": resources_pb2.ENROLLMENT_SOURCE_IMPORT,
}
ENROLLMENT_STATUS = {
    "active": resources_pb2.ENROLLMENT_STATUS_ACTIVE,
    "withdrawn": resources_pb2.ENROLLMENT_STATUS_WITHDRAWN,
    "exited": resources_pb2.ENROLLMENT_STATUS_EXITED,
}
ATTENDANCE = {
    "present": resources_pb2.ATTENDANCE_STATUS_PRESENT,
    "absent": resources_pb2.ATTENDANCE_STATUS_ABSENT,
    "tardy": resources_pb2.ATTENDANCE_STATUS_TARDY,
    "excused": resources_pb2.ATTENDANCE_STATUS_EXCUSED,
}
ATTENDANCE_IN = {v: k for k, v in ATTENDANCE.items()}
COMMUNICATION = {
    "queued": resources_pb2.COMMUNICATION_STATUS_QUEUED,
    # notify took it and waits on its provider: still on its way, as the API has no state for it.
    "pending": resources_pb2.COMMUNICATION_STATUS_QUEUED,
    "sent": resources_pb2.COMMUNICATION_STATUS_SENT,
    "failed": resources_pb2.COMMUNICATION_STATUS_FAILED,
}


# --- requests in ----------------------------------------------------------------------------------


def parse_date(v: Violations, text: str, path: str) -> date | None:
    """The date in `text` (None when empty); a violation when it is not one or lies outside
    programs.EARLIEST_DATE..LATEST_DATE."""
    if not text:
        return None
    try:
        found = date.fromisoformat(text)
    except ValueError:
        v.add(path, "must be a date YYYY-MM-DD")
        return None
    return found if p.check_date(v, found, path) else None


def _dates(v: Violations, values: Iterable[str], path: str) -> tuple[date, ...]:
    out = []
    for i, text in enumerate(values):
        d = parse_date(v, text, f"{path}[{i}]")
        if d is not None:
            out.append(d)
    return tuple(out)


def timestamp(msg: Message, name: str) -> datetime | None:
    return getattr(msg, name).ToDatetime(tzinfo=UTC) if msg.HasField(name) else None


def new_intervention(req: mtss_service_pb2.CreateInterventionRequest) -> p.NewIntervention:
    i = req.intervention
    v = Violations()
    schedule = None
    if i.HasField("schedule"):
        s = i.schedule
        start = time(9, 0)
        if s.start_time:
            start = time.fromisoformat(s.start_time)  # the proto's pattern made it HH:MM
        schedule = Schedule(
            rrule=s.rrule,
            start_time=start,
            duration_minutes=s.duration_minutes,
            time_zone=s.time_zone,
            holidays=_dates(v, s.holidays, "intervention.schedule.holidays"),
            exceptions=_dates(v, s.exceptions, "intervention.schedule.exceptions"),
            extra_dates=_dates(v, s.extra_dates, "intervention.schedule.extra_dates"),
        )
    goal = None
    if i.HasField("goal"):
        goal_date = parse_date(v, i.goal.goal_date, "intervention.goal.goal_date")
        if not i.goal.goal_date:
            v.add("intervention.goal.goal_date", "is required")
        elif goal_date is not None:
            goal = p.GoalSpec(i.goal.measure, i.goal.baseline, i.goal.target, goal_date)
    new = p.NewIntervention(
        template_key=i.template_key,
        template_version=i.template_version,
        name=" ".join(i.name.split()),
        code=i.code.strip(),
        objectives=tuple(i.objectives),
        target_population=i.target_population,
        owner_id=i.owner_id,
        facilitator_ids=tuple(i.facilitator_ids),
        room=i.room,
        goal=goal,
        minutes_per_week=i.minutes_per_week,
        begin_date=parse_date(v, i.begin_date, "intervention.begin_date"),
        end_date=parse_date(v, i.end_date, "intervention.end_date"),
        schedule=schedule,
        use_template_objectives=req.use_template_objectives,
    )
    v.raise_if_any()
    return new


def date_field(text: str, path: str) -> date | None:
    v = Violations()
    found = parse_date(v, text, path)
    v.raise_if_any()
    return found


def attendance_in(records: Iterable[resources_pb2.AttendanceRecord]) -> list[p.Attendance]:
    return [
        p.Attendance(
            session_id=r.session_id,
            student_id=r.student_id,
            status=ATTENDANCE_IN.get(r.status, ""),
            minutes=r.minutes,
            reason_code=r.reason_code.strip(),
            note=r.note,
        )
        for r in records
    ]


def progress_in(e: resources_pb2.ProgressEntry) -> p.ProgressEntry:
    v = Violations()
    on = parse_date(v, e.date, "entry.date")
    if not e.date:
        v.add("entry.date", "is required")
    if not e.student_id:
        v.add("entry.student_id", "is required")
    v.raise_if_any()
    assert on is not None
    return p.ProgressEntry(
        id="",
        intervention_id="",
        student_id=e.student_id,
        on=on,
        score=e.score if e.HasField("score") else None,
        rating=e.rating,
        note=e.note,
        recorded_by="",
        session_id=e.session_id,
    )


# --- resources out --------------------------------------------------------------------------------


def _exit(e: p.ExitCriteria) -> resources_pb2.ExitCriteria:
    return resources_pb2.ExitCriteria(points_at_goal=e.points_at_goal, min_weeks=e.min_weeks)


def template_to_proto(t: p.Template) -> resources_pb2.Template:
    return resources_pb2.Template(
        key=t.key,
        version=t.version,
        name=t.name,
        objectives=list(t.objectives),
        intervention_class=t.intervention_class,
        delivery_method=t.delivery_method,
        measure=t.measure,
        minutes_per_week=t.minutes_per_week,
        rrule=t.rrule,
        start_time=t.start_time.strftime("%H:%M"),
        duration_minutes=t.duration_minutes,
        weeks=t.weeks,
        exit_criteria=_exit(t.exit),
    )


def intervention_to_proto(i: p.Intervention, session_count: int) -> resources_pb2.Intervention:
    s = i.schedule
    msg = resources_pb2.Intervention(
        id=i.id,
        code=i.code,
        name=i.name,
        objectives=list(i.objectives),
        target_population=i.target_population,
        owner_id=i.owner_id,
        facilitator_ids=list(i.facilitator_ids),
        room=i.room,
        goal=resources_pb2.Goal(
            measure=i.goal.measure,
            baseline=i.goal.baseline,
            target=i.goal.target,
            goal_date=i.goal.goal_date.isoformat(),
        ),
        minutes_per_week=i.minutes_per_week,
        begin_date=i.begin_date.isoformat(),
        end_date=i.end_date.isoformat(),
        schedule=resources_pb2.Schedule(
            rrule=s.rrule,
            start_time=s.start_time.strftime("%H:%M"),
            duration_minutes=s.duration_minutes,
            time_zone=s.time_zone,
            holidays=[d.isoformat() for d in s.holidays],
            exceptions=[d.isoformat() for d in s.exceptions],
            extra_dates=[d.isoformat() for d in s.extra_dates],
        ),
        template_key=i.template_key,
        template_version=i.template_version,
        intervention_class=i.intervention_class,
        delivery_method=i.delivery_method,
        exit_criteria=_exit(i.exit),
        session_count=session_count,
    )
    if i.created_at:
        msg.create_time.FromDatetime(i.created_at)
    if i.updated_at:
        msg.update_time.FromDatetime(i.updated_at)
    return msg


def session_to_proto(s: p.Session) -> resources_pb2.Session:
    msg = resources_pb2.Session(
        id=s.id,
        intervention_id=s.intervention_id,
        local_date=s.local_date.isoformat(),
        room=s.room,
        facilitator_id=s.facilitator_id,
        status=SESSION_STATUS[s.status],
        note=s.note,
    )
    msg.start_time.FromDatetime(s.starts_at)
    msg.end_time.FromDatetime(s.ends_at)
    return msg


def enrollment_to_proto(e: p.Enrollment) -> resources_pb2.Enrollment:
    msg = resources_pb2.Enrollment(
        id=e.id,
        intervention_id=e.intervention_id,
        student_id=e.student_id,
        source=SOURCE[e.source],
        reason=e.reason,
        enrolled_by=e.enrolled_by,
        begin_date=e.begin_date.isoformat(),
        end_date=e.end_date.isoformat() if e.end_date else "",
        status=ENROLLMENT_STATUS[e.status],
        exit_confirmed_by=e.exit_confirmed_by,
        exit_reason=e.exit_reason,
    )
    if e.enrolled_at:
        msg.enroll_time.FromDatetime(e.enrolled_at)
    if e.exit_confirmed_at:
        msg.exit_confirm_time.FromDatetime(e.exit_confirmed_at)
    return msg


def attendance_to_proto(a: p.Attendance) -> resources_pb2.AttendanceRecord:
    msg = resources_pb2.AttendanceRecord(
        session_id=a.session_id,
        student_id=a.student_id,
        status=ATTENDANCE[a.status],
        minutes=a.minutes,
        reason_code=a.reason_code,
        note=a.note,
        recorded_by=a.recorded_by,
    )
    if a.recorded_at:
        msg.record_time.FromDatetime(a.recorded_at)
    return msg


def progress_to_proto(e: p.ProgressEntry) -> resources_pb2.ProgressEntry:
    msg = resources_pb2.ProgressEntry(
        id=e.id,
        student_id=e.student_id,
        date=e.on.isoformat(),
        rating=e.rating,
        note=e.note,
        session_id=e.session_id,
        intervention_id=e.intervention_id,
        recorded_by=e.recorded_by,
    )
    if e.score is not None:
        msg.score = e.score
    if e.recorded_at:
        msg.record_time.FromDatetime(e.recorded_at)
    return msg


def analysis_to_proto(a: an.Analysis) -> resources_pb2.Analysis:
    msg = resources_pb2.Analysis(
        verdict=a.verdict,
        reasons=list(a.reasons),
        points=a.n,
        min_points=a.min_points,
        aimline_slope=a.aimline_slope,
        four_point=a.four_point,
        trend=a.trend,
    )
    if a.ols is not None:
        msg.ols_slope = a.ols.slope
        msg.ols_intercept = a.ols.intercept
        msg.residual_sd = a.ols.residual_sd
    if a.tukey_slope is not None:
        msg.tukey_slope = a.tukey_slope
    if a.needed_roi is not None:
        msg.needed_roi = a.needed_roi
    if a.projection is not None:
        pr = a.projection
        msg.projection.CopyFrom(
            resources_pb2.Projection(at_weeks=pr.at_weeks, value=pr.value, low=pr.low, high=pr.high, t=pr.t)
        )
    return msg


def dosage_to_proto(d: p.Dosage) -> resources_pb2.Dosage:
    return resources_pb2.Dosage(
        planned_minutes=d.planned_minutes,
        delivered_minutes=d.delivered_minutes,
        sessions_held=d.sessions_held,
        sessions_attended=d.sessions_attended,
        ratio=d.ratio,
        attendance_rate=d.attendance_rate,
    )


def student_dashboard(intervention_id: str, view: p.StudentView) -> resources_pb2.StudentDashboard:
    return resources_pb2.StudentDashboard(
        intervention_id=intervention_id,
        student_id=view.enrollment.student_id,
        enrollment=enrollment_to_proto(view.enrollment),
        dosage=dosage_to_proto(view.dosage),
        analysis=analysis_to_proto(view.analysis),
        recommendation=view.decision.recommendation,
        exit_recommended=view.decision.exit_recommended,
        reasons=list(view.decision.reasons),
        history=[progress_to_proto(h) for h in view.history],
    )


def group_dashboard(view: p.GroupView) -> resources_pb2.InterventionDashboard:
    rows = []
    attended = held = delivered = 0
    for r in view.rows:
        row = resources_pb2.StudentRow(
            student_id=r.enrollment.student_id,
            status=ENROLLMENT_STATUS[r.enrollment.status],
            attendance_rate=r.dosage.attendance_rate,
            delivered_minutes=r.dosage.delivered_minutes,
            recommendation=r.decision.recommendation,
            exit_recommended=r.decision.exit_recommended,
        )
        if r.last_score is not None:
            row.last_score = r.last_score
        if r.analysis.ols is not None:
            row.ols_slope = r.analysis.ols.slope
        if r.analysis.projection is not None:
            row.projected = r.analysis.projection.value
        rows.append(row)
        attended += r.dosage.sessions_attended
        held += r.dosage.sessions_held
        delivered += r.dosage.delivered_minutes
    weeks = (view.intervention.end_date - view.intervention.begin_date).days / 7
    return resources_pb2.InterventionDashboard(
        intervention=intervention_to_proto(view.intervention, view.session_count),
        attendance_rate=attended / held if held else 0.0,
        planned_minutes_per_student=round(view.intervention.minutes_per_week * weeks),
        delivered_minutes=delivered,
        sessions_held=view.sessions_held,
        sessions_upcoming=view.sessions_upcoming,
        students=rows,
    )


def conflict_to_proto(c: Conflict) -> resources_pb2.Conflict:
    return resources_pb2.Conflict(kind=c.kind, resource=c.resource, session_id=c.a, other_session_id=c.b)


def candidate_to_proto(c: p.Candidate) -> resources_pb2.Candidate:
    return resources_pb2.Candidate(student_id=c.student_id, eligible=c.eligible, reason=c.reason, risk=c.risk)


def communication_to_proto(c: p.Communication) -> resources_pb2.Communication:
    msg = resources_pb2.Communication(
        id=c.id,
        student_id=c.student_id,
        caregiver_id=c.caregiver_id,
        template=c.template,
        status=COMMUNICATION[c.status],
        detail=c.detail,
        sent_by=c.sent_by,
    )
    if c.created_at:
        msg.create_time.FromDatetime(c.created_at)
    if c.updated_at:
        msg.update_time.FromDatetime(c.updated_at)
    return msg


# --- events out -----------------------------------------------------------------------------------


def intervention_created_event(i: p.Intervention, session_count: int) -> events_pb2.InterventionCreated:
    return events_pb2.InterventionCreated(intervention=intervention_to_proto(i, session_count))


def enrollment_created_event(e: p.Enrollment) -> events_pb2.EnrollmentCreated:
    return events_pb2.EnrollmentCreated(enrollment=enrollment_to_proto(e))


def enrollment_withdrawn_event(e: p.Enrollment, released: int) -> events_pb2.EnrollmentWithdrawn:
    return events_pb2.EnrollmentWithdrawn(enrollment=enrollment_to_proto(e), sessions_released=released)


def attendance_recorded_event(
    intervention_id: str, session_id: str, records: list[p.Attendance]
) -> events_pb2.AttendanceRecorded:
    return events_pb2.AttendanceRecorded(
        intervention_id=intervention_id,
        session_id=session_id,
        records=[attendance_to_proto(a) for a in records],
    )


def progress_recorded_event(e: p.ProgressEntry) -> events_pb2.ProgressRecorded:
    return events_pb2.ProgressRecorded(entry=progress_to_proto(e))


def session_adjusted_event(s: p.Session) -> events_pb2.SessionAdjusted:
    return events_pb2.SessionAdjusted(session=session_to_proto(s))


def exit_confirmed_event(e: p.Enrollment, reasons: Iterable[str]) -> events_pb2.ExitConfirmed:
    return events_pb2.ExitConfirmed(enrollment=enrollment_to_proto(e), reasons=list(reasons))


# --- other contexts' events in --------------------------------------------------------------------


def delivery_update(message: Message, status: str) -> tuple[str, str, str] | None:
    """(communication id, status, detail) from notify's DeliverySent/Failed/Read about one of our
    messages (its idempotency key is "mtss:<communication id>", clients.delivery_key); None for
    anybody else's delivery. Read by field name: mtss does not import notify's package."""
    delivery = message.delivery
    key = str(delivery.idempotency_key)
    if not key.startswith("mtss:"):
        return None
    detail = f"notify delivery {delivery.id}: {status}"
    if delivery.last_error and status == "failed":
        detail += f" ({delivery.last_error})"
    return key.removeprefix("mtss:"), status, detail[:500]
