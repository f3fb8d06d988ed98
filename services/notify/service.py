"""notify's use cases and its delivery engine.

Requests (SendMessage, the delivery log, templates, the in-app inbox, quiet hours) each open one unit
of work. Every delivery attempt is a durable job (services/runtime/jobs.py). Delivery jobs of one
tenant run in batches (DELIVER_BATCH, the runtime's `JobKind(batch_handler=...)`), in three steps:

1. claim, in a short transaction of its own: the batch's delivery rows are read and locked in one
   statement, each address resolved and its shared rate limit taken, and every delivery about to go
   to a provider is marked as a send in flight (`claim_id`, `claimed_until`, the attempt counted),
   in one statement. That transaction COMMITS before any provider call;
2. send: the claimed messages go to their channels concurrently (each channel's outbound client
   keeps its own breaker and limits); a channel that takes several messages in one call (Moodle's
   `send_many`) gets one call for the batch's messages to it;
3. record, in the jobs' transaction (which marked them done): the claims are released (only those
   still ours), the sent ones marked in one statement with their `notify.delivery.sent` events in one
   insert, failures retried or failed, follow-up jobs enqueued. Commit.

Claims: a failure between 1 and 3 (the worker killed, the database gone at the wrong moment) leaves
the delivery claimed, and the claim is on record. The next job for it (the job runner retries it; the
reaper gives back a dead worker's job) never sends blindly:
- this process still holds the attempt's outcome (a database failure while recording it): recorded
  now, nothing sent again;
- the claim still holds: another attempt is in flight; checked again when its lease ends;
- the claim expired with nobody's outcome: for a channel whose provider drops a repeat of the same
  idempotency key (`resend_safe`: PagerDuty's dedup_key) and for `critical` messages (a duplicate
  page beats a missing one), sent again as a new attempt with the same key and a note; for the others
  (Moodle, Slack, Zulip, email keep no key) the delivery FAILS with UNKNOWN_OUTCOME and says why: it
  may or may not have arrived, an operator checks and redrives. Never a silent second send, never a
  silent loss.
The same rule for an attempt whose provider call failed after the message may have reached the
provider (`OutcomeUnknown`: the answer lost or timed out, a 500/502/504; the outbound client does not
repeat such a call in-line): sent again with an `unknown_outcome` note where that is safe or the
message critical, otherwise failed as UNKNOWN_OUTCOME.

Retries are ours, not the job runner's: a failed attempt is recorded (status retrying, attempts,
last error, a note) and the next attempt is a new job at exponential backoff with full jitter, never
before the provider's Retry-After. The job runner's own retries only cover a handler that could not
record anything (the database went away, a bug), and its dead jobs are the operators' to redrive.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notify import convert, domain, store
from services.notify.channels.base import BodyFormat, Channel, Outgoing, Sent, Urgency
from services.notify.domain import (
    IN_APP,
    Delivery,
    DeliveryFilter,
    Escalation,
    MessageRequest,
    Note,
    QuietHours,
    Template,
)
from services.notify.settings import NotifyConfig
from services.runtime import audit, pagination
from services.runtime.db import Database, tenant_of
from services.runtime.errors import (
    DomainError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
    Violations,
)
from services.runtime.events.outbox import Outbox
from services.runtime.jobs import Job, JobKind, JobQueue
from services.runtime.outbound import CircuitOpen, OutcomeUnknown, RateLimited, RetryableResponse
from services.runtime.ratelimit import Decision, Limit, SharedRateLimiter
from services.runtime.request_context import Principal

# What the ops alert rules read (deploy/prometheus/rules.yml: deliveries failing, a channel down):
# each attempt's outcome, counted when it is written.
DELIVERIES = Counter(
    "learnflow_notify_deliveries_total",
    "Delivery attempt outcomes by channel: sent, retrying (a retry scheduled), failed (for good)",
    ["channel", "status"],
)

log = logging.getLogger(__name__)

# Platform messages (ops alerts) that belong to no tenant live under the nil tenant, so they pass
# through the same tables, row-level security, limits and log as everything else.
SYSTEM_TENANT = "00000000-0000-0000-0000-000000000000"
# Delivery attempts per unit of work (the module docstring's three steps): one claim transaction, one
# record transaction and concurrent sends for up to this many deliveries of one tenant. The claim
# committed before the sends is what makes batching safe: a failure mid-batch leaves claims, never a
# rolled-back record of sends that went out.
DELIVER_BATCH = 32
# How long a claim holds a delivery for its send: longer than the deliver job's timeout (after which
# the handler is cancelled and cannot record anything), so a claim never expires under an attempt
# that may still record its outcome. The job's timeout is derived from it (see `kinds`).
SEND_LEASE_SECONDS = 90.0
DELIVER_TIMEOUT_SECONDS = 60.0
# Outcomes this process got from a provider, kept until recorded or superseded: a database failure
# while recording a batch leaves its claims, and the retried jobs record these instead of sending
# again. Bounded: a recorded outcome's claim is gone, so an old entry can only go unused.
UNRECORDED_KEPT = 20_000
DELIVER = "notify-deliver"
ESCALATE = "notify-escalate"
READ_POLL = "notify-read-poll"
DIGEST = "notify-digest"
# Roles that see a tenant's whole delivery log; teachers see what they sent.
LOG_READERS = ("admin", "service", "operator")
URGENCY_ORDER = {u: i for i, u in enumerate(domain.URGENCIES)}


class DirectoryUser(Protocol):
    """A user as identity describes them (runtime/directory.TenantUser)."""

    @property
    def disabled(self) -> bool: ...
    @property
    def email(self) -> str: ...
    @property
    def time_zone(self) -> str: ...


class Directory(Protocol):
    """Who a tenant's users are: runtime/directory.UserDirectory (identity's BatchGetUsers)."""

    async def users(self, tenant_id: str, ids: list[str]) -> Mapping[str, DirectoryUser]: ...


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    body_format: BodyFormat
    max_length: int
    supports_read_receipts: bool


# The engine's own channel: the delivery row is the message; the recipient lists it and marks it read.
# Plain text: the console escapes it when it shows it.
IN_APP_SPEC = ChannelSpec(IN_APP, "text", 20_000, False)


class Undeliverable(Exception):
    """This delivery cannot go out as it is (no address, channel gone): fail it with the reason."""


@dataclass(frozen=True)
class Preview:
    rendered: domain.Rendered
    max_length: int
    template_version: int


@dataclass
class _Attempt:
    """A delivery claimed for a send: as claimed (its attempt counted, address resolved, claim id),
    its channel and shared limit, and once sent, the outcome."""

    d: Delivery
    channel: Channel
    limit: tuple[str, Limit] | None
    outcome: Sent | Exception | None = None


@dataclass
class _Plan:
    """What a batch's claim step decided for each delivery."""

    to_claim: list[_Attempt] = field(default_factory=list)  # to send
    direct: list[Delivery] = field(default_factory=list)  # in_app: sent by being stored
    known: list[_Attempt] = field(default_factory=list)  # our own earlier claims with their outcome
    later: list[Callable[[AsyncConnection], Awaitable[None]]] = field(default_factory=list)
    # The batch's cached addresses, read in one statement: (recipient, channel) -> address.
    addresses: dict[tuple[str, str], str | None] = field(default_factory=dict)


class NotifyService:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        config: NotifyConfig,
        *,
        channels: Mapping[str, Channel] | None = None,
        directory: Directory | None = None,
        limiter: SharedRateLimiter | None = None,
        clock: Callable[[], datetime] | None = None,
        rng: Callable[[], float] = random.random,
        deliver_batch: int = DELIVER_BATCH,
        send_lease_seconds: float = SEND_LEASE_SECONDS,
    ):
        self.db = db
        self.outbox = outbox
        self.config = config
        self.channels: dict[str, Channel] = dict(channels or {})
        self.directory = directory
        self.limiter = limiter
        self.clock = clock or (lambda: datetime.now(UTC))
        self.rng = rng
        self.kinds = [
            # max_attempts here only bounds handlers that crash or lose the database; the delivery's
            # own retries are counted on its row (NOTIFY_MAX_RETRIES). Up to deliver_batch attempts
            # of one tenant go to deliver_many at once (claimed, sent concurrently, recorded: see the
            # module docstring); a batch that fails runs each job again alone through `deliver`,
            # which finds the claims and never sends blindly. A delivery due now is started by the
            # process that accepted it, as soon as that commits (JobKind.start_here).
            JobKind(
                DELIVER,
                self.deliver,
                max_attempts=10,
                backoff_base_seconds=2.0,
                timeout_seconds=min(DELIVER_TIMEOUT_SECONDS, send_lease_seconds * 2 / 3),
                batch=deliver_batch,
                batch_handler=self.deliver_many,
                start_here=True,
            ),
            JobKind(ESCALATE, self.escalate, max_attempts=10, backoff_base_seconds=5.0, timeout_seconds=60.0),
            JobKind(
                READ_POLL, self.poll_read, max_attempts=10, backoff_base_seconds=30.0, timeout_seconds=60.0
            ),
            JobKind(
                DIGEST, self.release_held, max_attempts=10, backoff_base_seconds=5.0, timeout_seconds=60.0
            ),
        ]
        self.queue = JobQueue("notify", self.kinds)
        self.send_lease_seconds = send_lease_seconds
        # Outbox.stage's row for several events in one statement, the rows as arrays: a multi-row
        # VALUES would be compiled again for every batch size.
        # (delivery id, claim id) -> the outcome of our send under that claim (UNRECORDED_KEPT).
        self._unrecorded: OrderedDict[tuple[uuid.UUID, uuid.UUID], Sent | Exception] = OrderedDict()

    # --- channels ------------------------------------------------------------------------------

    def spec(self, name: str) -> ChannelSpec | None:
        if name == IN_APP:
            return IN_APP_SPEC
        channel = self.channels.get(name)
        if channel is None:
            return None
        return ChannelSpec(name, channel.body_format, channel.max_length, channel.supports_read_receipts)

    def available(self) -> list[str]:
        return sorted({IN_APP, *self.channels})

    def _check_channel(self, v: Violations, name: str, path: str) -> ChannelSpec | None:
        found = self.spec(name)
        if found is None:
            v.add(path, f"unknown channel {name!r}; this deployment has {', '.join(self.available())}")
        return found

    def _limit(self, channel: str, address: str) -> tuple[str, Limit] | None:
        per_minute = self.config.per_minute(channel)
        if per_minute is None:
            return None
        key = f"{channel}:{address}" if channel in domain.PER_ADDRESS_LIMIT else channel
        return key, Limit.per_minute(per_minute, burst=self.config.limit_burst)

    # --- templates -----------------------------------------------------------------------------

    async def put_template(self, caller: Principal, name: str, subject: str, body: str) -> Template:
        v = Violations()
        # Off the event loop: parsing a long template full of tags takes a few tenths of a second
        # before the allowlist refuses it (docs/notify.md, "What a template may contain").
        await asyncio.to_thread(domain.check_template, v, name, subject, body, "template")
        v.raise_if_any()
        async with self.db.transaction(caller.tenant_id) as session:
            saved = await store.add_template(
                session, uuid.UUID(caller.tenant_id), name, subject, body, caller.subject
            )
            after = {"version": saved.version}
            await audit.record(self.outbox, session, "template.saved", f"templates/{saved.name}", after=after)
            return saved

    async def get_template(self, caller: Principal, name: str, version: int) -> Template:
        async with self.db.transaction(caller.tenant_id) as session:
            found = await store.get_template(session, name, version)
        if found is None:
            raise NotFound(
                f"template {name}{f' v{version}' if version else ''} not found", reason="TEMPLATE_NOT_FOUND"
            )
        return found

    async def render_preview(
        self, caller: Principal, name: str, version: int, channel: str, variables: Mapping[str, str]
    ) -> Preview:
        v = Violations()
        spec = self._check_channel(v, channel, "channel")
        v.raise_if_any()
        assert spec is not None
        template = await self.get_template(caller, name, version)
        try:
            rendered = domain.render(template, variables, body_format=spec.body_format, max_length=10**9)
        except InvalidArgument:
            raise
        # The preview shows an oversize body (with its length) rather than refusing it: that is what
        # the author needs to see; SendMessage refuses it.
        return Preview(rendered, spec.max_length, template.version)

    # --- sending -------------------------------------------------------------------------------

    async def send_message(self, caller: Principal, request: MessageRequest) -> Delivery:
        return (await self._send(caller, [request], batch=False))[0]

    async def send_messages(self, caller: Principal, requests: Sequence[MessageRequest]) -> list[Delivery]:
        return await self._send(caller, list(requests), batch=True)

    async def _send(
        self, caller: Principal, requests: list[MessageRequest], *, batch: bool
    ) -> list[Delivery]:
        """Checks every message (channel, recipient of the caller's tenant, template, rendering and
        length) before anything is stored: one bad message sends none. Then, in one transaction, the
        deliveries and their first jobs (or their quiet-hours digest)."""
        tenant = caller.tenant_id
        v = Violations()
        specs: list[ChannelSpec | None] = []
        for i, r in enumerate(requests):
            p = f"messages[{i}]" if batch else "message"
            specs.append(self._check_channel(v, r.channel, f"{p}.channel"))
            if r.urgency not in domain.URGENCIES:
                v.add(f"{p}.urgency", f"must be one of {', '.join(domain.URGENCIES)}")
            if r.escalation is not None:
                if not r.escalation.channels:
                    v.add(f"{p}.escalation.channels", "name at least one channel to escalate to")
                for j, name in enumerate(r.escalation.channels):
                    self._check_channel(v, name, f"{p}.escalation.channels[{j}]")
        users = await self._users(tenant, [r.recipient_id for r in requests])
        for i, r in enumerate(requests):
            p = f"messages[{i}]" if batch else "message"
            user = users.get(r.recipient_id.lower())
            if user is None:
                # Another tenant's user is exactly as unknown here as an id of nobody.
                v.add(f"{p}.recipient_id", "is not a user of this tenant")
            elif user.disabled:
                v.add(f"{p}.recipient_id", "is disabled")
        v.raise_if_any()
        async with self.db.transaction(tenant) as session:
            rows: list[tuple[Delivery, str]] = []
            templates: dict[tuple[str, int], Template | None] = {}
            for i, (r, spec) in enumerate(zip(requests, specs, strict=True)):
                assert spec is not None
                p = f"messages[{i}]" if batch else "message"
                which = (r.template, r.template_version)
                if which not in templates:  # a batch usually names one template: read it once
                    templates[which] = await store.get_template(session, *which)
                template = templates[which]
                if template is None:
                    v.add(
                        f"{p}.template",
                        f"no template {r.template!r}"
                        + (f" v{r.template_version}" if r.template_version else ""),
                    )
                    continue
                try:
                    rendered = domain.render(
                        template,
                        r.variables,
                        body_format=spec.body_format,
                        max_length=spec.max_length,
                        path=p,
                    )
                except InvalidArgument as exc:
                    v.items.extend(exc.violations)
                    continue
                rows.append(
                    (
                        Delivery(
                            id=uuid.uuid4(),
                            tenant_id=uuid.UUID(tenant),
                            channel=r.channel,
                            requested_channel=r.channel,
                            recipient_id=r.recipient_id.lower(),
                            address="",
                            template=template.name,
                            template_version=template.version,
                            variables=dict(r.variables),
                            subject=rendered.subject,
                            body=rendered.body,
                            urgency=r.urgency,
                            status="pending",
                            idempotency_key=r.idempotency_key,
                            escalation=r.escalation,
                            created_by=caller.subject,
                        ),
                        spec.body_format,
                    )
                )
            v.raise_if_any("the message cannot be sent")
            zones = {uid: u.time_zone for uid, u in users.items()}
            hours = await store.quiet_hours_of(session, sorted({d.recipient_id for d, _ in rows}))
            planned = [
                (self._plan(d, hours.get(d.recipient_id), zones.get(d.recipient_id, "")), f) for d, f in rows
            ]
            stored = await store.insert_deliveries(session, [(d, f) for (d, _), f in planned])
            created = [(d, until) for ((_, until), _), (d, new) in zip(planned, stored, strict=True) if new]
            await self._schedule_many(session, created)
            await self._audit_sent(session, [d for d, _ in created])
        return [d for d, _ in stored]

    async def send_system(
        self,
        *,
        channel: str,
        subject: str,
        body: str,
        idempotency_key: str,
        urgency: Urgency = "normal",
        extra: Mapping[str, str] | None = None,
        address: str | None = None,
        body_format: BodyFormat = "text",
        tenant_id: str | None = None,
        escalation: Escalation | None = None,
    ) -> Delivery:
        """A platform message, already rendered (ops alerts, digests for operators): no template, no
        recipient user, no quiet hours, but the same delivery log, retries, shared rate limits and
        events as every other message. `address` is the channel's own target (an email, a Slack
        webhook URL); None lets the channel pick its configured one (`channel.resolve("")`). The same
        `idempotency_key` again returns the first delivery and sends nothing (PagerDuty's `dedup_key`
        goes in `extra`). `tenant_id` None files it under SYSTEM_TENANT. Raises InvalidArgument for an
        unknown channel, an unknown urgency or a body longer than the channel takes."""
        v = Violations()
        spec = self._check_channel(v, channel, "channel")
        if urgency not in domain.URGENCIES:
            v.add("urgency", f"must be one of {', '.join(domain.URGENCIES)}")
        if not idempotency_key:
            v.add("idempotency_key", "is required: a platform message must be sent at most once")
        v.raise_if_any()
        assert spec is not None
        text = domain.adapt_body(body, body_format, spec.body_format)
        domain.check_length(text, spec.max_length, "body")
        tenant = tenant_id or SYSTEM_TENANT
        d = Delivery(
            id=uuid.uuid4(),
            tenant_id=uuid.UUID(tenant),
            channel=channel,
            requested_channel=channel,
            recipient_id="",
            address=address or "",
            template="",
            template_version=0,
            variables={},
            subject=" ".join(subject.split())[: domain.MAX_SUBJECT],
            body=text,
            urgency=urgency,
            status="pending",
            idempotency_key=idempotency_key,
            extra=dict(extra or {}),
            escalation=escalation,
            created_by="system",
        )
        async with self.db.transaction(tenant) as session:
            [(stored, created)] = await store.insert_deliveries(session, [(d, spec.body_format)])
            if created:
                await self._schedule_many(session, [(stored, None)])
                await self._audit_sent(session, [stored])
        return stored

    async def _audit_sent(self, session: AsyncConnection, sent: Sequence[Delivery]) -> None:
        """The communications in the audit trail (issue #12), in one insert: who asked, which
        template, to whom, on which channel; the content by reference (the delivery), never in clear."""
        await audit.record_many(
            self.outbox,
            session,
            [
                audit.Entry(
                    "message.sent",
                    f"deliveries/{d.id}",
                    after={
                        "channel": d.channel,
                        "template": d.template,
                        "template_version": d.template_version,
                        "recipient_id": d.recipient_id,
                        "urgency": d.urgency,
                        "body_ref": f"deliveries/{d.id}",
                    },
                )
                for d in sent
            ],
        )

    def _plan(
        self, d: Delivery, hours: QuietHours | None, user_zone: str
    ) -> tuple[Delivery, datetime | None]:
        """Quiet hours: a non-critical message inside the recipient's window is deferred to its end
        (never dropped); a critical one goes now, and that it bypassed the window is recorded."""
        now = self.clock()
        until = domain.quiet_until(hours, user_zone, now)
        if until is None or hours is None:
            return d, None
        zone = hours.time_zone or user_zone or "UTC"
        window = f"{hours.start:%H:%M}-{hours.end:%H:%M} {zone}"
        if d.urgency == "critical":
            note = Note(
                "quiet_hours_bypassed", f"critical: sent during the recipient's quiet hours ({window})", now
            )
            return replace(d, notes=domain.add_note(d.notes, note)), None
        local_end = until.astimezone(domain.zone(zone))
        note = Note("deferred", f"quiet hours {window}: held until {local_end:%Y-%m-%d %H:%M} {zone}", now)
        return replace(
            d, status="deferred", next_attempt_at=until, notes=domain.add_note(d.notes, note)
        ), until

    async def _schedule_many(
        self, session: AsyncConnection, deliveries: Sequence[tuple[Delivery, datetime | None]]
    ) -> None:
        """Each new delivery's first job: a delivery attempt due now (one statement for all of them),
        or, held by quiet hours, the recipient's digest at the end of the window."""
        now = [
            (str(d.tenant_id), None, {"delivery_id": str(d.id)}) for d, until in deliveries if until is None
        ]
        await self.queue.enqueue_many(session, DELIVER, now)
        for d, until in deliveries:
            if until is not None:
                # One digest job per recipient, channel and window: the key makes every message held
                # in the same window share it.
                await self.queue.enqueue(
                    session,
                    DIGEST,
                    {"recipient_id": d.recipient_id, "channel": d.channel},
                    key=f"digest:{d.tenant_id}:{d.recipient_id}:{d.channel}:{until.isoformat()}",
                    run_at=until,
                )

    async def _users(self, tenant: str, ids: list[str]) -> Mapping[str, DirectoryUser]:
        if self.directory is None:
            raise Unavailable(
                "notify has no user directory (no workload identity)", reason="DIRECTORY_UNAVAILABLE"
            )
        return await self.directory.users(tenant, ids)

    # --- the delivery log ----------------------------------------------------------------------

    async def get_delivery(self, caller: Principal, delivery_id: str) -> Delivery:
        async with self.db.transaction(caller.tenant_id) as session:
            found = await store.get_delivery(session, uuid.UUID(delivery_id))
        if found is None and caller.has_any("operator"):
            # Operators also read the platform's own messages (ops alerts), filed under no tenant.
            async with self.db.transaction(SYSTEM_TENANT) as session:
                found = await store.get_delivery(session, uuid.UUID(delivery_id))
        if found is None or not self._may_read(caller, found):
            raise NotFound(f"delivery {delivery_id} not found", reason="DELIVERY_NOT_FOUND")
        return found

    @staticmethod
    def _may_read(caller: Principal, d: Delivery) -> bool:
        return caller.has_any(*LOG_READERS) or d.created_by == caller.subject

    async def list_deliveries(
        self, caller: Principal, where: DeliveryFilter, page_size: int, page_token: str
    ) -> tuple[list[Delivery], str]:
        size = pagination.page_size(page_size, default=self.config.default_page_size)
        position = pagination.decode_token(page_token, t=datetime, i=uuid.UUID)
        after = (position["t"], position["i"]) if position else None
        tenant = caller.tenant_id
        if where.platform:
            if not caller.has_any("operator"):
                raise PermissionDenied(
                    "only operators read the platform's messages", reason="NOT_AN_OPERATOR"
                )
            tenant = SYSTEM_TENANT
        async with self.db.transaction(tenant) as session:
            found = await store.list_deliveries(
                session,
                limit=size + 1,
                after=after,
                status=where.status,
                channel=where.channel,
                recipient_id=where.recipient_id.lower(),
                since=where.since,
                until=where.until,
                created_by=None if caller.has_any(*LOG_READERS) else caller.subject,
            )
        return found[:size], _next_token(found, size)

    async def redrive(self, caller: Principal, delivery_id: str) -> Delivery:
        async with self.db.transaction(caller.tenant_id) as session:
            d = await store.get_delivery(session, uuid.UUID(delivery_id), lock=True)
            if d is None:
                raise NotFound(f"delivery {delivery_id} not found", reason="DELIVERY_NOT_FOUND")
            if d.status != "failed":
                raise FailedPrecondition(
                    f"delivery {delivery_id} is {d.status}: only failed deliveries are redriven"
                )
            d = await store.update_delivery(
                session,
                d.id,
                status="pending",
                attempts=0,
                next_attempt_at=None,
                note=Note("redriven", f"redriven by {caller.subject} after: {d.last_error}", self.clock()),
            )
            await self.queue.enqueue(session, DELIVER, {"delivery_id": str(d.id)})
            await audit.record(self.outbox, session, "delivery.redriven", f"deliveries/{d.id}")
        return d

    # --- in-app --------------------------------------------------------------------------------

    async def list_inbox(
        self, caller: Principal, page_size: int, page_token: str, unread_only: bool
    ) -> tuple[list[Delivery], str]:
        size = pagination.page_size(page_size, default=self.config.default_page_size)
        position = pagination.decode_token(page_token, t=datetime, i=uuid.UUID)
        after = (position["t"], position["i"]) if position else None
        async with self.db.transaction(caller.tenant_id) as session:
            found = await store.list_inbox(
                session, caller.subject.lower(), IN_APP, limit=size + 1, after=after, unread_only=unread_only
            )
        return found[:size], _next_token(found, size)

    async def mark_read(self, caller: Principal, message_id: str) -> Delivery:
        async with self.db.transaction(caller.tenant_id) as session:
            d = await store.get_delivery(session, uuid.UUID(message_id), lock=True)
            # Someone else's message is as absent as none at all.
            if (
                d is None
                or d.channel != IN_APP
                or d.recipient_id != caller.subject.lower()
                or d.status not in ("sent", "read")
            ):
                raise NotFound(f"message {message_id} not found", reason="MESSAGE_NOT_FOUND")
            if d.read_at is None:
                d = await self._mark_read(session, d, self.clock(), "read in the app")
        return d

    # --- quiet hours ---------------------------------------------------------------------------

    def _subject_of(self, caller: Principal, user_id: str) -> str:
        if not user_id or user_id.lower() == caller.subject.lower():
            return caller.subject.lower()
        if not caller.has_any("admin"):
            raise PermissionDenied(
                "only admins set or read another user's quiet hours", reason="NOT_YOUR_QUIET_HOURS"
            )
        return user_id.lower()

    async def set_quiet_hours(
        self, caller: Principal, user_id: str, start: str, end: str, time_zone: str, enabled: bool
    ) -> QuietHours:
        subject = self._subject_of(caller, user_id)
        v = Violations()
        if time_zone and not domain.valid_zone(time_zone):
            v.add(
                "quiet_hours.time_zone",
                f"unknown time zone {time_zone!r} (an IANA name such as Europe/Paris)",
            )
        for name, value in (("start", start), ("end", end)):
            try:
                domain.parse_hhmm(value)
            except ValueError:
                v.add(f"quiet_hours.{name}", "must be HH:MM")
        v.raise_if_any()
        if subject != caller.subject.lower():
            users = await self._users(caller.tenant_id, [subject])
            if subject not in users:
                raise NotFound(f"user {subject} not found", reason="USER_NOT_FOUND")
        hours = QuietHours(subject, domain.parse_hhmm(start), domain.parse_hhmm(end), time_zone, enabled)
        async with self.db.transaction(caller.tenant_id) as session:
            return await store.put_quiet_hours(session, uuid.UUID(caller.tenant_id), hours)

    async def get_quiet_hours(self, caller: Principal, user_id: str) -> QuietHours:
        subject = self._subject_of(caller, user_id)
        async with self.db.transaction(caller.tenant_id) as session:
            found = await store.get_quiet_hours(session, subject)
        return found or QuietHours(subject, datetime.min.time(), datetime.min.time(), "", False)

    # --- the engine: job handlers --------------------------------------------------------------

    async def deliver(self, job: Job, session: AsyncConnection) -> None:
        """One delivery job alone (a batch of one; the runner's path after a failed batch)."""
        await self.deliver_many([job], session)

    async def deliver_many(self, jobs: list[Job], session: AsyncConnection) -> None:
        """Attempts of one tenant's deliveries: claim (committed), send concurrently, record in the
        jobs' transaction `session` (see the module docstring)."""
        ids = list(dict.fromkeys(uuid.UUID(j.payload["delivery_id"]) for j in jobs))
        plan = _Plan()
        async with self.db.transaction(tenant_of(session)) as claim_tx:
            found = await store.lock_deliveries(claim_tx, ids)
            ready: list[Delivery] = []
            for delivery_id in ids:
                entry = found.get(delivery_id)
                if entry is None or entry[0].status not in ("pending", "retrying"):
                    continue  # sent, failed or digested meanwhile: nothing left to do
                d: Delivery | None = entry[0]
                if entry[0].claim_id is not None:
                    d = await self._settle_claim(claim_tx, entry[0], entry[1], plan)
                if d is not None:
                    ready.append(d)
            await self._prepare(claim_tx, ready, plan)
            claimed = await store.claim_deliveries(
                claim_tx, [(a.d, uuid.uuid4()) for a in plan.to_claim], self.send_lease_seconds
            )
        # Committed: every send below is on record as in flight before it starts.
        by_id = {d.id: d for d in claimed}
        attempts = [replace(a, d=by_id[a.d.id]) for a in plan.to_claim if a.d.id in by_id]
        outcomes = await self._send_all(attempts)
        for a, outcome in zip(attempts, outcomes, strict=True):
            a.outcome = outcome
            self._remember(a)
        await self._record(session, [*attempts, *plan.known], plan)

    async def _settle_claim(
        self, claim_tx: AsyncConnection, d: Delivery, remaining: float, plan: _Plan
    ) -> Delivery | None:
        """A delivery found claimed: a send began and its outcome was not recorded. Returns the
        delivery to attempt again (its stale claim cleared), or None when it is settled otherwise."""
        assert d.claim_id is not None
        known = self._unrecorded.get((d.id, d.claim_id))
        channel = self.channels.get(d.channel)
        if known is not None and channel is not None:
            # Our own attempt, whose outcome we hold (recording it failed): record it, send nothing.
            # (Kept, not popped, until recorded: this transaction may fail too.)
            plan.known.append(_Attempt(d, channel, self._limit(d.channel, d.address), known))
            return None
        if remaining > 0:
            plan.later.append(
                partial(
                    self._hold,
                    d=d,
                    kind="in_flight",
                    reason=f"a send is in flight (claim {d.claim_id}): checked again when its lease ends",
                    wait=remaining + 0.1,
                )
            )
            return None
        if not (getattr(channel, "resend_safe", False) or d.urgency == "critical"):
            plan.later.append(partial(self._unknown_outcome, d=d))
            return None
        await store.release_claims(claim_tx, [(d.id, d.claim_id)])
        why = (
            f"{d.channel} drops a repeat of the same idempotency key"
            if getattr(channel, "resend_safe", False)
            else "critical: a duplicate beats a missing message"
        )
        note = Note(
            "unknown_outcome",
            f"attempt {d.attempts} was handed to {d.channel} and its outcome never recorded (the worker "
            f"or the database failed); sent again with the same idempotency key ({why})",
            self.clock(),
        )
        again = await store.update_delivery(claim_tx, d.id, note=note)
        if again.attempts > self.config.max_retries:
            reason = f"gave up after {again.attempts} attempts; the last one's outcome is unknown"
            plan.later.append(partial(self._fail, d=again, reason=reason, attempts=again.attempts))
            return None
        return again

    async def _unknown_outcome(self, session: AsyncConnection, d: Delivery) -> None:
        """A claim expired with nobody's outcome on a channel that cannot tell a repeat from a new
        message: failed, loudly, rather than sent twice or forgotten."""
        assert d.claim_id is not None
        if not await store.release_claims(session, [(d.id, d.claim_id)]):
            return  # settled meanwhile by whoever held it
        await self._fail(
            session,
            d,
            f"UNKNOWN_OUTCOME: attempt {d.attempts} was handed to {d.channel} but its outcome was never "
            f"recorded (the worker or the database failed mid-send). Not sent again: {d.channel} keeps "
            "no idempotency key, so a repeat would reach the recipient twice. Check the provider; "
            "redrive if it did not arrive.",
            d.attempts,
        )

    async def _outcome_unknown(
        self,
        session: AsyncConnection,
        d: Delivery,
        exc: OutcomeUnknown,
        limit: tuple[str, Limit] | None,
        attempt: int,
    ) -> None:
        """The provider call failed after the message may have reached the provider (its answer lost
        or timed out, a 500/502/504: outbound.py never repeats such a call in-line). The rule of an
        expired claim: sent again only where a repeat is harmless or a duplicate beats a loss, with a
        note; otherwise failed as UNKNOWN_OUTCOME for an operator to check and redrive."""
        channel = self.channels.get(d.channel)
        resend_safe = getattr(channel, "resend_safe", False)
        if resend_safe or d.urgency == "critical":
            why = (
                f"{d.channel} drops a repeat of the same idempotency key"
                if resend_safe
                else "critical: a duplicate beats a missing message"
            )
            note = Note(
                "unknown_outcome",
                f"attempt {attempt} may have reached {d.channel} ({_describe(exc)}); to be sent again "
                f"with the same idempotency key ({why})",
                self.clock(),
            )
            await store.update_delivery(session, d.id, note=note)
            await self._retry_or_fail(session, d, attempt, exc, limit)
            return
        await self._fail(
            session,
            d,
            f"UNKNOWN_OUTCOME: attempt {attempt} may have reached {d.channel} ({_describe(exc)}). Not sent "
            f"again: {d.channel} keeps no idempotency key, so a repeat would reach the recipient twice. "
            "Check the provider; redrive if it did not arrive.",
            attempt,
        )

    async def _prepare(self, claim_tx: AsyncConnection, ready: list[Delivery], plan: _Plan) -> None:
        """Routes the deliveries and takes their rate limits: each one to claim and send, sent at
        once (in_app), or an outcome to record (held, failed, retried) without a provider call. The
        batch's cached addresses are read in one statement and each limit key's tokens taken in one
        (SharedRateLimiter.take_many) when its bucket holds them all."""
        fresh_after = self.clock() - timedelta(seconds=self.config.address_cache_seconds)
        plan.addresses = await store.cached_addresses(
            claim_tx,
            [(d.recipient_id, d.channel) for d in ready if d.recipient_id and not d.address],
            fresh_after,
        )
        routed: list[tuple[Delivery, Channel, tuple[str, Limit] | None]] = []
        for d in ready:
            try:
                d, channel = await self._route(claim_tx, d, plan.addresses)
                if channel is None:  # in_app: storing it for the recipient is delivering it
                    plan.direct.append(d)
                    continue
                routed.append((d, channel, self._limit(d.channel, d.address)))
            except Exception as exc:
                plan.later.append(
                    partial(self._after_failure, d=d, exc=exc, limit=None, attempt=d.attempts + 1)
                )
        by_key: dict[str, list[int]] = {}
        for i, (_, _, limit) in enumerate(routed):
            if limit is not None and self.limiter is not None:
                by_key.setdefault(limit[0], []).append(i)
        decided: dict[int, Decision | Exception] = {}
        for key, indexes in by_key.items():
            limit = routed[indexes[0]][2]
            assert limit is not None and self.limiter is not None
            try:
                taken = await self.limiter.take_many(key, limit[1], len(indexes))
                decided.update(zip(indexes, taken, strict=True))
            except Exception as exc:
                decided.update((i, exc) for i in indexes)
        for i, (d, channel, limit) in enumerate(routed):
            outcome = decided.get(i)
            if isinstance(outcome, Exception):
                plan.later.append(
                    partial(self._after_failure, d=d, exc=outcome, limit=limit, attempt=d.attempts + 1)
                )
            elif outcome is not None and not outcome.allowed:
                assert limit is not None
                plan.later.append(
                    partial(self._wait_for_limit, d=d, key=limit[0], retry_after=outcome.retry_after)
                )
            else:
                plan.to_claim.append(_Attempt(d, channel, limit))

    async def _send_all(self, attempts: list[_Attempt]) -> list[Sent | Exception]:
        """Each attempt's outcome, in order, the provider calls made concurrently: a channel that
        takes several messages in one call (`send_many`: Moodle) gets one call for all of its
        attempts, the others one call per message. A failed call is the outcome of each message in
        it."""
        outcomes: list[Sent | Exception | None] = [None] * len(attempts)
        together: dict[int, list[int]] = {}
        alone: list[int] = []
        for i, a in enumerate(attempts):
            if len(attempts) > 1 and callable(getattr(a.channel, "send_many", None)):
                together.setdefault(id(a.channel), []).append(i)
            else:
                alone.append(i)

        async def one(i: int) -> None:
            outcomes[i] = await self._call(attempts[i])

        async def many(indexes: list[int]) -> None:
            send_many = getattr(attempts[indexes[0]].channel, "send_many")  # noqa: B009 (optional)
            messages = []
            for i in list(indexes):
                try:
                    messages.append(self._outgoing(attempts[i].d))
                except Exception as exc:  # this message's own failure, as _call would record it
                    outcomes[i] = exc
                    indexes.remove(i)
            if not indexes:
                return
            try:
                results = await send_many(messages)
            except Exception as exc:  # the whole call failed (CancelledError is not caught)
                results = [exc] * len(indexes)
            for i, result in zip(indexes, results, strict=True):
                outcomes[i] = result

        await asyncio.gather(*(many(ix) for ix in together.values()), *(one(i) for i in alone))
        return [o for o in outcomes if o is not None]

    async def _call(self, a: _Attempt) -> Sent | Exception:
        try:
            return await a.channel.send(self._outgoing(a.d))
        except Exception as exc:  # recorded as the attempt's outcome (CancelledError is not caught)
            return exc

    def _remember(self, a: _Attempt) -> None:
        """Keeps the attempt's outcome (only that: the row is read again) until it is recorded."""
        assert a.d.claim_id is not None and a.outcome is not None
        if isinstance(a.outcome, Exception):
            a.outcome.__traceback__ = None  # its frames would keep the whole batch alive
        self._unrecorded[(a.d.id, a.d.claim_id)] = a.outcome
        while len(self._unrecorded) > UNRECORDED_KEPT:
            self._unrecorded.popitem(last=False)

    async def _record(self, session: AsyncConnection, attempts: list[_Attempt], plan: _Plan) -> None:
        """The batch's outcomes, in the jobs' transaction: claims released (only those still ours),
        sends marked sent in one statement, the rest retried, held or failed."""
        ours = await store.release_claims(
            session, [(a.d.id, a.d.claim_id) for a in attempts if a.d.claim_id is not None]
        )
        sent: list[tuple[Delivery, str, int, Channel | None]] = [
            (d, str(d.id), d.attempts + 1, None) for d in plan.direct
        ]
        for a in attempts:
            if a.d.id not in ours:
                # Our lease ran out before the outcome could be recorded and another attempt settled
                # the claim; its record stands. Loud: the lease is shorter than this attempt took.
                log.error(
                    "a delivery's claim expired before its outcome was recorded",
                    extra={"delivery": str(a.d.id), "outcome": repr(a.outcome)},
                )
                continue
            if isinstance(a.outcome, Sent):
                sent.append((a.d, a.outcome.provider_message_id or "", a.d.attempts, a.channel))
            else:
                assert a.outcome is not None
                await self._after_failure(session, a.d, a.outcome, a.limit, a.d.attempts, claimed=True)
        for step in plan.later:
            await step(session)
        await self._mark_sent_many(session, sent)

    async def _after_failure(
        self,
        session: AsyncConnection,
        d: Delivery,
        exc: BaseException,
        limit: tuple[str, Limit] | None,
        attempt: int,
        *,
        claimed: bool = False,
    ) -> None:
        """An attempt that did not deliver (`attempt`: its number; a claimed one counted it already)."""
        if isinstance(exc, Undeliverable):
            await self._fail(session, d, str(exc), attempt - 1 if not claimed else attempt)
        elif isinstance(exc, DomainError):
            if isinstance(exc, CircuitOpen | RateLimited) or exc.reason == "IDENTITY_UNAVAILABLE":
                # Nothing reached the provider (its breaker is open, our limit is spent) or we could
                # not ask identity: not an attempt. So an hour-long outage delays a message without
                # spending its retries; the breaker's trial calls are the attempts.
                after = getattr(exc, "retry_after", None)
                wait = float(after) if isinstance(after, int | float) else self.config.retry_base_seconds
                await self._hold(
                    session, d, "held", f"not attempted: {_describe(exc)}", wait, attempts=attempt - 1
                )
            elif isinstance(exc, OutcomeUnknown):
                await self._outcome_unknown(session, d, exc, limit, attempt)
            elif isinstance(exc, Unavailable):
                await self._retry_or_fail(session, d, attempt, exc, limit)
            else:  # TerminalResponse and other refusals: this message can never go out as it is
                await self._fail(session, d, _describe(exc), attempt)
        else:  # a client bug, a socket error an SMTP client let through: transient
            log.warning("channel %s raised %r", d.channel, exc, extra={"delivery": str(d.id)})
            await self._retry_or_fail(session, d, attempt, exc, limit)

    async def _route(
        self,
        session: AsyncConnection,
        d: Delivery,
        cached: Mapping[tuple[str, str], str | None] | None = None,
    ) -> tuple[Delivery, Channel | None]:
        """The delivery with its address resolved (and its channel switched to the fallback when the
        recipient has no account on the one asked for), and the channel to send it on. The address is
        written with the attempt's outcome (one statement fewer per delivery)."""
        if d.channel == IN_APP:
            return replace(d, address=d.address or d.recipient_id), None
        channel = self.channels.get(d.channel)
        if channel is None:
            raise Undeliverable(f"channel {d.channel} is not configured in this deployment")
        if d.address:
            return d, channel
        if not d.recipient_id:
            address = await channel.resolve("")
            if not address:
                raise Undeliverable(f"channel {d.channel} has no default target for platform messages")
            return replace(d, address=address), channel
        key = (d.recipient_id, d.channel)
        address = (
            cached[key] if cached is not None and key in cached else await self._address(session, d, channel)
        )
        if address:
            return replace(d, address=address), channel
        fallback = self.config.fallback_channel
        if not fallback or fallback == d.channel or self.spec(fallback) is None:
            raise Undeliverable(
                f"the recipient has no {d.channel} account and no fallback channel is configured"
            )
        d = await self._move(
            session,
            d,
            fallback,
            Note(
                "fallback",
                f"the recipient has no {d.channel} account (matched by email): sent on {fallback} instead",
                self.clock(),
            ),
        )
        return await self._route(session, d)

    async def _address(self, session: AsyncConnection, d: Delivery, channel: Channel) -> str | None:
        fresh_after = self.clock() - timedelta(seconds=self.config.address_cache_seconds)
        found, address = await store.cached_address(session, d.recipient_id, d.channel, fresh_after)
        if found:
            return address
        user = (await self._users(str(d.tenant_id), [d.recipient_id])).get(d.recipient_id)
        if user is None or user.disabled:
            raise Undeliverable("the recipient is no longer an active user of this tenant")
        email = user.email
        address = await channel.resolve(email) if email else None
        await store.put_address(session, d.tenant_id, d.recipient_id, d.channel, address)
        return address

    async def _move(self, session: AsyncConnection, d: Delivery, target: str, note: Note) -> Delivery:
        """The delivery re-rendered for another channel (its template again, for that channel's format
        and limit; a pre-rendered body adapted)."""
        spec = self.spec(target)
        assert spec is not None
        subject, body = await self._render_for(session, d, spec)
        return await store.update_delivery(
            session,
            d.id,
            channel=target,
            subject=subject,
            body=body,
            body_format=spec.body_format,
            address="",
            note=note,
        )

    async def _render_for(self, session: AsyncConnection, d: Delivery, spec: ChannelSpec) -> tuple[str, str]:
        if d.template:
            template = await store.get_template(session, d.template, d.template_version)
            if template is None:
                raise Undeliverable(f"template {d.template} v{d.template_version} is gone")
            try:
                r = domain.render(
                    template, d.variables, body_format=spec.body_format, max_length=spec.max_length
                )
            except InvalidArgument as exc:
                raise Undeliverable(f"cannot be rendered for {spec.name}: {_violations(exc)}") from exc
            return r.subject, r.body
        source = await store.body_format_of(session, d.id)
        body = domain.adapt_body(d.body, source, spec.body_format)  # type: ignore[arg-type]
        if len(body) > spec.max_length:
            raise Undeliverable(
                f"the message has {len(body)} characters; {spec.name} takes {spec.max_length}"
            )
        return d.subject, body

    def _outgoing(self, d: Delivery) -> Outgoing:
        return Outgoing(
            delivery_id=d.id,
            tenant_id=d.tenant_id,
            address=d.address,
            subject=d.subject,
            body=d.body,
            urgency=d.urgency,
            extra=dict(d.extra),
        )

    async def _wait_for_limit(
        self, session: AsyncConnection, d: Delivery, key: str, retry_after: float
    ) -> None:
        """Our shared limit is spent: try again when it has a token, without spending an attempt."""
        await self._hold(session, d, "rate_limited", f"shared limit {key} spent: held back", retry_after)

    async def _hold(
        self,
        session: AsyncConnection,
        d: Delivery,
        kind: str,
        reason: str,
        wait: float,
        *,
        attempts: int | None = None,
    ) -> None:
        """Try again after `wait` seconds without spending an attempt (`attempts`: the count to put
        back when a claim had counted one). Recorded once per spell (not at every re-check), so a long
        queue behind a limit or an open breaker does not fill the notes."""
        wait = max(wait, 0.01)
        at = self.clock() + timedelta(seconds=wait)
        note = None
        if not d.notes or d.notes[-1].kind != kind:
            note = Note(kind, reason, self.clock())
        changes: dict[str, object] = {"address": d.address, "next_attempt_at": at}
        if attempts is not None:
            changes["attempts"] = attempts
        await store.update_delivery(session, d.id, note=note, **changes)
        await self.queue.enqueue(session, DELIVER, {"delivery_id": str(d.id)}, delay_seconds=wait)

    async def _retry_or_fail(
        self,
        session: AsyncConnection,
        d: Delivery,
        attempt: int,
        exc: BaseException,
        limit: tuple[str, Limit] | None,
    ) -> None:
        retry_after = getattr(exc, "retry_after", None)
        retry_after = float(retry_after) if isinstance(retry_after, int | float) else None
        if (
            isinstance(exc, RetryableResponse)
            and exc.status == 429
            and limit is not None
            and self.limiter is not None
        ):
            # The provider says we are too fast: every replica slows down on this destination.
            await self.limiter.penalize(limit[0], retry_after or 1.0)
        error = _describe(exc)
        if attempt > self.config.max_retries:
            await self._fail(session, d, f"gave up after {attempt} attempts; last error: {error}", attempt)
            return
        delay = domain.retry_delay(
            attempt, self.config.retry_base_seconds, self.config.retry_max_seconds, retry_after, self.rng()
        )
        at = self.clock() + timedelta(seconds=delay)
        DELIVERIES.labels(d.channel, "retrying").inc()
        await store.update_delivery(
            session,
            d.id,
            status="retrying",
            address=d.address,
            attempts=attempt,
            last_error=error,
            next_attempt_at=at,
            note=Note(
                "retry",
                f"attempt {attempt} failed: {error}; next in {delay:.1f} s"
                + (f" (provider asked for {retry_after:g} s)" if retry_after is not None else ""),
                self.clock(),
            ),
        )
        await self.queue.enqueue(session, DELIVER, {"delivery_id": str(d.id)}, delay_seconds=delay)

    async def _fail(self, session: AsyncConnection, d: Delivery, reason: str, attempts: int) -> None:
        DELIVERIES.labels(d.channel, "failed").inc()
        failed = await store.update_delivery(
            session,
            d.id,
            status="failed",
            address=d.address,
            attempts=attempts,
            last_error=reason[:2000],
            next_attempt_at=None,
            note=Note("failed", reason[:2000], self.clock()),
        )
        await self.outbox.stage(session, "notify.delivery.failed", convert.delivery_failed_event(failed))
        if failed.escalation is not None:
            # A message that cannot go out on its channel is certainly unread: escalate now.
            await self.queue.enqueue(session, ESCALATE, {"delivery_id": str(d.id)}, key=f"escalate:{d.id}")

    async def _mark_sent_many(
        self, session: AsyncConnection, sent: Sequence[tuple[Delivery, str, int, Channel | None]]
    ) -> None:
        """(delivery, provider message id, attempts, channel) → sent: one UPDATE and one outbox INSERT
        for the batch, then their follow-ups: the read-receipt polls in one insert, an escalation
        timer each."""
        rows = await store.mark_sent_many(session, [(d, n, pid) for d, pid, n, _ in sent], self.clock())
        channels = {d.id: channel for d, _, _, channel in sent}
        await self._stage_sent(session, rows)
        polls: list[tuple[str | None, str | None, dict[str, Any]]] = []
        for d in rows:
            DELIVERIES.labels(d.channel, "sent").inc()
            channel = channels.get(d.id)
            if d.escalation is not None:
                await self.queue.enqueue(
                    session,
                    ESCALATE,
                    {"delivery_id": str(d.id)},
                    key=f"escalate:{d.id}",
                    run_at=self.clock() + timedelta(minutes=d.escalation.after_minutes),
                )
            if channel is not None and channel.supports_read_receipts and self.config.read_poll_days > 0:
                polls.append((str(d.tenant_id), None, {"delivery_id": str(d.id), "n": 0}))
        await self.queue.enqueue_many(session, READ_POLL, polls, delay_seconds=self.config.read_poll_seconds)

    async def _stage_sent(self, session: AsyncConnection, sent: Sequence[Delivery]) -> None:
        """notify.delivery.sent for several deliveries in one INSERT (Outbox.stage_many)."""
        await self.outbox.stage_many(
            session, [("notify.delivery.sent", convert.delivery_sent_event(d)) for d in sent]
        )

    async def _mark_read(self, session: AsyncConnection, d: Delivery, at: datetime, how: str) -> Delivery:
        read = await store.update_delivery(
            session, d.id, status="read", read_at=at, note=Note("read", how, self.clock())
        )
        await self.outbox.stage(session, "notify.delivery.read", convert.delivery_read_event(read))
        return read

    async def _read_now(self, d: Delivery) -> datetime | None:
        """When the recipient read it, as far as we can tell now: in-app reads are on the row; a
        provider with read receipts is asked."""
        if d.read_at is not None:
            return d.read_at
        channel = self.channels.get(d.channel)
        if d.status != "sent" or channel is None or not channel.supports_read_receipts:
            return None
        status = await channel.read_status(self._outgoing(d), Sent(d.provider_message_id or None))
        return status.read_at

    async def poll_read(self, job: Job, session: AsyncConnection) -> None:
        """Asks the provider whether a sent message was read; again later (doubling up to an hour)
        until it is, or until NOTIFY_READ_POLL_DAYS have passed."""
        d = await store.get_delivery(session, uuid.UUID(job.payload["delivery_id"]), lock=True)
        if d is None or d.status != "sent":
            return
        read_at = await self._read_now(d)
        if read_at is not None:
            await self._mark_read(session, d, read_at, f"read receipt from {d.channel}")
            return
        n = int(job.payload.get("n", 0)) + 1
        if d.sent_at is not None and self.clock() - d.sent_at > timedelta(days=self.config.read_poll_days):
            await store.update_delivery(
                session,
                d.id,
                note=Note(
                    "read_poll",
                    f"no read receipt after {self.config.read_poll_days} days: stopped asking",
                    self.clock(),
                ),
            )
            return
        delay = min(self.config.read_poll_seconds * 2 ** min(n, 20), 3600.0)
        await self.queue.enqueue(session, READ_POLL, {"delivery_id": str(d.id), "n": n}, delay_seconds=delay)

    async def escalate(self, job: Job, session: AsyncConnection) -> None:
        """After N minutes: read → nothing more; still unread (or failed) → the same message to the
        same recipient on the next channel of its escalation, which carries the rest of the chain."""
        d = await store.get_delivery(session, uuid.UUID(job.payload["delivery_id"]), lock=True)
        if d is None or d.escalation is None or d.status in ("read", "digested"):
            return
        if d.status in ("pending", "retrying", "deferred"):
            return  # not out yet: the escalation is scheduled again when it is sent or fails
        read_at = await self._read_now(d)
        if read_at is not None:
            await self._mark_read(
                session, d, read_at, f"read receipt from {d.channel} (checked before escalating)"
            )
            return
        target, rest = d.escalation.next()
        why = (
            f"failed on {d.channel}: {d.last_error}"
            if d.status == "failed"
            else f"unread after {d.escalation.after_minutes} min on {d.channel}"
        )
        new_id = uuid.uuid4()
        spec = self.spec(target)
        status: domain.Status = "pending"
        error = ""
        subject, body = d.subject, d.body
        if spec is None:
            status, error = "failed", f"channel {target} is not configured in this deployment"
            body_format: BodyFormat = "text"
        else:
            body_format = spec.body_format
            try:
                subject, body = await self._render_for(session, d, spec)
            except Undeliverable as exc:
                status, error = "failed", str(exc)
        now = self.clock()
        escalated = Delivery(
            id=new_id,
            tenant_id=d.tenant_id,
            channel=target,
            requested_channel=target,
            recipient_id=d.recipient_id,
            address="",
            template=d.template,
            template_version=d.template_version,
            variables=d.variables,
            subject=subject,
            body=body,
            urgency=d.urgency,
            status=status,
            last_error=error,
            extra=d.extra,
            escalation=rest,
            escalated_from=d.id,
            created_by=d.created_by,
            notes=(Note("escalation", f"escalates {d.id}: {why}", now),),
        )
        until = None
        if status == "pending" and d.recipient_id:
            hours = await store.get_quiet_hours(session, d.recipient_id)
            zone = ""
            if hours is not None and not hours.time_zone:
                found = (await self._users(str(d.tenant_id), [d.recipient_id])).get(d.recipient_id)
                zone = found.time_zone if found is not None else ""
            escalated, until = self._plan(escalated, hours, zone)
        [(stored, _)] = await store.insert_deliveries(session, [(escalated, body_format)])
        await store.update_delivery(
            session, d.id, note=Note("escalated", f"{why}: escalated to {target} ({new_id})", now)
        )
        if stored.status == "failed":
            await self.outbox.stage(session, "notify.delivery.failed", convert.delivery_failed_event(stored))
        else:
            await self._schedule_many(session, [(stored, until)])

    async def release_held(self, job: Job, session: AsyncConnection) -> None:
        """The end of a recipient's quiet hours: what was held on a channel goes out, several
        messages collapsed into one digest (within the channel's limit; the rest in another)."""
        recipient, channel = job.payload["recipient_id"], job.payload["channel"]
        held = await store.held(session, recipient, channel, self.clock())
        if not held:
            return
        now = self.clock()
        if len(held) == 1:
            d = await store.update_delivery(
                session,
                held[0].id,
                status="pending",
                next_attempt_at=None,
                note=Note("released", "quiet hours ended", now),
            )
            await self.queue.enqueue(session, DELIVER, {"delivery_id": str(d.id)})
            return
        spec = self.spec(channel) or IN_APP_SPEC
        subject, body, count = domain.digest(held, spec.body_format, spec.max_length)
        taken = held[:count]
        digest = Delivery(
            id=uuid.uuid4(),
            tenant_id=taken[0].tenant_id,
            channel=channel,
            requested_channel=channel,
            recipient_id=recipient,
            address="",
            template="",
            template_version=0,
            variables={},
            subject=subject,
            body=body,
            urgency=max((d.urgency for d in taken), key=lambda u: URGENCY_ORDER[u]),
            status="pending",
            created_by="system",
            notes=(
                Note(
                    "digest",
                    f"{count} messages held by quiet hours: {', '.join(str(d.id) for d in taken)}",
                    now,
                ),
            ),
        )
        [(stored, _)] = await store.insert_deliveries(session, [(digest, spec.body_format)])
        for d in taken:
            await store.update_delivery(
                session,
                d.id,
                status="digested",
                digest_id=stored.id,
                next_attempt_at=None,
                note=Note("digested", f"quiet hours ended: sent in digest {stored.id}", now),
            )
        await self.queue.enqueue(session, DELIVER, {"delivery_id": str(stored.id)})
        if count < len(held):
            await self.queue.enqueue(session, DIGEST, {"recipient_id": recipient, "channel": channel})

    async def aclose(self) -> None:
        for channel in self.channels.values():
            try:
                await channel.aclose()
            except Exception as exc:  # closing the others matters more; logged, not raised
                log.warning("closing channel %s failed: %r", channel.name, exc)


def _next_token(found: list[Delivery], size: int) -> str:
    if len(found) <= size:
        return ""
    last = found[size - 1]
    assert last.created_at is not None  # read from a NOT NULL column
    return pagination.encode_token({"t": last.created_at.isoformat(), "i": str(last.id)})


def _describe(exc: BaseException) -> str:
    if isinstance(exc, DomainError):
        return f"{exc.reason}: {exc.message}"[:2000]
    return (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:2000]


def _violations(exc: InvalidArgument) -> str:
    items: list[FieldViolation] = exc.violations
    return "; ".join(f"{v.field} {v.description}" for v in items) or exc.message
