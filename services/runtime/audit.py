"""Recording an audit event: the one call every context makes for an administrative action or a
communication, inside the transaction that makes the change.

    await audit.record(self.outbox, session, "user.created", f"users/{user.id}", after={...})

The event is staged in the calling context's outbox (same transaction), so the change and its audit
record commit together or not at all; the outbox relay publishes it on `audit.<context>.<action>` and
the audit context appends it to its tenant's hash chain (services/audit, docs/audit.md).

Who acted, for which tenant, under which request and when come from the request context
(request_context.py), never from the arguments, so no caller can write a record in someone else's
name: the principal's subject (a user, or `workload:<context>` for a context calling on a tenant's
behalf), else `system:<context>` (an event consumer, a CLI, start-up work). The tenant is the
principal's, else the request context's, else the transaction's; an action with none of them (a
signing-key rotation from the CLI) goes to the platform chain, the nil tenant, which only operators
verify.

`before` and `after` are small JSON-able dicts that say what changed. Student data is referred to by
id, never copied in clear (a message's body, a grade): the trail outlives deletions and is exported.

The subjects `audit.>` belong to the runtime's AUDIT stream (STREAM below), ensured by every
`learnflow serve` at start-up whatever contexts it hosts, because every process with an outbox may
record. Without it, publishing an audit event would find no stream and the relay would retry it
forever, holding back the context's other events; with it, records wait in the stream (30 days) until
the audit context is deployed and its durable consumer reads them from the start.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from learnflow.audit.v1 import events_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime import request_context
from services.runtime.contexts import StreamSpec
from services.runtime.db import tenant_of
from services.runtime.events.outbox import Outbox
from services.runtime.workload import is_workload

STREAM = StreamSpec("AUDIT", ("audit.>",), max_age_seconds=30 * 24 * 3600)
SUBJECT_PREFIX = "audit."
# The chain of actions that belong to no tenant (platform work done outside any request).
PLATFORM_TENANT = "00000000-0000-0000-0000-000000000000"
# "user.created", "class.membership_changed": NATS subject tokens, so no wildcard or space slips in.
_ACTION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
MAX_ACTION = 100
MAX_RESOURCE = 300
MAX_REASON = 1000
# A record's before/after stays small: it says what changed, it is not a copy of the resource's data.
MAX_STATE_BYTES = 16 * 1024


def canonical_json(value: dict[str, Any] | None) -> str:
    """The one JSON text of a state (keys sorted, no spaces), "" for none, so a record's content,
    and therefore its hash, does not depend on dict order."""
    if value is None:
        return ""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _actor(context: str) -> tuple[str, str]:
    principal = request_context.principal()
    if principal is None:
        return f"system:{context}", "system"
    return principal.subject, "workload" if is_workload(principal.subject) else "user"


def _tenant(session: AsyncConnection) -> str:
    principal = request_context.principal()
    return (
        (principal.tenant_id if principal else "")
        or request_context.tenant_id()
        or tenant_of(session)
        or PLATFORM_TENANT
    )


def event(
    context: str,
    action: str,
    resource: str,
    *,
    tenant_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
) -> events_pb2.AuditEvent:
    """The AuditEvent for an action of `context` now, its actor and correlation id from the request
    context. A programming mistake (a malformed action, an oversized state) raises ValueError: it
    must fail the action rather than leave it unrecorded."""
    if not _ACTION.match(action) or len(action) > MAX_ACTION:
        raise ValueError(f"audit action {action!r} must be dotted lower-case words (at most {MAX_ACTION})")
    if not resource or len(resource) > MAX_RESOURCE:
        raise ValueError(f"audit resource must be 1-{MAX_RESOURCE} characters")
    if "\x00" in resource or "\x00" in reason:
        raise ValueError("audit resource and reason must not hold a NUL character")
    before_json, after_json = canonical_json(before), canonical_json(after)
    if len(before_json) > MAX_STATE_BYTES or len(after_json) > MAX_STATE_BYTES:
        raise ValueError(f"audit before/after must be at most {MAX_STATE_BYTES} bytes of JSON")
    actor, kind = _actor(context)
    ctx = request_context.current()
    occurred = Timestamp()
    occurred.FromDatetime(datetime.now(UTC))
    return events_pb2.AuditEvent(
        context=context,
        action=action,
        resource=resource,
        actor=actor,
        actor_kind=kind,
        tenant_id=tenant_id,
        correlation_id=request_context.correlation_id(),
        occur_time=occurred,
        before_json=before_json,
        after_json=after_json,
        reason=reason[:MAX_REASON],
        rpc=ctx.rpc if ctx else "",
    )


async def record(
    outbox: Outbox,
    session: AsyncConnection,
    action: str,
    resource: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    context: str | None = None,
    tenant_id: str | None = None,
) -> str:
    """Stages the audit event of `action` on `resource` in `session`'s transaction, through
    `outbox` (the calling context's), on subject audit.<context>.<action>; returns its event id,
    which becomes the audit record's id. `context` defaults to the outbox's (the runtime's operations
    service records as "ops" through the outbox of the context whose records it changed).
    `tenant_id` names the tenant whose log the record belongs to when that is not the caller's: an
    operator's redrive of tenant B's dead letter is B's record (B's admins see it, B's chain holds
    it), not the operator's home tenant's; "" for the platform's own log."""
    name = context or outbox.context
    tenant = _tenant(session) if tenant_id is None else (tenant_id or PLATFORM_TENANT)
    message = event(name, action, resource, tenant_id=tenant, before=before, after=after, reason=reason)
    return await outbox.stage(session, f"{SUBJECT_PREFIX}{name}.{action}", message, tenant_id=tenant)


@dataclass(frozen=True)
class Entry:
    """One audit record for record_many: the arguments of record() after the session."""

    action: str
    resource: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str = ""


async def record_many(outbox: Outbox, session: AsyncConnection, entries: Sequence[Entry]) -> list[str]:
    """record() for several entries of the transaction's tenant in one statement (Outbox.stage_many);
    returns their event ids in order."""
    name = outbox.context
    tenant = _tenant(session)
    events = [
        (
            f"{SUBJECT_PREFIX}{name}.{e.action}",
            event(
                name, e.action, e.resource, tenant_id=tenant, before=e.before, after=e.after, reason=e.reason
            ),
        )
        for e in entries
    ]
    return await outbox.stage_many(session, events, tenant_id=tenant)
