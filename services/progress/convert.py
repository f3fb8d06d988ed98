"""The one place where progress's domain objects and protobuf messages meet (its own, and the
events of other contexts it consumes, which arrive as protobuf messages by their names)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message
from learnflow.progress.v1 import resources_pb2 as pb

from services.progress import store
from services.progress.domain import Activity, ActivityKind

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


def activity_to_proto(row: Any) -> pb.Activity:
    msg = pb.Activity(
        id=row.id,
        student_id=row.student_id,
        topic=row.topic,
        kind=_KIND_TO_PROTO[ActivityKind(row.kind)],
        score=row.score or 0.0,
        verdict=row.verdict,
        exception_type=row.exception_type,
        exercise_id=row.exercise_id,
        quiz_id=row.quiz_id,
        duration_seconds=row.duration_seconds,
    )
    msg.occur_time.FromDatetime(row.occurred_at)
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
ALERT_STATE_NAMES = {v: k for k, v in _ALERT_STATES.items()}


def alert_to_proto(row: Any) -> pb.StruggleAlert:
    msg = pb.StruggleAlert(
        id=str(row.id),
        student_id=row.student_id,
        rule=row.rule,
        key=row.key,
        explanation=row.explanation,
        severity=row.severity,
        state=_ALERT_STATES[row.state],
    )
    msg.create_time.FromDatetime(row.created_at)
    if row.acknowledged_at:
        msg.acknowledge_time.FromDatetime(row.acknowledged_at)
    if row.resolved_at:
        msg.resolve_time.FromDatetime(row.resolved_at)
    if row.state == "resolved":  # resolved before the resolution column existed: by a teacher
        msg.resolution = _RESOLUTIONS[row.resolution or store.BY_TEACHER]
    return msg


_RESOLUTIONS = {
    store.BY_TEACHER: pb.ALERT_RESOLUTION_TEACHER,
    store.BY_PROGRESS: pb.ALERT_RESOLUTION_STUDENT_PROGRESS,
    store.BY_QUIET_PERIOD: pb.ALERT_RESOLUTION_QUIET_PERIOD,
}


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


def streak_to_proto(current: int, longest: int, last_active: Any) -> pb.Streak:
    return pb.Streak(
        current_days=current,
        longest_days=longest,
        last_active_date=last_active.isoformat() if last_active else "",
    )
