"""The one place where activity's domain objects and protobuf meet: events and status out, filters in,
and the events the monitor stages (it calls the `*_event` functions and hands the message to the outbox
unopened), including progress's ActivityRecorded for exam results."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf.json_format import MessageToDict
from learnflow.activity.v1 import activity_service_pb2 as pb
from learnflow.activity.v1 import events_pb2, resources_pb2
from learnflow.progress.v1 import events_pb2 as progress_events
from learnflow.progress.v1 import resources_pb2 as progress_pb

from services.activity.domain import ActivityEvent, EventFilter, Mentor, MonitorStatus


def _struct(target: Any, value: dict[str, Any]) -> None:
    # The domain keeps metadata and statements JSON-shaped (numbers, strings, booleans, lists, dicts;
    # times as ISO strings), so they go into the Struct as they are.
    target.update(value)


def event_to_proto(e: ActivityEvent) -> resources_pb2.ActivityEvent:
    msg = resources_pb2.ActivityEvent(
        event_id=e.event_id,
        sequence=e.sequence,
        event_type=e.event_type,
        student_id=e.student_id,
        student_name=e.student_name,
        student_email=e.student_email,
        mentors=[resources_pb2.Mentor(id=m.id, name=m.name, email=m.email) for m in e.mentors],
        activity_id=e.activity_id,
        activity_title=e.activity_title,
        processed_for_ai=e.processed_for_ai,
        user_id=e.user_id,
        source=e.source,
        attempt_id=e.attempt_id,
    )
    _struct(msg.metadata, e.metadata)
    _struct(msg.statement, e.statement)
    msg.occur_time.FromDatetime(e.occurred_at)
    if e.created_at:
        msg.create_time.FromDatetime(e.created_at)
    for n in e.notifications:
        row = msg.notifications.add(
            mentor_id=n.mentor_id, channel=n.channel, sent=n.sent, message_id=n.message_id, error=n.error
        )
        if n.processed_at:
            row.process_time.FromDatetime(n.processed_at)
    return msg


def event_from_proto(msg: resources_pb2.ActivityEvent, tenant_id: str) -> ActivityEvent:
    """An activity.* event as the domain object (the mentor notifier's input)."""
    return ActivityEvent(
        event_id=msg.event_id,
        tenant_id=tenant_id,
        event_type=msg.event_type,
        source=msg.source,
        attempt_id=msg.attempt_id,
        student_id=msg.student_id,
        student_name=msg.student_name,
        student_email=msg.student_email,
        activity_id=msg.activity_id,
        activity_title=msg.activity_title,
        occurred_at=msg.occur_time.ToDatetime(UTC),
        mentors=tuple(Mentor(m.id, m.name, m.email) for m in msg.mentors),
        metadata=MessageToDict(msg.metadata),
        statement=MessageToDict(msg.statement),
        user_id=msg.user_id,
        processed_for_ai=msg.processed_for_ai,
        sequence=msg.sequence,
    )


def filter_from_proto(request: pb.ListActivityEventsRequest) -> EventFilter:
    return EventFilter(
        student_id=request.student_id or None,
        event_type=request.event_type,
        since=request.start_time.ToDatetime(UTC) if request.HasField("start_time") else None,
        until=request.end_time.ToDatetime(UTC) if request.HasField("end_time") else None,
    )


def status_to_proto(s: MonitorStatus) -> resources_pb2.MonitorStatus:
    msg = resources_pb2.MonitorStatus(
        enabled=s.enabled,
        last_error=s.last_error,
        watermark_age_seconds=s.watermark_age_seconds or 0.0,
        has_watermark=s.watermark_age_seconds is not None,
        events_by_type=s.events_by_type,
        rejected_rows=s.rejected,
        skipped_rows=s.skipped,
        unmatched_emails=list(s.unmatched_emails),
        late_commit_guard=s.late_commit_guard,
    )
    if s.last_poll_at:
        msg.last_poll_time.FromDatetime(s.last_poll_at)
    for c in s.cursors:
        cur = msg.cursors.add(source=c.source, id=c.id)
        if c.updated_at:
            cur.update_time.FromDatetime(c.updated_at)
    return msg


def lease_to_proto(
    lease_id: str, until: datetime | None, found: list[ActivityEvent]
) -> pb.ExportForAnalysisResponse:
    msg = pb.ExportForAnalysisResponse(lease_id=lease_id, events=[event_to_proto(e) for e in found])
    if until:
        msg.lease_expire_time.FromDatetime(until)
    return msg


# --- events out ------------------------------------------------------------------------------------


def activity_recorded_event(e: ActivityEvent) -> events_pb2.ActivityEventRecorded:
    return events_pb2.ActivityEventRecorded(event=event_to_proto(e))


def progress_activity_event(e: ActivityEvent) -> progress_events.ActivityRecorded:
    """An exam result as progress's activity (a quiz submission scored 0..1), so a failed exam counts
    toward mastery and struggle detection. Its id is the event id: progress records it once."""
    pct = float(e.metadata.get("percentage", 0.0))
    activity = progress_pb.Activity(
        id=f"lms:{e.event_id}",
        student_id=e.user_id,
        topic=str(e.metadata.get("course", ""))[:100],
        kind=progress_pb.ACTIVITY_KIND_QUIZ_SUBMISSION,
        score=min(max(pct / 100.0, 0.0), 1.0),
        quiz_id=f"lms-exam-{e.activity_id}",
        duration_seconds=min(float(e.metadata.get("duration_seconds", 0.0)), 86_400.0),
    )
    activity.occur_time.FromDatetime(e.occurred_at)
    return progress_events.ActivityRecorded(activity=activity)
