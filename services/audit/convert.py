"""The one place where audit's domain objects and its protobuf messages meet: the audit events it
consumes in, requests in, records, checkpoints and verifications out. audit publishes no events (its
own subjects, audit.>, are the records it consumes)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from google.protobuf import json_format, struct_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from learnflow.audit.v1 import audit_service_pb2 as pb
from learnflow.audit.v1 import events_pb2, resources_pb2

from services.audit import domain
from services.audit.domain import AuditRecord, Checkpoint, NewRecord, RecordFilter, Verification
from services.runtime.errors import InvalidArgument
from services.runtime.events.envelope import Event, require_tenant

_PROBLEMS = {
    "": pb.CHAIN_PROBLEM_UNSPECIFIED,
    domain.CONTENT_CHANGED: pb.CHAIN_PROBLEM_CONTENT_CHANGED,
    domain.LINK_BROKEN: pb.CHAIN_PROBLEM_LINK_BROKEN,
    domain.SEQUENCE_GAP: pb.CHAIN_PROBLEM_SEQUENCE_GAP,
    domain.TRUNCATED: pb.CHAIN_PROBLEM_TRUNCATED,
    domain.CHECKPOINT_FORGED: pb.CHAIN_PROBLEM_CHECKPOINT_FORGED,
}

# --- events in -------------------------------------------------------------------------------------


def record_from_event(event: Event) -> NewRecord:
    """An audit event as a record to append. Its id is the event id and its tenant the envelope's;
    an event that cannot be a record (not an AuditEvent, no tenant, ids that are not UUIDs, a body
    naming another tenant) is InvalidArgument, so the consumer dead-letters it."""
    message = event.message
    if not isinstance(message, events_pb2.AuditEvent):
        raise InvalidArgument(f"{event.type} {event.id} on {event.subject} is not an AuditEvent")
    tenant = require_tenant(event)
    try:
        record_id, tenant_id = str(uuid.UUID(event.id)), str(uuid.UUID(tenant))
    except ValueError:
        raise InvalidArgument(f"audit event {event.id!r} of tenant {tenant!r}: ids must be UUIDs") from None
    if message.tenant_id and message.tenant_id.lower() != tenant_id:
        raise InvalidArgument(
            f"audit event {event.id} names tenant {message.tenant_id}, its envelope {tenant_id}"
        )
    occurred = message.occur_time.ToDatetime(tzinfo=UTC) if message.HasField("occur_time") else None
    texts = (
        *(message.context, message.action, message.resource, message.actor, message.actor_kind),
        *(message.correlation_id, message.before_json, message.after_json, message.reason, message.rpc),
    )
    if any("\x00" in t for t in texts):  # PostgreSQL text cannot hold one, and the chain relies on it
        raise InvalidArgument(f"audit event {event.id} holds a NUL character")
    return NewRecord(
        id=record_id,
        tenant_id=tenant_id,
        context=message.context,
        action=message.action,
        resource=message.resource,
        actor=message.actor,
        actor_kind=message.actor_kind,
        correlation_id=message.correlation_id or event.correlation_id,
        occurred_at=occurred or _event_time(event),
        before_json=message.before_json,
        after_json=message.after_json,
        reason=message.reason,
        rpc=message.rpc,
    )


def _event_time(event: Event) -> datetime:
    try:
        return datetime.fromisoformat(event.time.replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)


# --- requests in -----------------------------------------------------------------------------------


def _moment(ts: Timestamp, present: bool) -> datetime | None:
    return ts.ToDatetime(tzinfo=UTC) if present else None


def filter_from_proto(request: pb.ListAuditRecordsRequest) -> RecordFilter:
    return RecordFilter(
        actor=request.actor,
        action=request.action,
        context=request.context,
        resource=request.resource,
        start=_moment(request.start_time, request.HasField("start_time")),
        end=_moment(request.end_time, request.HasField("end_time")),
    )


def export_range_from_proto(request: pb.ExportAuditRecordsRequest) -> tuple[datetime | None, datetime | None]:
    return (
        _moment(request.start_time, request.HasField("start_time")),
        _moment(request.end_time, request.HasField("end_time")),
    )


# --- resources out ---------------------------------------------------------------------------------


def _state(text: str) -> struct_pb2.Struct | None:
    if not text:
        return None
    value = json.loads(text)
    if not isinstance(value, dict):
        value = {"value": value}
    out = struct_pb2.Struct()
    json_format.ParseDict(value, out)
    return out


def record_to_proto(r: AuditRecord) -> resources_pb2.AuditRecord:
    msg = resources_pb2.AuditRecord(
        id=r.id,
        tenant_id=r.tenant_id,
        sequence=r.sequence,
        context=r.context,
        action=r.action,
        resource=r.resource,
        actor=r.actor,
        actor_kind=r.actor_kind,
        correlation_id=r.correlation_id,
        reason=r.reason,
        rpc=r.rpc,
        previous_hash=r.previous_hash,
        hash=r.hash,
    )
    msg.occur_time.FromDatetime(r.occurred_at)
    for name, text in (("before", r.before_json), ("after", r.after_json)):
        state = _state(text)
        if state is not None:
            getattr(msg, name).CopyFrom(state)
    return msg


def checkpoint_to_proto(cp: Checkpoint) -> resources_pb2.Checkpoint:
    msg = resources_pb2.Checkpoint(
        id=cp.id,
        tenant_id=cp.tenant_id,
        sequence=cp.sequence,
        hash=cp.hash,
        algorithm=cp.algorithm,
        key_id=cp.key_id,
        public_key=cp.public_key,
        signature=cp.signature,
    )
    msg.sign_time.FromDatetime(cp.signed_at)
    return msg


def verification_to_proto(v: Verification) -> pb.VerifyChainResponse:
    msg = pb.VerifyChainResponse(
        intact=v.intact,
        records_checked=v.records_checked,
        first_sequence=v.first_sequence,
        last_sequence=v.last_sequence,
        problem=_PROBLEMS[v.problem],
        broken_sequence=v.broken_sequence,
        broken_record_id=v.broken_record_id,
        detail=v.detail,
    )
    if v.checkpoint is not None:
        msg.checkpoint.CopyFrom(checkpoint_to_proto(v.checkpoint))
    return msg


def record_to_json_line(r: AuditRecord) -> str:
    """One line of a JSON Lines export: the record as its REST JSON (camelCase), on one line."""
    return json.dumps(
        json_format.MessageToDict(record_to_proto(r)), separators=(",", ":"), ensure_ascii=False
    )
