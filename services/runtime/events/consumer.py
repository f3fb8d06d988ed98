"""Durable pull consumers with one fixed policy:

- handled                       -> ack (after the handler's transaction committed)
- already in the inbox          -> ack, handler not called again (redelivery after a crash)
- undecodable event             -> dead-letter record + term
- deterministic domain error    -> dead-letter record + term (DomainError other than Unavailable)
- anything else (transient)     -> nak with exponential backoff
- delivered more than max_deliver times -> dead-letter record + term (JetStream itself has no
                                   limit: the event is delivered until that record is written)
- long handler                  -> in_progress every ack_wait/3 so the server does not redeliver
- the database is down          -> nothing settled: the batch is held (in_progress) until the database
                                   answers, then applied again in-process; no delivery is spent

An outage of a dependency is not the event's fault, so it must not spend the event's delivery budget:
with 5 deliveries and seconds of backoff, an outage of ~8 s would otherwise dead-letter healthy events.
A failure counts as an outage when it looks like one (`supervisor.is_outage`) and the database does not
answer a probe; writing a dead letter while the database is down is held the same way. Acks, naks and
heartbeats that fail because NATS is away are logged, never raised: the inbox absorbs a redelivery.
Anything else that escapes ends `run()`, and the supervisor (services/runtime/supervisor.py) logs it
and restarts the consumer; the batch's unsettled messages are nak'ed first so they come back soon.

The inbox row and the handler's writes commit in one transaction, so an event is applied once even
when a consumer is killed mid-message or between commit and ack.

A consumer applies each fetched batch in one transaction. With only a per-event `handler`, the handler
runs once per event, in order. With a `batch_handler` too, the batch's fresh events are grouped by
tenant (first appearance order; each tenant's events keep their order) and each group is handed over
whole, so a context can apply it set-based (one statement per table instead of one per event). Either
way, when anything in the fast path fails the transaction is rolled back and the batch is applied
again one event at a time with `handler`, each in a savepoint, so one bad event does not sink the rest
and the policy above decides each event's fate.

With a `prepare` step, each fetched event not yet applied is first prepared outside any transaction,
concurrently (slow I/O such as a model call); its result reaches the handler as `event.prepared`, and
a failed prepare settles that event by the same policy. `in_flight` > 1 lets further batches be
fetched while one is preparing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime import metrics, request_context
from services.runtime.db import Database, parse_uuid, run_sql, set_tenant, tenant_of
from services.runtime.errors import DomainError, Unavailable
from services.runtime.events.envelope import Event, UndecodableEvent, decode
from services.runtime.events.tables import event_tables
from services.runtime.request_context import RequestContext
from services.runtime.supervisor import is_outage

log = logging.getLogger(__name__)

Handler = Callable[[Event, AsyncConnection], Awaitable[None]]
# Slow work outside the transaction (a model call, a sandbox run); its result reaches the handler as
# event.prepared. Run concurrently for a fetched batch. Events already applied are not prepared
# again, but an event whose consumer died before committing is: whatever prepare causes elsewhere
# must be idempotent (keyed by the event id), since only the handler's writes commit with the inbox.
Prepare = Callable[[Event], Awaitable[Any]]
# Events of ONE tenant (the transaction is scoped to it), in delivery order, none seen before.
BatchHandler = Callable[[list[Event], AsyncConnection], Awaitable[None]]


@dataclass(frozen=True)
class ConsumerSpec:
    name: str  # durable name, unique per stream, e.g. "progress-sandbox-executed"
    stream: str
    filter_subject: str
    handler: Handler  # always required: the fallback applies events one at a time with it
    batch_handler: BatchHandler | None = None
    # How many messages one fetch may take (at most max_ack_pending): larger batches pay off with a
    # batch_handler, whose cost per batch is mostly per statement, not per event.
    burst: int = 64
    max_deliver: int = 5
    ack_wait_seconds: float = 30.0
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 60.0
    prepare: Prepare | None = None
    # Batches processed at once. Above 1 the next fetch does not wait for a batch in progress (for
    # independent events whose work is slow I/O, e.g. a model call); order between batches is lost.
    in_flight: int = 1
    # Which events of the subject this consumer has any business with (notify's outcomes of another
    # context's deliveries: the idempotency key names the sender). The others are acked as they
    # arrive, with no transaction, inbox row or handler call, and counted as "ignored". None: all.
    # The handler must ignore the same events (it still sees them if this is removed).
    wants: Callable[[Event], bool] | None = None
    # How long a batch that is not full waits for more events before it is applied (seconds). For
    # consumers no one waits on: under load one transaction then carries the events of several tens
    # of milliseconds instead of the one or two there at the moment. 0: a batch is what is there now.
    # With in_flight 1. No context uses it by default: re-measured, it showed no latency gain
    # (docs/performance.md, session 8).
    linger: float = 0.0


class ConsumerRunner:
    def __init__(
        self,
        spec: ConsumerSpec,
        *,
        schema: str,
        db: Database,
        js: JetStreamContext,
        idle_fetch_timeout: float = 1.0,
        burst: int | None = None,
        stall_seconds: float = 60.0,
        outage_retry_max: float = 5.0,
    ):
        self.spec = spec
        self.db = db
        self.js = js
        self.tables = event_tables(schema)
        self.idle_fetch_timeout = idle_fetch_timeout
        self.burst = burst if burst is not None else spec.burst
        self._stopping = asyncio.Event()
        self._sub: JetStreamContext.PullSubscription | None = None
        # Stall detection (check()): pending work and neither our settles nor the ack floor moved.
        self.stall_seconds = stall_seconds
        self.outage_retry_max = outage_retry_max
        self.taken = 0  # batches this runner has begun to apply
        self.settled = 0  # messages acked, nak'ed or terminated by this runner
        self.holding = 0  # messages held while the database is down
        self._seen: tuple[int, int, int] | None = None
        self._progress_at = 0.0
        # What the loop is doing and since when (loop time), for the stall message: an operator
        # reading "no progress" learns whether the batch is stuck in the database or nothing arrives.
        self._doing: tuple[str, float] = ("starting", 0.0)
        self._batches: list[list[Msg]] = []  # the unsettled messages of each batch in process()
        # One statement text whatever the batch size (the ids travel as one array), sent by psycopg
        # itself (db.run_sql): it runs for every batch.
        self._claim_sql = (
            f"INSERT INTO {schema}.inbox (consumer, event_id) "
            "SELECT %(consumer)s, unnest(%(ids)b::text[]) ON CONFLICT DO NOTHING RETURNING event_id"
        )

    async def ensure(self) -> None:
        """Creates or updates the durable consumer; separate from the worker loop."""
        config = ConsumerConfig(
            durable_name=self.spec.name,
            filter_subject=self.spec.filter_subject,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.spec.ack_wait_seconds,
            # No limit on JetStream's side: the budget is ours (spec.max_deliver). A delivery past it
            # writes the dead letter and terms the message before any handler runs, and until that
            # term JetStream keeps delivering: a consumer killed (or crashing) while writing the dead
            # letter leaves the event pending, never dropped without a record. With a limit of its
            # own, JetStream gave up silently after its last delivery, whatever had become of it.
            max_deliver=-1,
            max_ack_pending=1000,
        )
        await self.js.add_consumer(self.spec.stream, config)
        self._sub = await self.js.pull_subscribe_bind(self.spec.name, stream=self.spec.stream)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        delay = 0.5
        while self._sub is None and not self._stopping.is_set():
            try:
                await self.ensure()
            except Exception as exc:  # e.g. the stream belongs to a context that has not started yet
                log.warning(
                    "consumer not bound yet; retrying",
                    extra={
                        "consumer": self.spec.name,
                        "stream": self.spec.stream,
                        "error": repr(exc),
                        "retry_in": delay,
                    },
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)  # a stop interrupts the wait
                delay = min(delay * 2, 10.0)
        if self._sub is None:
            return
        try:
            await self._consume(self._sub)
        finally:
            # Leave no pull subscription behind: NATS's drain would otherwise wait on it. A restart by
            # the supervisor binds a fresh one.
            sub, self._sub = self._sub, None
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def check(self) -> str | None:
        """The stall probe (run by the supervisor every health interval): None while the consumer
        keeps up, else why not. Also exports its pending / ack-pending gauges. Progress is this
        runner taking a batch or settling anything, or the consumer's ack floor moving (another
        replica's work)."""
        info = await self.js.consumer_info(self.spec.stream, self.spec.name, timeout=2)
        pending, ack_pending = info.num_pending or 0, info.num_ack_pending or 0
        metrics.CONSUMER_PENDING.labels(self.spec.name).set(pending)
        metrics.CONSUMER_ACK_PENDING.labels(self.spec.name).set(ack_pending)
        floor = info.ack_floor.stream_seq if info.ack_floor and info.ack_floor.stream_seq else 0
        now = asyncio.get_running_loop().time()
        seen = (self.taken, self.settled, floor)
        if pending + ack_pending == 0 or seen != self._seen:
            self._seen, self._progress_at = seen, now
            return None
        idle = now - self._progress_at
        # Nothing pending and nothing in this runner's hands: the unacknowledged messages are another
        # replica's, or deliveries lost in flight (a connection that died with them on the wire, as
        # across a nats-server restart), which JetStream sends again once their ack_wait has passed.
        # Waiting for that is not a stall; only no progress even after it is.
        redelivery = pending == 0 and self.in_hand == 0
        if idle < self.stall_seconds + (self.spec.ack_wait_seconds if redelivery else 0.0):
            return None
        held = f", {self.holding} held waiting for the database" if self.holding else ""
        doing, since = self._doing
        return (
            f"consumer {self.spec.name}: {pending} pending, {ack_pending} unacknowledged{held}, "
            f"no progress for {idle:.0f} s ({doing} for {now - since:.0f} s)"
        )

    @property
    def in_hand(self) -> int:
        """Messages this runner has fetched and not settled yet (its batches being applied or held)."""
        return sum(len(batch) for batch in self._batches)

    def _now_doing(self, what: str) -> None:
        self._doing = (what, asyncio.get_running_loop().time())

    async def _consume(self, sub: JetStreamContext.PullSubscription) -> None:
        if self.spec.in_flight > 1:
            await self._consume_concurrently(sub)
            return
        while not self._stopping.is_set():
            self._now_doing("waiting for events")
            try:
                msgs = await sub.fetch(1, timeout=self.idle_fetch_timeout)
            except TimeoutError:
                continue
            except Exception as exc:  # NATS reconnecting: back off, keep the loop alive
                log.warning("fetch failed", extra={"consumer": self.spec.name, "error": repr(exc)})
                await asyncio.sleep(0.5)
                continue
            if self.burst > 1:
                self._now_doing("asking NATS for the rest of a batch")
                msgs += await available(sub, self.burst - 1)
                msgs += await self._linger(sub, msgs)
            while msgs:
                await self.process(msgs)
                if self._stopping.is_set():
                    break
                self._now_doing("asking NATS for the next batch")
                msgs = await available(sub, self.burst)  # a burst: what is there now, no waiting
                if msgs:
                    msgs += await self._linger(sub, msgs)

    async def _linger(self, sub: JetStreamContext.PullSubscription, msgs: list[Msg]) -> list[Msg]:
        """With spec.linger, what arrives within it to join a batch that is not full (no round trip
        to NATS without it)."""
        if self.spec.linger <= 0 or len(msgs) >= self.burst or self._stopping.is_set():
            return []
        await asyncio.sleep(self.spec.linger)
        return await available(sub, self.burst - len(msgs))

    async def _consume_concurrently(self, sub: JetStreamContext.PullSubscription) -> None:
        """Up to spec.in_flight batches at once: the next fetch does not wait for a batch whose
        prepare step is waiting on slow I/O. Order between batches is not kept."""
        slots = asyncio.Semaphore(self.spec.in_flight)
        running: set[asyncio.Task[None]] = set()

        async def run(msgs: list[Msg]) -> None:
            try:
                await self.process(msgs)
            except Exception:
                log.exception("batch processing crashed", extra={"consumer": self.spec.name})
            finally:
                slots.release()

        try:
            while not self._stopping.is_set():
                await slots.acquire()
                try:
                    msgs = await sub.fetch(1, timeout=self.idle_fetch_timeout)
                    if self.burst > 1:  # and whatever else is already there
                        msgs += await available(sub, self.burst - 1)
                except Exception as exc:
                    slots.release()
                    if not isinstance(exc, TimeoutError):  # NATS reconnecting: back off
                        log.warning("fetch failed", extra={"consumer": self.spec.name, "error": repr(exc)})
                        await asyncio.sleep(0.5)
                    continue
                task = asyncio.create_task(run(msgs))
                running.add(task)
                task.add_done_callback(running.discard)
        finally:
            if running:
                await asyncio.gather(*running, return_exceptions=True)

    async def process(self, msgs: list[Msg]) -> None:
        """Applies a fetched batch in one transaction, a savepoint per event (so one failing handler
        does not undo the others), then acks, naks or dead-letters each message. While the database
        is down the batch is held (heartbeats keep it ours) and applied again when it answers."""
        pending = list(msgs)  # not settled yet; the heartbeat keeps exactly these
        self._now_doing(f"applying a batch of {len(pending)}")
        self._batches.append(pending)
        self.taken += 1
        heartbeat = asyncio.create_task(self._heartbeat(pending))
        wait = 0.5
        first = True
        try:
            while pending:
                try:
                    await self._process_once(pending, first)
                except _Retry:
                    pass  # a dropped connection while the database answers: once more, right away
                except Exception as exc:
                    if not is_outage(exc) or await self.db.ping():
                        raise
                    if not await self._hold(pending, exc, wait):
                        return  # stopping: JetStream redelivers them after ack_wait
                    wait = min(wait * 2, self.outage_retry_max)
                first = False
        except Exception:
            # A crash (the supervisor restarts us): hand the unsettled messages back now rather than
            # after ack_wait. This spends a delivery, as any real failure does.
            for msg in pending:
                await self._settle(msg.nak, msg, delay=self.spec.backoff_base_seconds)
            raise
        finally:
            self._batches = [b for b in self._batches if b is not pending]
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _hold(self, pending: list[Msg], exc: BaseException, wait: float) -> bool:
        """The database is down: keep the batch (the heartbeat holds it with in_progress), wait until
        the database answers, return True to apply it again; False when stopping meanwhile."""
        log.warning(
            "database down; holding events without spending a delivery",
            extra={"consumer": self.spec.name, "events": len(pending), "error": repr(exc)},
        )
        self.holding = len(pending)
        try:
            while not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), wait)
                if self._stopping.is_set():
                    return False
                if await self.db.ping():
                    log.info("database back; applying held events", extra={"consumer": self.spec.name})
                    return True
                wait = min(wait * 2, self.outage_retry_max)
            return False
        finally:
            self.holding = 0

    async def _process_once(self, pending: list[Msg], first: bool) -> None:
        """One attempt at the unsettled messages of a batch; each settled message leaves `pending`.
        Raises (before settling anything) when a failure looks like an outage, so `process` decides
        whether to hold the batch."""
        ready: list[tuple[Msg, Event]] = []
        for msg in list(pending):
            deliveries = msg.metadata.num_delivered
            try:
                event = decode(msg.subject, msg.headers, msg.data)
            except UndecodableEvent as exc:
                await self._dead_letter(msg, None, f"undecodable: {exc}", deliveries)
                pending.remove(msg)
                continue
            if deliveries > self.spec.max_deliver:
                await self._dead_letter(msg, event, "max deliveries exceeded", deliveries)
                pending.remove(msg)
                continue
            if self.spec.wants is not None and not self._wanted(event):
                await self._settle(msg.ack, msg)
                metrics.EVENTS_HANDLED.labels(self.spec.name, "ignored").inc()
                pending.remove(msg)
                continue
            ready.append(
                (
                    msg,
                    replace(event, deliveries=deliveries, last_delivery=deliveries >= self.spec.max_deliver),
                )
            )
        if not ready:
            return
        settled: list[tuple[Msg, Event, tuple[str, Exception | None]]] = []
        if self.spec.prepare is not None:
            # Not prepared again: events already applied (redelivered after commit, before ack).
            applied = await self._applied([e.id for _, e in ready])
            settled = [(m, e, ("duplicate", None)) for m, e in ready if e.id in applied]
            ready, failed = await self._prepare([(m, e) for m, e in ready if e.id not in applied])
            settled += failed
        outcomes = await self._apply_batch([e for _, e in ready]) if ready else []
        settled += [(m, e, o) for (m, e), o in zip(ready, outcomes, strict=True)]
        # Only the apply step's failures: a prepare (model call) timing out is that event's failure.
        outage = next((err for _, err in outcomes if err is not None and is_outage(err)), None)
        if outage is not None:
            if not await self.db.ping():
                raise outage  # nothing settled: process() holds the batch until the database answers
            if first:
                raise _Retry from outage  # e.g. a pooled connection the restarted database dropped
        self._now_doing(f"settling a batch of {len(settled)}")
        for msg, event, (outcome, error) in settled:
            if error is None:
                await self._settle(msg.ack, msg)
                metrics.EVENTS_HANDLED.labels(self.spec.name, outcome).inc()
            elif isinstance(error, DomainError) and not isinstance(error, Unavailable):
                await self._dead_letter(
                    msg, event, f"{error.reason}: {error.message}", msg.metadata.num_delivered
                )
            else:
                await self._retry(msg, event, error, msg.metadata.num_delivered)
            pending.remove(msg)

    def _wanted(self, event: Event) -> bool:
        """spec.wants; a predicate that fails on an event leaves it to the handler (which decides it,
        or fails it as it would have)."""
        assert self.spec.wants is not None
        try:
            return bool(self.spec.wants(event))
        except Exception:
            log.exception(
                "a consumer's wants() failed; handling the event", extra={"consumer": self.spec.name}
            )
            return True

    async def _settle(self, action: Callable[..., Awaitable[None]], msg: Msg, **kwargs: Any) -> None:
        """Acks, naks or terms; a failure (NATS away) is logged, not raised: JetStream redelivers the
        message after ack_wait and the inbox (or the dead-letter policy) settles it then."""
        try:
            await action(**kwargs)
        except Exception as exc:
            log.warning(
                "could not settle message; it will be redelivered",
                extra={"consumer": self.spec.name, "subject": msg.subject, "error": repr(exc)},
            )
        self.settled += 1

    async def _prepare(
        self, ready: list[tuple[Msg, Event]]
    ) -> tuple[list[tuple[Msg, Event]], list[tuple[Msg, Event, tuple[str, Exception | None]]]]:
        """Runs spec.prepare for the batch concurrently; a failure settles that event like a failed
        handler (retry, or dead letter for a deterministic domain error)."""
        assert self.spec.prepare is not None
        prepare = self.spec.prepare

        async def one(event: Event) -> Any:
            with request_context.bind(self._context(event)):
                return await prepare(event)

        results = await asyncio.gather(*(one(e) for _, e in ready), return_exceptions=True)
        prepared: list[tuple[Msg, Event]] = []
        failed: list[tuple[Msg, Event, tuple[str, Exception | None]]] = []
        for (msg, event), result in zip(ready, results, strict=True):
            if isinstance(result, Exception):
                failed.append((msg, event, ("failed", result)))
            elif isinstance(result, BaseException):
                raise result  # cancellation
            else:
                prepared.append((msg, replace(event, prepared=result)))
        return prepared, failed

    async def _apply_batch(self, events: list[Event]) -> list[tuple[str, Exception | None]]:
        """Fast path: one transaction, one multi-row inbox insert, the handlers (per event, or per
        tenant's group with a batch handler), one commit. If anything fails, the whole transaction is
        rolled back and the batch is applied again one event at a time, each in a savepoint, so the
        others still commit. A batch whose events are all of one tenant (the usual case) opens its
        transaction scoped to that tenant, in the BEGIN's round trip, instead of setting it after the
        inbox insert (the inbox is not tenant-scoped)."""
        tenants = {e.tenant_id or "" for e in events}
        scope = tenants.pop() if len(tenants) == 1 else ""
        if scope and parse_uuid(scope) is None:  # left to the handler to refuse, as set_tenant leaves it
            scope = ""
        try:
            async with self.db.transaction(tenant_id=scope) as session:
                fresh = await self._claim(session, [e.id for e in events])
                outcomes: list[tuple[str, Exception | None]] = []
                todo: list[Event] = []
                for event in events:
                    if event.id in fresh:
                        fresh.discard(event.id)  # the same id twice in one batch applies once
                        todo.append(event)
                        outcomes.append(("applied", None))
                    else:
                        outcomes.append(("duplicate", None))
                if self.spec.batch_handler is None:
                    await self._apply_each(session, todo)
                else:
                    await self._apply_by_tenant(session, self.spec.batch_handler, todo)
                return outcomes
        except Exception as exc:
            if len(events) == 1:
                return [("failed", exc)]
        try:
            async with self.db.transaction(tenant_id="") as session:
                return [await self._apply_one(session, event) for event in events]
        except Exception as exc:  # the commit itself failed (database down): nothing was applied
            return [("failed", exc)] * len(events)

    async def _apply_each(self, session: AsyncConnection, events: list[Event]) -> None:
        tenant: str | None = tenant_of(session)
        for event in events:
            if (event.tenant_id or "") != tenant:
                tenant = event.tenant_id or ""
                await set_tenant(session, tenant)
            with request_context.bind(self._context(event)):
                await self.spec.handler(event, session)

    async def _apply_by_tenant(
        self, session: AsyncConnection, handler: BatchHandler, events: list[Event]
    ) -> None:
        groups: dict[str, list[Event]] = {}
        for event in events:
            groups.setdefault(event.tenant_id or "", []).append(event)
        for tenant, group in groups.items():
            if tenant != tenant_of(session):
                await set_tenant(session, tenant)
            # One context for the group: its log lines carry the first event's correlation id.
            with request_context.bind(self._context(group[0])):
                await handler(group, session)

    async def _applied(self, event_ids: list[str]) -> set[str]:
        """The ids among these this consumer has already applied (its inbox)."""
        inbox = self.tables.inbox
        async with self.db.transaction(tenant_id="") as session:
            rows = await session.execute(
                sa.select(inbox.c.event_id).where(
                    inbox.c.consumer == self.spec.name, inbox.c.event_id.in_(event_ids)
                )
            )
        return {r.event_id for r in rows}

    async def _claim(self, session: AsyncConnection, event_ids: list[str]) -> set[str]:
        """Inserts inbox rows; returns the ids not seen before."""
        rows = await run_sql(session, self._claim_sql, {"consumer": self.spec.name, "ids": event_ids})
        return {r.event_id for r in rows}

    def _context(self, event: Event) -> RequestContext:
        return RequestContext(
            correlation_id=event.correlation_id, tenant_id=event.tenant_id, rpc=f"event:{self.spec.name}"
        )

    async def _apply_one(self, session: AsyncConnection, event: Event) -> tuple[str, Exception | None]:
        try:
            with request_context.bind(self._context(event)):
                async with session.begin_nested():
                    if not await self._claim(session, [event.id]):
                        return "duplicate", None
                    await set_tenant(session, event.tenant_id or "")
                    await self.spec.handler(event, session)
        except Exception as exc:
            return "failed", exc
        return "applied", None

    async def _retry(self, msg: Msg, event: Event, exc: BaseException, deliveries: int) -> None:
        if deliveries >= self.spec.max_deliver:
            await self._dead_letter(msg, event, f"failed {deliveries} times; last error: {exc!r}", deliveries)
            return
        delay = min(self.spec.backoff_base_seconds * 2 ** (deliveries - 1), self.spec.backoff_max_seconds)
        log.warning(
            "event handling failed; will retry",
            extra={
                "consumer": self.spec.name,
                "event_id": event.id,
                "delivery": deliveries,
                "retry_in": delay,
                "error": repr(exc),
            },
        )
        metrics.EVENTS_HANDLED.labels(self.spec.name, "retried").inc()
        await self._settle(msg.nak, msg, delay=delay)

    async def _dead_letter(self, msg: Msg, event: Event | None, reason: str, deliveries: int) -> None:
        headers = dict(msg.headers or {})
        dl = self.tables.dead_letters
        async with self.db.transaction(tenant_id="") as session:
            await session.execute(
                pg_insert(dl)
                .values(
                    id=uuid.uuid4(),
                    consumer=self.spec.name,
                    subject=msg.subject,
                    event_id=event.id
                    if event
                    else headers.get("ce-id", f"seq:{msg.metadata.sequence.stream}"),
                    event_type=event.type if event else headers.get("ce-type", ""),
                    tenant_id=event.tenant_id if event else headers.get("learnflow-tenant"),
                    reason=reason[:2000],
                    deliveries=deliveries,
                    payload=msg.data,
                    headers=headers,
                    created_at=sa.func.now(),
                )
                .on_conflict_do_nothing()
            )
        log.error(
            "event dead-lettered: %s", reason, extra={"consumer": self.spec.name, "subject": msg.subject}
        )
        metrics.EVENTS_HANDLED.labels(self.spec.name, "dead_lettered").inc()
        await self._settle(msg.term, msg)

    async def _heartbeat(self, msgs: list[Msg]) -> None:
        """Keeps the messages in `msgs` (a live list: settled ones leave it) ours while they are being
        applied or held. A failed in_progress (NATS away) is tried again next round."""
        interval = max(self.spec.ack_wait_seconds / 3, 0.5)
        while True:
            await asyncio.sleep(interval)
            for msg in list(msgs):
                try:
                    await msg.in_progress()
                except Exception as exc:
                    log.debug("in_progress failed: %r", exc)
                    break


async def available(sub: JetStreamContext.PullSubscription, n: int, answer_within: float = 1.0) -> list[Msg]:
    """Up to n messages the stream holds for this consumer now, without waiting for more to arrive:
    one pull request with `no_wait` and no `expires`. nats-py's fetch() puts an `expires` on its
    request, which makes the server hold it open until the batch is full or it expires, so a burst
    fetch with a 5 ms timeout added those 5 ms to every event that arrived alone (the first hop of
    every pipeline). The server answers with the messages it has and, when that is fewer than n, a
    "no messages" status, which ends the wait. Never raises: a failure (NATS away) is no messages;
    the next blocking fetch reports it."""
    messages: list[Msg] = []
    try:
        inner, queue = sub._sub, sub._sub._pending_queue
        while not queue.empty() and len(messages) < n:  # left by an earlier request
            msg = queue.get_nowait()
            inner._pending_size -= len(msg.data)
            if not JetStreamContext.is_status_msg(msg):
                messages.append(msg)
        if len(messages) < n:
            request = json.dumps({"batch": n - len(messages), "no_wait": True}).encode()
            await sub._nc.publish(sub._nms, request, sub._deliver)
            while len(messages) < n:
                msg = await inner.next_msg(answer_within)
                if JetStreamContext.is_status_msg(msg):
                    break  # no (more) messages, or a stale status of an earlier request: done
                messages.append(msg)
    except Exception as exc:
        log.debug("no-wait fetch ended: %r", exc)
    return messages


class _Retry(Exception):
    """A batch failed on a dropped connection although the database answers: apply it once more."""
