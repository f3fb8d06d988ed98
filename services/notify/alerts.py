"""Ops alerting: Alertmanager's webhooks in, actionable messages out (docs/ops-alerting.md).

Detection and routing are Prometheus' and Alertmanager's (deploy/prometheus/): rules decide what is
wrong, Alertmanager groups, deduplicates, and routes warnings to POST /v1/alerts/slack and critical
alerts to POST /v1/alerts/pagerduty on this receiver, with a bearer secret. Here each notification
becomes a message on its channel:

- Slack (warnings): one markdown message per Alertmanager group: per alert what failed, the
  affected tenant/context/instance, what to do first, runbook and graph links;
- PagerDuty (critical): one Events API v2 event per alert, trigger or resolve, dedup_key = the
  alert's fingerprint, so a resolve closes the incident its trigger opened.

Limits (seed FR3.5): at most NOTIFY_ALERTS_PER_HOUR messages per channel per hour, shared by every
replica (services/runtime/ratelimit.py, key notify:ops-alerts:<channel>). What the limit holds back
is recorded (ops_alerts, outcome "held") and told in the channel's next message ("7 more alerts
held back since 12:00: ..."); when no next alert comes, `flush` sends that summary on its own as
soon as the limit allows. Nothing is dropped. PagerDuty resolves are never held: they close
incidents already opened and add no noise.

Normal path: the message goes through notify's delivery engine (`send_system`, injected), so it is
in the delivery log with its retries like every other message.

PostgreSQL-down path: the limiter, the record and the delivery log all live in PostgreSQL, and an
alert that PostgreSQL is down must still go out. When a database step fails as an outage (or takes
longer than NOTIFY_ALERTS_DB_TIMEOUT_SECONDS), the alert goes straight to its Channel object (the
same client the engine uses) under an in-process limit of the same size, and what happened is kept
in a bounded local spool (NOTIFY_ALERTS_SPOOL_SIZE). `flush` writes the spool into ops_alerts (and
hands sent messages to `record_delivery`, the engine's seam for the delivery log) once PostgreSQL
answers again. If the channel fails too, the receiver answers 503 and Alertmanager retries the
notification (its webhook notifier retries 5xx answers), so the alert is still not lost.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections import Counter as Tally
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import httpx
import psycopg
import sqlalchemy as sa
from aiohttp import web
from prometheus_client import Counter, Gauge
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError

from services.notify.alerts_settings import AlertSettings
from services.notify.alerts_webhook import (
    MAX_BODY_BYTES,
    HeldBack,
    InvalidNotification,
    Notification,
    pagerduty_events,
    parse_notification,
    slack_message,
    summary_message,
)
from services.notify.channels.base import Channel, Outgoing, Sent, Urgency
from services.notify.domain import adapt_body
from services.notify.tables import ops_alerts
from services.runtime.contexts import Periodic
from services.runtime.db import Database, is_database_outage
from services.runtime.errors import Unavailable
from services.runtime.outbound import RetryableResponse
from services.runtime.ratelimit import Limit, SharedRateLimiter

log = logging.getLogger(__name__)

OPS_ALERTS = Counter(
    "learnflow_notify_ops_alerts_total",
    "Ops alerts received from Alertmanager by channel, what became of them, and the path taken",
    ["channel", "outcome", "path"],
)
SPOOLED = Gauge(
    "learnflow_notify_ops_alert_spool", "Ops alert records waiting for PostgreSQL in this replica"
)
PLATFORM_TENANT = uuid.UUID(int=0)  # ops messages belong to no tenant
OPS_ADDRESS = "ops"  # what a webhook channel (Slack, PagerDuty) resolves to its configured target
PAGERDUTY = "pagerduty"
SCHEMA = "notify"


class SendSystem(Protocol):
    """The delivery engine's entry point for platform messages: records the message in the delivery
    log and delivers it with retries; returns once it is accepted (recorded)."""

    def __call__(
        self,
        channel: str,
        subject: str,
        body: str,
        urgency: Urgency,
        idempotency_key: str,
        extra: Mapping[str, str],
    ) -> Awaitable[object]: ...


# What `flush` hands the engine for each message sent straight to its channel while PostgreSQL was
# down, so the delivery log shows it: (channel, subject, body, idempotency_key, provider_message_id, sent_at).
RecordDelivery = Callable[[str, str, str, str, str | None, datetime], Awaitable[None]]
# The delivery figures of one day for the digest, by status ({"sent": 120, "failed": 2, ...}); None: unknown.
DeliveryFigures = Callable[[date], Awaitable[Mapping[str, int] | None]]


class DirectSendFailed(Exception):
    """PostgreSQL is down and the channel refused too: the receiver answers 503 so Alertmanager retries."""


@dataclass
class _Message:
    channel: str
    kind: str  # alert | summary | digest
    subject: str
    body: str
    urgency: Urgency
    idempotency_key: str
    extra: Mapping[str, str]
    rows: list[dict[str, Any]]  # one ops_alerts row per alert it carries
    limited: bool = True  # counts against the hourly limit
    render: Callable[[HeldBack | None], tuple[str, str]] | None = None  # (subject, body) with held ones


@dataclass
class Outcome:
    sent: int = 0
    held: int = 0
    path: str = "delivery_log"

    def as_json(self) -> dict[str, Any]:
        return {"sent": self.sent, "held": self.held, "path": self.path}


class LocalBucket:
    """The hourly limit in this process only, for while the shared one (PostgreSQL) is unreachable."""

    def __init__(self, limit: Limit, clock: Callable[[], float]):
        self.limit, self.clock = limit, clock
        self.tokens, self.at = limit.burst, clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.limit.burst, self.tokens + (now - self.at) * self.limit.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def _idempotency_key(*parts: str) -> str:
    return "ops-alert:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def _held_back(rows: Sequence[Any]) -> HeldBack | None:
    if not rows:
        return None
    tally = Tally(f"{r.alertname} ({r.status})" if r.status else r.alertname for r in rows)
    return HeldBack(len(rows), min(r.received_at for r in rows), dict(tally))


class OpsAlerts:
    """Turns Alertmanager notifications into limited, recorded messages; see the module docstring."""

    def __init__(
        self,
        settings: AlertSettings,
        db: Database,
        channels: Mapping[str, Channel],
        send_system: SendSystem | None = None,
        *,
        record_delivery: RecordDelivery | None = None,
        delivery_figures: DeliveryFigures | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.settings = settings
        self.db = db
        self.channels = channels
        # Until the delivery engine is wired in (app.py), the normal path sends through the channel
        # too; only the PostgreSQL-down path must always do that.
        self.send_system: SendSystem = send_system or self._send_direct_logged
        self.record_delivery = record_delivery
        self.delivery_figures = delivery_figures
        self.limiter = SharedRateLimiter(db, SCHEMA)
        self.limit = Limit(settings.hourly_limit / 3600.0, float(settings.hourly_limit))
        self.clock, self.now = clock, now
        self.local: dict[str, LocalBucket] = {}
        # PostgreSQL-down path: what the local limit held back (told in the next direct message), and
        # the records waiting for PostgreSQL, oldest forgotten first beyond spool_size.
        self.local_held: dict[str, list[dict[str, Any]]] = {}
        self.spool: deque[dict[str, Any]] = deque(maxlen=settings.spool_size)
        self._spool_lock = asyncio.Lock()
        self._abandoned: set[asyncio.Future[bool]] = set()  # attempts a hung PostgreSQL holds up
        self._runner: web.AppRunner | None = None
        self.address: tuple[str, int] | None = None

    # --- receiving ------------------------------------------------------------------------------

    async def handle(self, channel: str, n: Notification) -> Outcome:
        """Sends (or holds) the messages of one notification on `channel`. Raises DirectSendFailed when
        neither PostgreSQL nor the channel can take it (the receiver answers 503)."""
        messages = self._messages(channel, n)
        outcome = Outcome()
        pending = list(messages)
        while pending:
            message = pending[0]
            try:
                sent = await self._bounded(message)
            except Exception as exc:
                if not _is_outage(exc):
                    raise
                log.error(
                    "ops alert: PostgreSQL unreachable, sending straight to the channel",
                    extra={"channel": channel, "error": repr(exc)},
                )
                for rest in pending:
                    if await self._direct(rest):
                        outcome.sent += 1
                    else:
                        outcome.held += 1
                outcome.path = "direct"
                return outcome
            pending.pop(0)
            if sent:
                outcome.sent += 1
            else:
                outcome.held += 1
        return outcome

    def _messages(self, channel: str, n: Notification) -> list[_Message]:
        received = self.now()
        minute = received.strftime("%Y%m%d%H%M")  # Alertmanager's repeats stay distinct messages

        def row(alert: Any) -> dict[str, Any]:
            return {
                "channel": channel,
                "kind": "alert",
                "alertname": alert.name,
                "status": alert.status,
                "severity": alert.severity,
                "fingerprint": alert.fingerprint,
                "summary": alert.summary[:1000],
                "received_at": received,
            }

        if channel == PAGERDUTY:
            out = []
            for event in pagerduty_events(n):
                one = Notification(n.receiver, n.status, (event.alert,), external_url=n.external_url)
                out.append(
                    _Message(
                        channel,
                        "alert",
                        event.subject,
                        event.body,
                        "critical",
                        _idempotency_key(channel, event.alert.fingerprint, event.alert.status, minute),
                        event.extra,
                        [row(event.alert)],
                        limited=event.alert.status == "firing",
                        render=functools.partial(_pd_render, one),
                    )
                )
            return out
        subject, body = slack_message(n)
        keys = sorted(f"{a.fingerprint}:{a.status}" for a in n.alerts)
        urgency: Urgency = "critical" if any(a.severity == "critical" for a in n.alerts) else "high"
        return [
            _Message(
                channel,
                "alert",
                subject,
                body,
                urgency,
                _idempotency_key(channel, n.group_key, *keys, minute),
                {},
                [row(a) for a in n.alerts],
                render=lambda held: slack_message(n, held),
            )
        ]

    async def _bounded(self, m: _Message) -> bool:
        """`_logged`, with its PostgreSQL steps bounded by db_timeout (TimeoutError: take the direct
        path); the send itself is not bounded, so a slow provider is not mistaken for an outage.
        A hung database is not waited for even to cancel: psycopg's cancellation of a query to a
        server that does not answer takes its own timeout, so the attempt is left to end in the
        background (before it could send anything: it is stopped before the send)."""
        answered = asyncio.Event()
        attempt = asyncio.ensure_future(self._logged(m, answered))
        waiter = asyncio.ensure_future(answered.wait())
        done, _ = await asyncio.wait(
            {attempt, waiter}, timeout=self.settings.db_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        waiter.cancel()
        if not done:
            attempt.cancel()
            self._abandoned.add(attempt)
            attempt.add_done_callback(self._forget)
            raise TimeoutError(f"PostgreSQL did not answer within {self.settings.db_timeout}s")
        return await attempt

    def _forget(self, task: asyncio.Future[bool]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("abandoned ops alert attempt ended", extra={"error": repr(task.exception())})

    async def _logged(self, m: _Message, answered: asyncio.Event) -> bool:
        """The normal path: the shared limit, then the delivery engine. False: held back. Sets
        `answered` once PostgreSQL has answered, right before the send."""
        if m.limited:
            decision = await self.limiter.take(f"notify:ops-alerts:{m.channel}", self.limit)
            if not decision.allowed:
                if not m.rows:  # a summary of held ones: they stay held
                    return False
                async with self.db.transaction(tenant_id="") as conn:
                    await conn.execute(
                        ops_alerts.insert(),
                        [{"id": uuid.uuid4(), **r, "outcome": "held"} for r in m.rows],
                    )
                for _ in m.rows:
                    OPS_ALERTS.labels(m.channel, "held", "delivery_log").inc()
                answered.set()
                return False
            # The in-process bucket follows this replica's sends, so the limit it applies while
            # PostgreSQL is down starts from what this replica has already sent.
            self._bucket(m.channel).take()
        message_id = uuid.uuid4()
        async with self.db.transaction(tenant_id="") as conn:
            # Claimed in the transaction that records the send: if sending fails, they stay held.
            held_rows = (
                await conn.execute(
                    ops_alerts.update()
                    .where(ops_alerts.c.channel == m.channel, ops_alerts.c.outcome == "held")
                    .values(outcome="summarised", summarised_in=message_id)
                    .returning(ops_alerts.c.alertname, ops_alerts.c.status, ops_alerts.c.received_at)
                )
            ).all()
            if m.kind == "summary" and not held_rows:
                answered.set()
                return True  # another replica told them meanwhile
            subject, body = m.subject, m.body
            if held_rows and m.render is not None:
                subject, body = m.render(_held_back(held_rows))
            rows = [{"id": uuid.uuid4(), **r, "outcome": "sent"} for r in m.rows]
            if m.kind == "summary":
                rows = [
                    {
                        "id": message_id,
                        "channel": m.channel,
                        "kind": "summary",
                        "outcome": "sent",
                        "summary": f"{len(held_rows)} held back",
                        "received_at": self.now(),
                    }
                ]
            elif rows:
                rows[0]["id"] = message_id
            await conn.execute(ops_alerts.insert(), rows)
            answered.set()  # PostgreSQL answered
            await self.send_system(m.channel, subject, body, m.urgency, m.idempotency_key, m.extra)
        OPS_ALERTS.labels(m.channel, "sent", "delivery_log").inc(max(len(m.rows), 1))
        return True

    def _bucket(self, channel: str) -> LocalBucket:
        if channel not in self.local:
            self.local[channel] = LocalBucket(self.limit, self.clock)
        return self.local[channel]

    async def _direct(self, m: _Message) -> bool:
        """The PostgreSQL-down path: the in-process limit, then straight to the channel."""
        bucket = self._bucket(m.channel)
        if m.limited and not bucket.take():
            rows = [{"id": uuid.uuid4(), **r, "outcome": "held"} for r in m.rows]
            self.local_held.setdefault(m.channel, []).extend(rows)
            await self._spool(rows, None)
            for _ in m.rows:
                OPS_ALERTS.labels(m.channel, "held", "direct").inc()
            return False
        held = self.local_held.pop(m.channel, [])
        subject, body = m.subject, m.body
        if held and m.render is not None:
            subject, body = m.render(
                _held_back([_Row(h["alertname"], h["status"], h["received_at"]) for h in held])
            )
        try:
            sent = await self._send_channel(m.channel, subject, body, m.urgency, m.idempotency_key, m.extra)
        except Exception as exc:
            self.local_held.setdefault(m.channel, [])[:0] = held  # still to be told
            if m.limited:
                bucket.tokens += 1  # nothing went out
            OPS_ALERTS.labels(m.channel, "failed", "direct").inc()
            raise DirectSendFailed(f"{m.channel}: {exc!r}") from exc
        message = {
            "channel": m.channel,
            "subject": subject,
            "body": body,
            "key": m.idempotency_key,
            "provider_message_id": sent.provider_message_id,
            "limited": m.limited,
            "sent_at": self.now(),
        }
        async with self._spool_lock:
            for h in held:  # told now: their spooled records say so (if still waiting for PostgreSQL)
                h["outcome"] = "summarised"
        await self._spool([{"id": uuid.uuid4(), **r, "outcome": "sent"} for r in m.rows], message)
        for _ in m.rows:
            OPS_ALERTS.labels(m.channel, "sent", "direct").inc()
        return True

    async def _send_channel(
        self, channel: str, subject: str, body: str, urgency: Urgency, key: str, extra: Mapping[str, str]
    ) -> Sent:
        ch = self.channels.get(channel)
        if ch is None:
            raise LookupError(f"no channel {channel!r} is configured in this process")
        address = await ch.resolve(extra.get("to", OPS_ADDRESS))
        if address is None:
            raise LookupError(f"channel {channel!r} has no address for {extra.get('to', OPS_ADDRESS)!r}")
        delivery_id = uuid.uuid5(uuid.NAMESPACE_URL, key)  # stable across Alertmanager's retries
        text = body if len(body) <= ch.max_length else body[: ch.max_length - 1] + "…"
        return await ch.send(
            Outgoing(delivery_id, PLATFORM_TENANT, address, subject, text, urgency, dict(extra))
        )

    async def _send_direct_logged(
        self,
        channel: str,
        subject: str,
        body: str,
        urgency: Urgency,
        idempotency_key: str,
        extra: Mapping[str, str],
    ) -> object:
        return await self._send_channel(channel, subject, body, urgency, idempotency_key, extra)

    async def _spool(self, rows: list[dict[str, Any]], message: dict[str, Any] | None) -> None:
        async with self._spool_lock:
            if not rows and message is not None:
                rows = [
                    {
                        "id": uuid.uuid4(),
                        "channel": message["channel"],
                        "kind": "summary",
                        "outcome": "sent",
                        "received_at": message["sent_at"],
                    }
                ]
            for r in rows:
                if len(self.spool) == self.spool.maxlen:
                    log.error(
                        "ops alert spool full: the oldest record is forgotten (the alert itself was handled)"
                    )
                r["path"] = "direct"  # the same dict as in local_held: a later summary updates it
                self.spool.append({"row": r, "message": message})
                message = None  # the message is recorded once, with its first row
            SPOOLED.set(len(self.spool))

    # --- background work ------------------------------------------------------------------------

    async def flush(self) -> None:
        """Records the local spool once PostgreSQL answers, and sends what the limit held back on its
        own once the limit allows (when no new alert carried it). Safe on every replica at once: the
        held rows are claimed in one UPDATE, and the limit is shared."""
        await self._reconcile()
        for channel in self.settings.channels:
            async with self.db.transaction(tenant_id="") as conn:
                waiting = (
                    await conn.execute(
                        sa.select(sa.func.count())
                        .select_from(ops_alerts)
                        .where(ops_alerts.c.channel == channel, ops_alerts.c.outcome == "held")
                    )
                ).scalar_one()
            if not waiting:
                continue
            key = _idempotency_key(channel, "summary", self.now().strftime("%Y%m%d%H%M"))
            extra: dict[str, str] = {}
            if channel == PAGERDUTY:
                # An informational event that opens no incident of its own: PagerDuty needs a dedup key.
                extra = {
                    "event_action": "trigger",
                    "dedup_key": key,
                    "severity": "info",
                    "source": "learnflow",
                }
            message = _Message(
                channel,
                "summary",
                "",
                "",
                "normal",
                key,
                extra,
                [],
                render=lambda held: summary_message(held or HeldBack(0, None, {})),
            )
            if await self._bounded(message):
                log.info("ops alerts held back were summarised", extra={"channel": channel, "count": waiting})

    async def _reconcile(self) -> None:
        if not self.spool:
            return
        async with self._spool_lock:
            entries = list(self.spool)
            rows = [dict(e["row"], dedup_key=f"spool:{e['row']['id']}") for e in entries]
            recorded = {r["id"] for r in rows}
            # What the local limit still holds becomes shared "held" rows: the next message on the
            # channel (from any replica) tells it; the in-process list would otherwise tell it twice.
            async with self.db.transaction(tenant_id="") as conn:
                await conn.execute(pg_insert(ops_alerts).on_conflict_do_nothing(), rows)
            for e in entries:
                m = e["message"]
                if m is not None and m["limited"]:
                    # Charged to the shared limit now, so the hour's count includes what went out
                    # while it could not be asked (a denied take means it is spent already).
                    await self.limiter.take(f"notify:ops-alerts:{m['channel']}", self.limit)
                if m is not None and self.record_delivery is not None:
                    await self.record_delivery(
                        m["channel"],
                        m["subject"],
                        m["body"],
                        m["key"],
                        m["provider_message_id"],
                        m["sent_at"],
                    )
            for _ in entries:
                self.spool.popleft()
            for c, held in list(self.local_held.items()):
                self.local_held[c] = [h for h in held if h["id"] not in recorded]
            SPOOLED.set(len(self.spool))
        log.info("ops alert spool recorded in PostgreSQL", extra={"records": len(entries)})

    async def digest(self) -> bool:
        """The previous day's digest to the operators, once a day after digest_hour_utc. Returns
        whether it sent one. The day's row (dedup_key digest:<day>) is written in the transaction
        that sends, so a failed send is retried by the next run and a sent one never repeats."""
        now = self.now()
        if not self.settings.operators or now.hour < self.settings.digest_hour_utc:
            return False
        day = now.date() - timedelta(days=1)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        end = start + timedelta(days=1)
        async with self.db.transaction(tenant_id="") as conn:
            claimed = (
                await conn.execute(
                    pg_insert(ops_alerts)
                    .values(
                        id=uuid.uuid4(),
                        channel=self.settings.digest_channel,
                        kind="digest",
                        outcome="sent",
                        summary=f"digest of {day}",
                        dedup_key=f"digest:{day}",
                    )
                    .on_conflict_do_nothing()
                    .returning(ops_alerts.c.id)
                )
            ).first()
            if claimed is None:
                return False
            fired = (
                await conn.execute(
                    sa.select(ops_alerts.c.alertname, ops_alerts.c.severity, sa.func.count())
                    .where(
                        ops_alerts.c.kind == "alert",
                        ops_alerts.c.status == "firing",
                        ops_alerts.c.received_at >= start,
                        ops_alerts.c.received_at < end,
                    )
                    .group_by(ops_alerts.c.alertname, ops_alerts.c.severity)
                    .order_by(sa.func.count().desc())
                )
            ).all()
            outcome_rows = await conn.execute(
                sa.select(ops_alerts.c.outcome, sa.func.count())
                .where(
                    ops_alerts.c.kind == "alert",
                    ops_alerts.c.received_at >= start,
                    ops_alerts.c.received_at < end,
                )
                .group_by(ops_alerts.c.outcome)
            )
            outcomes = {str(r[0]): int(r[1]) for r in outcome_rows.all()}
            deliveries = await self.delivery_figures(day) if self.delivery_figures else None
            sla = await self._sla_compliance(end)
            subject, body = digest_text(day, deliveries, sla, [tuple(r) for r in fired], outcomes)
            # The digest is plain text; an HTML channel (email) takes it escaped, line by line, as the
            # engine adapts any text body (an alert summary with "<" in it is not markup).
            digest_channel = self.channels.get(self.settings.digest_channel)
            if digest_channel is not None:
                body = adapt_body(body, "text", digest_channel.body_format)
            for email in self.settings.operators:
                await self.send_system(
                    self.settings.digest_channel,
                    subject,
                    body,
                    "low",
                    _idempotency_key("digest", str(day), email),
                    {"to": email},
                )
        return True

    async def _sla_compliance(self, at: datetime) -> dict[str, float] | None:
        """The day's mean SLA compliance per tenant, from Prometheus; None when not configured or not
        answering (the digest says so rather than failing)."""
        if not self.settings.prometheus_url:
            return None
        query = "avg by (tenant) (avg_over_time(learnflow_intervention_sla_compliance_ratio[1d]))"
        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                reply = await client.get(
                    f"{self.settings.prometheus_url.rstrip('/')}/api/v1/query",
                    params={"query": query, "time": at.timestamp()},
                )
                reply.raise_for_status()
                result = reply.json()["data"]["result"]
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            log.warning("digest: Prometheus did not answer the SLA query", extra={"error": repr(exc)})
            return None
        return {r["metric"].get("tenant", ""): float(r["value"][1]) for r in result}

    def periodic(self) -> list[Periodic]:
        """flush on every replica (each has its own spool; claims and limits are shared), the digest
        on one (its day row makes a second send impossible anyway)."""

        async def flush() -> None:
            try:
                await self.flush()
            except Exception as exc:
                if not _is_outage(exc):
                    raise
                log.debug("ops alert flush: PostgreSQL still unreachable")

        return [
            Periodic("notify-ops-alerts-flush", self.settings.flush_interval, flush),
            Periodic("notify-ops-alerts-digest", 300.0, self._digest_quietly, singleton=True),
        ]

    async def _digest_quietly(self) -> None:
        await self.digest()

    # --- the HTTP receiver ----------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post("/v1/alerts/{channel}", self._receive)
        return app

    async def _receive(self, request: web.Request) -> web.Response:
        expected = f"Bearer {self.settings.webhook_token}".encode()
        given = request.headers.get("Authorization", "").encode()
        if not self.settings.webhook_token or not hmac.compare_digest(given, expected):
            return _json(
                401,
                {"error": "UNAUTHENTICATED", "message": "a valid bearer token is required"},
                headers={"WWW-Authenticate": "Bearer"},
            )
        channel = request.match_info["channel"]
        if channel not in self.settings.channels:
            return _json(
                404,
                {
                    "error": "NOT_FOUND",
                    "message": f"no ops alert channel {channel!r}",
                    "channels": list(self.settings.channels),
                },
            )
        try:
            body = await request.content.read(MAX_BODY_BYTES + 1)
            notification = parse_notification(body)
        except InvalidNotification as exc:
            return _json(400, exc.as_json())
        try:
            outcome = await self.handle(channel, notification)
        except DirectSendFailed as exc:
            return _json(503, {"error": "UNAVAILABLE", "message": f"could not deliver now: {exc}"})
        except Exception:  # Alertmanager retries a 5xx; a 503 says "try again" rather than "bug"
            log.exception("ops alert could not be handled", extra={"channel": channel})
            return _json(503, {"error": "UNAVAILABLE", "message": "could not handle the alert now"})
        return _json(200, outcome.as_json())

    async def start(self) -> None:
        """Serves the receiver on listen_addr (nothing when it is empty)."""
        if not self.settings.listen_addr:
            return
        host, _, port = self.settings.listen_addr.rpartition(":")
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host.strip("[]"), int(port))
        await site.start()
        server = site._server  # aiohttp exposes the bound port (port 0: chosen by the OS) only here
        sockets = getattr(server, "sockets", None) or []
        self.address = sockets[0].getsockname()[:2] if sockets else (host, int(port))
        log.info("ops alert receiver listening", extra={"addr": f"{self.address[0]}:{self.address[1]}"})

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@dataclass
class _Row:
    """A held alert kept in memory (PostgreSQL-down path), shaped like an ops_alerts row for _held_back."""

    alertname: str = ""
    status: str = ""
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    channel: str = ""
    kind: str = ""
    severity: str = ""
    fingerprint: str = ""
    summary: str = ""


def _pd_render(n: Notification, held: HeldBack | None) -> tuple[str, str]:
    event = pagerduty_events(n, held)[0]
    return event.subject, event.body


def _is_outage(exc: BaseException) -> bool:
    """Whether PostgreSQL is what failed (then the alert takes the direct path). A channel's own
    failure (RetryableResponse is Unavailable too) is not: it is answered 503 for Alertmanager to retry."""
    if isinstance(exc, RetryableResponse):
        return False
    if isinstance(exc, TimeoutError):
        return True
    if isinstance(exc, Unavailable):
        return exc.__cause__ is not None and _is_outage(exc.__cause__)
    if isinstance(exc, DBAPIError | OSError | psycopg.Error):
        return is_database_outage(exc)
    return False


def _json(status: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(payload), content_type="application/json", headers=headers
    )


def digest_text(
    day: date,
    deliveries: Mapping[str, int] | None,
    sla: Mapping[str, float] | None,
    fired: Sequence[tuple[Any, ...]],
    outcomes: Mapping[str, int],
) -> tuple[str, str]:
    """The daily digest (seed FR3.2) as plain text for email."""
    lines = [f"LearnFlow operations digest for {day:%A %d %B %Y} (UTC)", ""]
    lines.append("Deliveries by status:")
    if deliveries is None:
        lines.append("  not available (the delivery log's figures are not wired in)")
    else:
        lines += [f"  {status}: {count}" for status, count in sorted(deliveries.items())] or ["  none"]
    lines += ["", "Intervention SLA compliance (mean over the day, target 90%):"]
    if sla is None:
        lines.append("  not available (no Prometheus configured or it did not answer)")
    else:
        lines += [
            f"  {tenant or 'all'}: {value:.1%}" + ("  BELOW TARGET" if value < 0.9 else "")
            for tenant, value in sorted(sla.items())
        ] or ["  no data"]
    total = sum(int(r[2]) for r in fired)
    lines += ["", f"Alerts fired: {total}"]
    lines += [f"  {name} ({severity}): {count}" for name, severity, count in fired]
    if outcomes:
        lines.append("  messages: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    return f"LearnFlow digest {day}: {total} alert(s)", "\n".join(lines)
