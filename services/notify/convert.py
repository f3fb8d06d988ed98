"""The one place where notify's domain objects and its protobuf messages meet: requests in,
resources out, and the events the service layer stages (it calls the `*_event` functions and hands
the message to the outbox unopened)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from learnflow.notify.v1 import events_pb2, notify_service_pb2, resources_pb2

from services.notify.domain import Delivery, DeliveryFilter, Escalation, MessageRequest, QuietHours, Template

_STATUS = {
    "pending": resources_pb2.DELIVERY_STATUS_PENDING,
    "sent": resources_pb2.DELIVERY_STATUS_SENT,
    "failed": resources_pb2.DELIVERY_STATUS_FAILED,
    "retrying": resources_pb2.DELIVERY_STATUS_RETRYING,
    "read": resources_pb2.DELIVERY_STATUS_READ,
    "deferred": resources_pb2.DELIVERY_STATUS_DEFERRED,
    "digested": resources_pb2.DELIVERY_STATUS_DIGESTED,
}
_STATUS_IN = {v: k for k, v in _STATUS.items()}
_URGENCY = {
    "low": resources_pb2.URGENCY_LOW,
    "normal": resources_pb2.URGENCY_NORMAL,
    "high": resources_pb2.URGENCY_HIGH,
    "critical": resources_pb2.URGENCY_CRITICAL,
}
_URGENCY_IN = {v: k for k, v in _URGENCY.items()}


def _ts(value: datetime | None, into: Timestamp) -> None:
    if value is not None:
        into.FromDatetime(value)


def _when(ts: Timestamp, present: bool) -> datetime | None:
    return ts.ToDatetime(tzinfo=UTC) if present else None


# --- requests in -----------------------------------------------------------------------------------


def escalation_from_proto(msg: resources_pb2.Escalation, present: bool) -> Escalation | None:
    if not present:
        return None
    return Escalation(after_minutes=msg.after_minutes, channels=tuple(msg.channels))


def variables_from_proto(items: Iterable[notify_service_pb2.Variable]) -> dict[str, str]:
    """Name -> value; a name given twice keeps its last value."""
    return {v.name: v.value for v in items}


def message_from_proto(msg: notify_service_pb2.MessageSpec) -> MessageRequest:
    return MessageRequest(
        channel=msg.channel,
        recipient_id=msg.recipient_id,
        template=msg.template,
        template_version=msg.template_version,
        variables=variables_from_proto(msg.variables),
        # Unspecified means normal; defined_only already refused numbers outside the enum.
        urgency=_URGENCY_IN.get(msg.urgency, "normal"),  # type: ignore[arg-type]
        idempotency_key=msg.idempotency_key,
        escalation=escalation_from_proto(msg.escalation, msg.HasField("escalation")),
    )


def filter_from_proto(msg: notify_service_pb2.ListDeliveriesRequest) -> DeliveryFilter:
    return DeliveryFilter(
        status=_STATUS_IN.get(msg.status),  # type: ignore[arg-type]
        channel=msg.channel,
        recipient_id=msg.recipient_id,
        since=_when(msg.since, msg.HasField("since")),
        until=_when(msg.until, msg.HasField("until")),
        platform=msg.platform,
    )


# --- resources out ---------------------------------------------------------------------------------


def delivery_to_proto(d: Delivery) -> resources_pb2.Delivery:
    msg = resources_pb2.Delivery(
        id=str(d.id),
        channel=d.channel,
        requested_channel=d.requested_channel,
        recipient_id=d.recipient_id,
        address=d.address,
        template=d.template,
        template_version=d.template_version,
        subject=d.subject,
        body=d.body,
        urgency=_URGENCY[d.urgency],
        status=_STATUS[d.status],
        attempts=d.attempts,
        last_error=d.last_error,
        provider_message_id=d.provider_message_id,
        idempotency_key=d.idempotency_key,
        escalated_from=str(d.escalated_from) if d.escalated_from else "",
        digest_id=str(d.digest_id) if d.digest_id else "",
        created_by=d.created_by,
    )
    _ts(d.created_at, msg.create_time)
    _ts(d.updated_at, msg.update_time)
    _ts(d.sent_at, msg.sent_time)
    _ts(d.read_at, msg.read_time)
    _ts(d.next_attempt_at, msg.next_attempt_time)
    for n in d.notes:
        note = msg.notes.add(kind=n.kind, reason=n.reason)
        note.time.FromDatetime(n.at)
    if d.escalation is not None:
        msg.escalation.CopyFrom(
            resources_pb2.Escalation(
                after_minutes=d.escalation.after_minutes, channels=list(d.escalation.channels)
            )
        )
    return msg


def in_app_to_proto(d: Delivery) -> resources_pb2.InAppMessage:
    msg = resources_pb2.InAppMessage(
        id=str(d.id), subject=d.subject, body=d.body, urgency=_URGENCY[d.urgency]
    )
    _ts(d.sent_at or d.created_at, msg.create_time)
    _ts(d.read_at, msg.read_time)
    return msg


def template_to_proto(t: Template) -> resources_pb2.Template:
    msg = resources_pb2.Template(
        name=t.name, version=t.version, subject=t.subject, body=t.body, created_by=t.created_by
    )
    _ts(t.created_at, msg.create_time)
    return msg


def quiet_hours_to_proto(q: QuietHours) -> resources_pb2.QuietHours:
    return resources_pb2.QuietHours(
        user_id=q.user_id,
        start=f"{q.start:%H:%M}",
        end=f"{q.end:%H:%M}",
        time_zone=q.time_zone,
        enabled=q.enabled,
    )


# --- events out ------------------------------------------------------------------------------------


def delivery_sent_event(d: Delivery) -> events_pb2.DeliverySent:
    return events_pb2.DeliverySent(delivery=delivery_to_proto(d))


def delivery_failed_event(d: Delivery) -> events_pb2.DeliveryFailed:
    return events_pb2.DeliveryFailed(delivery=delivery_to_proto(d))


def delivery_read_event(d: Delivery) -> events_pb2.DeliveryRead:
    return events_pb2.DeliveryRead(delivery=delivery_to_proto(d))
