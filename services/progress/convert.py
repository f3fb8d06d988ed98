"""The one place where progress's domain objects and protobuf messages meet: requests in,
resources out, the events of other contexts it consumes (which arrive as protobuf messages and are
read by field name: no context imports another's package), and the events the service layer stages
(it calls the `*_event` functions and hands the message to the outbox unopened)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message
from learnflow.progress.v1 import events_pb2
from learnflow.progress.v1 import progress_service_pb2 as api_pb
from learnflow.progress.v1 import resources_pb2 as pb

from services.progress.domain import Activity, ActivityKind
from services.progress.domain.classes import MembershipChange
from services.progress.domain.mastery import MasteryState
from services.progress.domain.records import (
    BY_PROGRESS,
    BY_QUIET_PERIOD,
    BY_TEACHER,
    OPEN,
    RESOLVED,
    Recorded,
    Streak,
    StruggleAlert,
    StudentClass,
    StudentProgress,
    StudentSummary,
    TopicMastery,
)
from services.runtime.errors import FieldViolation, InvalidArgument

_KIND_TO_PROTO = {
    ActivityKind.EXERCISE_ATTEMPT: pb.ACTIVITY_KIND_EXERCISE_ATTEMPT,
    ActivityKind.QUIZ_SUBMISSION: pb.ACTIVITY_KIND_QUIZ_SUBMISSION,
    ActivityKind.CODE_RUN: pb.ACTIVITY_KIND_CODE_RUN,
    ActivityKind.CODE_REVIEW: pb.ACTIVITY_KIND_CODE_REVIEW,
    ActivityKind.HINT_REQUEST: pb.ACTIVITY_KIND_HINT_REQUEST,
    ActivityKind.TIME_ON_TASK: pb.ACTIVITY_KIND_TIME_ON_TASK,
    ActivityKind.CONTENT_VIEW: pb.ACTIVITY_KIND_CONTENT_VIEW,
}
_KIND_FROM_PROTO = {v: k for k, v in _KIND_TO_PROTO.items()}
_SCORED_PROTO = {
    pb.ACTIVITY_KIND_EXERCISE_ATTEMPT,
    pb.ACTIVITY_KIND_QUIZ_SUBMISSION,
    pb.ACTIVITY_KIND_CODE_REVIEW,
}


def kind_from_proto(kind: int) -> ActivityKind | None:
    return _KIND_FROM_PROTO.get(kind)


def activity_from_proto(a: pb.Activity, kind: ActivityKind, now: datetime) -> Activity:
    occurred = a.occur_time.ToDatetime(tzinfo=UTC) if a.HasField("occur_time") else now
    return Activity(
        event_id=a.id,
        student_id=a.student_id,
        kind=kind,
        occurred_at=occurred,
        topic=a.topic.strip(),
        exercise_id=a.exercise_id,
        quiz_id=a.quiz_id,
        score=a.score if a.kind in _SCORED_PROTO else None,
        verdict=a.verdict,
        exception_type=a.exception_type,
        duration_seconds=a.duration_seconds,
    )


def recorded_activity_from_proto(a: pb.Activity, now: datetime) -> Activity:
    """A RecordActivity request's activity; a missing or unknown kind is a field violation."""
    kind = kind_from_proto(a.kind)
    if kind is None:
        raise InvalidArgument(
            "activity.kind is required",
            [FieldViolation("activity.kind", "must be one of the ACTIVITY_KIND_* values")],
        )
    return activity_from_proto(a, kind, now)


def activity_to_proto(a: Activity) -> pb.Activity:
    msg = pb.Activity(
        id=a.event_id,
        student_id=a.student_id,
        topic=a.topic,
        kind=_KIND_TO_PROTO[a.kind],
        score=a.score or 0.0,
        verdict=a.verdict,
        exception_type=a.exception_type,
        exercise_id=a.exercise_id,
        quiz_id=a.quiz_id,
        duration_seconds=a.duration_seconds,
    )
    msg.occur_time.FromDatetime(a.occurred_at)
    return msg


# --- other contexts' events (by field name: no context imports another's package) -----------------

_VERDICT_PREFIX = "VERDICT_"


def _time(msg: Message, field: str, fallback: datetime) -> datetime:
    if msg.HasField(field):
        return getattr(msg, field).ToDatetime(tzinfo=UTC)
    return fallback


def activity_from_sandbox_executed(event: Any, when: datetime) -> Activity:
    verdict = event.DESCRIPTOR.fields_by_name["verdict"].enum_type.values_by_number[event.verdict].name
    return Activity(
        event_id=f"sandbox.executed:{event.execution_id}",
        student_id=event.user_id,
        kind=ActivityKind.CODE_RUN,
        occurred_at=_time(event, "occur_time", when),
        exercise_id=event.exercise_id,
        verdict=verdict.removeprefix(_VERDICT_PREFIX),
        exception_type=event.diagnosis.exception_type,
    )


def activity_from_submission_graded(event: Any, when: datetime) -> Activity:
    return Activity(
        event_id=f"sandbox.graded:{event.submission_id}",
        student_id=event.user_id,
        kind=ActivityKind.EXERCISE_ATTEMPT,
        occurred_at=_time(event, "occur_time", when),
        topic=event.topic,
        exercise_id=event.exercise_id,
        score=event.score,
    )


_ALERT_STATES = {
    "open": pb.ALERT_STATE_OPEN,
    "acknowledged": pb.ALERT_STATE_ACKNOWLEDGED,
    "resolved": pb.ALERT_STATE_RESOLVED,
}
_ALERT_STATE_NAMES = {v: k for k, v in _ALERT_STATES.items()}


def alert_state_from_proto(state: int) -> str | None:
    """The state a ListStruggleAlerts request filters by; None for no filter."""
    return _ALERT_STATE_NAMES.get(state) if state else None


def alert_to_proto(alert: StruggleAlert) -> pb.StruggleAlert:
    msg = pb.StruggleAlert(
        id=alert.id,
        student_id=alert.student_id,
        rule=alert.rule,
        key=alert.key,
        explanation=alert.explanation,
        severity=alert.severity,
        state=_ALERT_STATES[alert.state],
    )
    msg.create_time.FromDatetime(alert.created_at)
    if alert.acknowledged_at:
        msg.acknowledge_time.FromDatetime(alert.acknowledged_at)
    if alert.resolved_at:
        msg.resolve_time.FromDatetime(alert.resolved_at)
    if alert.state == RESOLVED:  # resolved before the resolution column existed: by a teacher
        msg.resolution = _RESOLUTIONS[alert.resolution or BY_TEACHER]
    return msg


_RESOLUTIONS = {
    BY_TEACHER: pb.ALERT_RESOLUTION_TEACHER,
    BY_PROGRESS: pb.ALERT_RESOLUTION_STUDENT_PROGRESS,
    BY_QUIET_PERIOD: pb.ALERT_RESOLUTION_QUIET_PERIOD,
}


def topic_to_proto(t: TopicMastery) -> pb.TopicMastery:
    return mastery_to_proto(t.topic, t.score, t.evidence, t.level, t.attempts, t.updated_at)


def recorded_to_proto(recorded: Recorded) -> api_pb.RecordActivityResponse:
    response = api_pb.RecordActivityResponse(applied=recorded.applied)
    m: MasteryState | None = recorded.mastery
    if m is not None:
        response.mastery.CopyFrom(
            mastery_to_proto(recorded.topic, m.score, m.weight, m.level.name, m.attempts, m.last_at)
        )
    return response


def progress_to_proto(p: StudentProgress) -> pb.StudentProgress:
    return pb.StudentProgress(
        student_id=p.student_id,
        topics=[topic_to_proto(t) for t in p.topics],
        streak=streak_to_proto(p.streak),
        recent_activity=[activity_to_proto(a) for a in p.recent_activity],
        open_alerts=p.open_alerts,
    )


def summary_to_proto(s: StudentSummary) -> pb.StudentSummary:
    msg = pb.StudentSummary(
        student_id=s.student_id,
        mean_mastery=s.mean_mastery,
        topics_mastered=s.topics_mastered,
        open_alerts=s.open_alerts,
        risk=s.risk,
        streak=streak_to_proto(s.streak),
    )
    if s.last_active_at:
        msg.last_active_time.FromDatetime(s.last_active_at)
    return msg


def membership_change_from_proto(request: api_pb.UpdateClassMembershipRequest) -> MembershipChange:
    return MembershipChange(
        add_teacher_ids=tuple(request.add_teacher_ids),
        remove_teacher_ids=tuple(request.remove_teacher_ids),
        add_student_ids=tuple(request.add_student_ids),
        remove_student_ids=tuple(request.remove_student_ids),
    )


def class_to_proto(c: StudentClass) -> pb.StudentClass:
    return pb.StudentClass(
        id=c.id, name=c.name, teacher_ids=list(c.teacher_ids), student_ids=list(c.student_ids)
    )


def mastery_to_proto(
    topic: str, score: float, evidence: float, level_name: str, attempts: int, updated_at: datetime | None
) -> pb.TopicMastery:
    msg = pb.TopicMastery(
        topic=topic,
        score=round(score, 4),
        evidence=round(evidence, 4),
        level=_LEVELS.get(level_name, pb.MASTERY_LEVEL_UNSPECIFIED),
        attempts=attempts,
    )
    if updated_at:
        msg.update_time.FromDatetime(updated_at)
    return msg


_LEVELS = {
    "ATTEMPTED": pb.MASTERY_LEVEL_ATTEMPTED,
    "FAMILIAR": pb.MASTERY_LEVEL_FAMILIAR,
    "PROFICIENT": pb.MASTERY_LEVEL_PROFICIENT,
    "MASTERED": pb.MASTERY_LEVEL_MASTERED,
}


def streak_to_proto(streak: Streak) -> pb.Streak:
    return pb.Streak(
        current_days=streak.current_days,
        longest_days=streak.longest_days,
        last_active_date=streak.last_active_date.isoformat() if streak.last_active_date else "",
    )


# --- events out ------------------------------------------------------------------------------------


def struggle_detected_event(alert: StruggleAlert, teacher_ids: list[str]) -> events_pb2.StruggleDetected:
    """The event tells of the detection: the alert as it was opened, even when the same unit of work
    went on to clear it."""
    opened = replace(alert, state=OPEN, resolved_at=None, resolution=None)
    return events_pb2.StruggleDetected(alert=alert_to_proto(opened), teacher_ids=teacher_ids)
