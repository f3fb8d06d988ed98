"""The transactional outbox: events are rows written in the same transaction as the state change,
and a relay publishes them to JetStream after commit.

A crash between publish and delete republishes the row on restart; JetStream drops it by Nats-Msg-Id
(within the stream's duplicate window) and consumers' inboxes drop it after that. Several relays (one
per replica) share the table with FOR UPDATE SKIP LOCKED.

The relay runs under the supervisor (services/runtime/supervisor.py). A database or NATS outage never
ends it: the failed round is rolled back (the rows stay) and retried every poll interval. `check()`, the
stall probe, exports the outbox's depth and oldest age and reports a stall when rows wait too long.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence

import sqlalchemy as sa
from google.protobuf.message import Message
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime import metrics
from services.runtime.db import Database, listen, run_sql, tenant_of
from services.runtime.events.envelope import build_headers
from services.runtime.events.tables import event_tables
from services.runtime.migration_ops import outbox_channel

log = logging.getLogger(__name__)


class Outbox:
    """Stages events inside the caller's unit of work."""

    def __init__(self, context: str, schema: str):
        self.context = context
        self.schema = schema
        self.table = event_tables(schema).outbox
        # The statement every staged event runs, plain SQL sent by psycopg itself (db.run_sql): one
        # statement for any number of events, a row per element of the arrays (unnest).
        self._stage_many_sql = (
            f"INSERT INTO {schema}.outbox (event_id, subject, event_type, payload, headers) "  # noqa: S608 (our schema)
            "SELECT e, s, t, p, h::json FROM unnest(%(ids)b::text[], %(subjects)b::text[], "
            "%(types)b::text[], %(payloads)b::bytea[], %(headers)b::text[]) AS v(e, s, t, p, h)"
        )

    async def stage(
        self, session: AsyncConnection, subject: str, message: Message, *, tenant_id: str | None = None
    ) -> str:
        # The event belongs to the transaction's tenant unless the caller says otherwise.
        return (await self.stage_many(session, [(subject, message)], tenant_id=tenant_id))[0]

    async def stage_many(
        self,
        session: AsyncConnection,
        events: Sequence[tuple[str, Message]],
        *,
        tenant_id: str | None = None,
    ) -> list[str]:
        """stage() for several (subject, message) pairs of one tenant in ONE statement; returns their
        event ids in order. For a batch handler: one round trip instead of one per event."""
        if not events:
            return []
        tenant = tenant_id if tenant_id is not None else tenant_of(session)
        params: dict[str, list[object]] = {k: [] for k in ("ids", "subjects", "types", "payloads", "headers")}
        for subject, message in events:
            headers = build_headers(message, source=self.context, tenant_id=tenant)
            params["ids"].append(headers["ce-id"])
            params["subjects"].append(subject)
            params["types"].append(headers["ce-type"])
            params["payloads"].append(message.SerializeToString())
            params["headers"].append(json.dumps(headers))
        await run_sql(session, self._stage_many_sql, params)
        return [str(i) for i in params["ids"]]


class OutboxRelay:
    def __init__(
        self,
        outbox: Outbox,
        db: Database,
        js: JetStreamContext,
        listen_dsn: str,
        *,
        batch: int = 256,
        poll_interval: float = 1.0,
        coalesce: float = 0.003,
        stall_seconds: float = 60.0,
    ):
        self.outbox = outbox
        self.db = db
        self.js = js
        self.listen_dsn = listen_dsn
        self.batch = batch
        self.poll_interval = poll_interval
        # Under load (the last round trip carried more than one row), wait this long after a wake-up
        # so one round trip carries the rows of several commits: a few ms of latency buys a large cut
        # in CPU per event. A lone event is published at once.
        self.coalesce = coalesce
        self.stall_seconds = stall_seconds
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        schema = outbox.schema
        self._relay_sql = (
            f"DELETE FROM {schema}.outbox WHERE seq IN (SELECT seq FROM {schema}.outbox "  # noqa: S608 (our schema)
            "ORDER BY seq LIMIT %(n)s FOR UPDATE SKIP LOCKED) RETURNING seq, subject, payload, headers"
        )

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        listener = asyncio.create_task(self._listen(), name=f"outbox-listen-{self.outbox.schema}")
        try:
            relayed = 0
            while not self._stopping.is_set():
                try:
                    while (relayed := await self.relay_once()) == self.batch:
                        pass
                except Exception as exc:  # keep relaying after a NATS or database outage
                    log.warning(
                        "outbox relay failed; retrying",
                        extra={"context": self.outbox.context, "error": repr(exc)},
                    )
                    await asyncio.sleep(self.poll_interval)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
                if relayed > 1:
                    await asyncio.sleep(self.coalesce)
                self._wake.clear()
            try:
                await self.relay_once()  # what committed before the stop still goes out
            except Exception as exc:  # the rows stay; the next replica or start publishes them
                log.warning(
                    "outbox not flushed at stop", extra={"context": self.outbox.context, "error": repr(exc)}
                )
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def relay_once(self) -> int:
        """Takes up to `batch` rows (oldest first, skipping rows another relay holds), publishes them,
        and commits their removal. A failed publish rolls the removal back."""
        async with self.db.transaction(tenant_id="") as session:
            result = await run_sql(session, self._relay_sql, {"n": self.batch})
            rows = sorted(result, key=lambda r: r.seq)  # publish in commit order
            if not rows:
                return 0
            await asyncio.gather(
                *(self.js.publish(r.subject, r.payload, headers=r.headers, timeout=5) for r in rows)
            )
        metrics.EVENTS_PUBLISHED.labels(self.outbox.context).inc(len(rows))
        return len(rows)

    async def check(self) -> str | None:
        """The stall probe: sets learnflow_outbox_pending / learnflow_outbox_oldest_age_seconds and
        returns a reason when the oldest row has waited longer than stall_seconds."""
        table = self.outbox.table
        async with self.db.transaction(tenant_id="") as session:
            row = (
                await session.execute(
                    sa.select(
                        sa.func.count(),
                        sa.func.coalesce(
                            sa.func.extract("epoch", sa.func.now() - sa.func.min(table.c.created_at)), 0
                        ),
                    )
                )
            ).one()
        depth, age = int(row[0]), float(row[1])
        metrics.OUTBOX_LAG.labels(self.outbox.context).set(depth)
        metrics.OUTBOX_OLDEST_AGE.labels(self.outbox.context).set(age)
        if depth and age >= self.stall_seconds:
            return f"outbox of {self.outbox.context}: {depth} events not published, oldest {age:.0f} s"
        return None

    async def _listen(self) -> None:
        await listen(
            self.listen_dsn, outbox_channel(self.outbox.schema), self._wake, self._stopping, "outbox"
        )
