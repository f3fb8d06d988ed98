"""struggle.detected tells of the detection: the alert as it was opened, even when the same unit of
work went on to resolve it (a batch in which the student also made progress)."""

from __future__ import annotations

from datetime import UTC, datetime

from learnflow.progress.v1 import resources_pb2 as pb

from services.progress import convert
from services.progress.domain.records import BY_PROGRESS, OPEN, RESOLVED, StruggleAlert

OPENED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _alert(**changes: object) -> StruggleAlert:
    fields: dict = dict(
        id="7c9e6679-7425-40de-944b-e07fc1f90ae7",
        student_id="s1",
        rule="repeated_error",
        key="NameError",
        explanation="NameError three times in 10 minutes",
        severity="medium",
        state=OPEN,
        created_at=OPENED,
    )
    return StruggleAlert(**{**fields, **changes})


def test_an_alert_resolved_in_the_same_batch_is_announced_as_opened():
    resolved = _alert(
        state=RESOLVED, resolved_at=datetime(2026, 12, 1, 9, 5, tzinfo=UTC), resolution=BY_PROGRESS
    )
    event = convert.struggle_detected_event(resolved, ["t1", "t2"])
    assert event.alert.state == pb.ALERT_STATE_OPEN
    assert not event.alert.HasField("resolve_time")
    assert event.alert.resolution == pb.ALERT_RESOLUTION_UNSPECIFIED
    assert event.alert.create_time.ToDatetime(tzinfo=UTC) == OPENED
    assert list(event.teacher_ids) == ["t1", "t2"]
    # the resource itself still says how it ended
    read = convert.alert_to_proto(resolved)
    assert read.state == pb.ALERT_STATE_RESOLVED
    assert read.resolution == pb.ALERT_RESOLUTION_STUDENT_PROGRESS


def test_an_alert_resolved_before_resolutions_were_recorded_was_resolved_by_a_teacher():
    assert convert.alert_to_proto(_alert(state=RESOLVED)).resolution == pb.ALERT_RESOLUTION_TEACHER
