"""The wire form of an event: protobuf bytes in the body, CloudEvents-style metadata in NATS headers.

Headers: ce-id, ce-type (the protobuf full name), ce-source (the publishing context), ce-time,
ce-specversion, content-type, learnflow-tenant, learnflow-correlation-id, traceparent (when tracing),
and Nats-Msg-Id = ce-id so JetStream drops a republished duplicate.
"""

from __future__ import annotations

import importlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import DecodeError, Message

from services.runtime import request_context
from services.runtime.errors import InvalidArgument

TENANT = "learnflow-tenant"
CORRELATION = "learnflow-correlation-id"


class UndecodableEvent(Exception):
    """The message cannot be turned into an event: missing headers, unknown type, bad bytes."""


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    subject: str
    source: str
    time: str
    tenant_id: str | None
    correlation_id: str
    message: Message
    # What the consumer's prepare step returned for this event (ConsumerSpec.prepare), else None.
    prepared: Any = None
    # Set by the consumer: this delivery's number, and whether a failure now dead-letters the event
    # (a handler may then answer something rather than nothing).
    deliveries: int = 0
    last_delivery: bool = False


def require_tenant(event: Event) -> str:
    """The event's tenant; an event without one is dead-lettered (InvalidArgument is deterministic)."""
    if not event.tenant_id:
        raise InvalidArgument(f"{event.type} {event.id} carries no tenant")
    return event.tenant_id


def build_headers(
    message: Message, *, source: str, tenant_id: str | None, event_id: str | None = None
) -> dict[str, str]:
    event_id = event_id or str(uuid.uuid4())
    headers = {
        "ce-id": event_id,
        "ce-type": message.DESCRIPTOR.full_name,
        "ce-source": source,
        "ce-time": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "ce-specversion": "1.0",
        "content-type": "application/protobuf",
        "Nats-Msg-Id": event_id,
        CORRELATION: request_context.correlation_id() or event_id,
    }
    if tenant_id:
        headers[TENANT] = tenant_id
    traceparent = _traceparent()
    if traceparent:
        headers["traceparent"] = traceparent
    return headers


def _traceparent() -> str:
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return ""
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def _find_type(event_type: str) -> Descriptor | None:
    """Looks the type up in the descriptor pool, importing `<package>.events_pb2` (where every context
    declares its events, DESIGN.md §5) when it is not loaded yet."""
    pool = descriptor_pool.Default()
    try:
        return pool.FindMessageTypeByName(event_type)
    except KeyError:
        package = event_type.rpartition(".")[0]
        try:
            importlib.import_module(f"{package}.events_pb2")
            return pool.FindMessageTypeByName(event_type)
        except (ImportError, KeyError):
            return None


def decode(subject: str, headers: dict[str, str] | None, data: bytes) -> Event:
    headers = headers or {}
    event_id, event_type = headers.get("ce-id"), headers.get("ce-type")
    if not event_id or not event_type:
        raise UndecodableEvent("missing ce-id or ce-type header")
    descriptor = _find_type(event_type)
    if descriptor is None:
        raise UndecodableEvent(f"unknown event type {event_type!r}")
    try:
        message = message_factory.GetMessageClass(descriptor).FromString(data)
    except DecodeError as exc:
        raise UndecodableEvent(f"payload is not a valid {event_type}: {exc}") from exc
    return Event(
        id=event_id,
        type=event_type,
        subject=subject,
        source=headers.get("ce-source", ""),
        time=headers.get("ce-time", ""),
        tenant_id=headers.get(TENANT) or None,
        correlation_id=headers.get(CORRELATION, event_id),
        message=message,
    )
