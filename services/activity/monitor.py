"""The LMS activity monitor: polls `attempts` and `contentattempts`, turns what changed into standard
events through the state machine, stores and publishes them, and audits completeness.

A poll, per LMS table (docs/activity.md has the reasoning and the failures it answers):

1. The bound: rows changed before `upper` = LMS clock - settle lag, clamped to the start of the oldest
   transaction open in the LMS (LmsReader.bound). Nothing that could still commit below the bound is
   open, so the cursor never passes a row that has yet to appear.
2. Keyset pages by (updated_at, id) from the cursor minus the overlap window (defence against writers
   whose clocks lag the LMS's), each page applied in one transaction of ours: the attempts' states,
   the new events (deterministic ids, ON CONFLICT DO NOTHING), their outbox rows and the cursor. A
   kill at any point leaves either the whole page or none of it, and the page is read again.
3. The monitor's row: last poll, watermark (= the bound), counts of skipped and rejected rows.

Singleton (`Periodic(..., singleton=True)`): one replica polls. Two briefly overlapping pollers are
still correct: pages of one table apply under a transaction advisory lock, and an event id stored
twice is stored once.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.ext.asyncio import AsyncConnection

from services.activity import convert, domain, store
from services.activity.domain import SOURCES, ActivityEvent, Cursor, LmsAttempt, Tracked
from services.activity.lms import LmsReader
from services.activity.settings import ActivityConfig
from services.runtime.db import Database
from services.runtime.events.envelope import build_headers
from services.runtime.events.outbox import Outbox

log = logging.getLogger(__name__)

WATERMARK_AGE = Gauge(
    "learnflow_activity_watermark_age_seconds",
    "Seconds between now and the LMS monitor's watermark (everything committed before it was read)",
    ["lms"],
)
POLL_SECONDS = Histogram(
    "learnflow_activity_poll_duration_seconds",
    "Duration of one poll of the LMS",
    ["lms"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
EVENTS_STORED = Counter(
    "learnflow_activity_events_total", "LMS activity events stored", ["lms", "event_type"]
)
ROWS_SKIPPED = Counter(
    "learnflow_activity_rows_skipped_total", "LMS rows that emitted nothing", ["lms", "reason"]
)

# Exam results progress counts (a quiz submission with its score).
PROGRESS_TYPES = ("exam_passed", "exam_failed")


class UserLinker(Protocol):
    """LMS emails → LearnFlow user ids of the tenant (cached by the implementation)."""

    async def link(self, emails: set[str]) -> dict[str, str]: ...


@dataclass
class PollResult:
    read: int = 0
    stored: list[ActivityEvent] = field(default_factory=list)
    skipped: int = 0
    rejected: int = 0


class ActivityMonitor:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        lms: LmsReader,
        config: ActivityConfig,
        *,
        linker: UserLinker | None = None,
        on_stored: Callable[[list[ActivityEvent]], Awaitable[None]] | None = None,
    ):
        self.db = db
        self.outbox = outbox
        self.lms = lms
        self.config = config
        self.name = config.lms_name
        self.tenant_id = config.lms_tenant_id
        self.types = frozenset(config.monitored_types)
        self.linker = linker
        self.on_stored = on_stored  # after commit: the mentor notifier
        self.unmatched: set[str] = set()
        self._stopping = False

    def stop(self) -> None:
        """Asks a running poll to return after its current page (SIGTERM: the page commits or not)."""
        self._stopping = True

    async def poll(self) -> PollResult:
        """One poll of every LMS table; errors are recorded on the monitor's row and raised (the
        periodic runner logs them and polls again next interval)."""
        started = time.monotonic()
        total = PollResult()
        try:
            bound = await self.lms.bound(self.config.settle)
            for source in SOURCES:
                result = await self._poll_source(source, bound.upper)
                total.read += result.read
                total.stored += result.stored
                total.skipped += result.skipped
                total.rejected += result.rejected
                if self._stopping:
                    return total
            async with self.db.transaction(self.tenant_id) as session:
                await store.record_poll(
                    session,
                    self.name,
                    at=datetime.now(UTC),
                    watermark=bound.upper,
                    guarded=bound.guarded,
                    skipped=total.skipped,
                    rejected=total.rejected,
                    unmatched=sorted(self.unmatched),
                )
            WATERMARK_AGE.labels(self.name).set(max((bound.now - bound.upper).total_seconds(), 0.0))
        except Exception as exc:
            async with self.db.transaction(self.tenant_id) as session:
                await store.record_error(
                    session, self.name, datetime.now(UTC), f"{type(exc).__name__}: {exc}"
                )
            raise
        finally:
            POLL_SECONDS.labels(self.name).observe(time.monotonic() - started)
        return total

    async def _poll_source(self, source: str, upper: datetime) -> PollResult:
        result = PollResult()
        async with self.db.transaction(self.tenant_id) as session:
            cursor = await store.get_cursor(session, self.name, source)
        size = self.config.batch_size
        rows = await self.lms.read(
            source, domain.overlap_start(cursor, self.config.overlap_window), upper, size
        )
        while rows and not self._stopping:
            last = rows[-1]
            # The next page is read from the LMS while this one is applied here (a catch-up is a
            # pipeline of the two databases); cancelled with the poll.
            ahead = (
                asyncio.create_task(self.lms.read(source, (last.updated_at, last.id), upper, size))
                if len(rows) == size
                else None
            )
            try:
                page = await self.apply(source, rows, advance_to=Cursor(source, last.updated_at, last.id))
            except BaseException:
                if ahead is not None:
                    ahead.cancel()
                    await asyncio.gather(ahead, return_exceptions=True)
                raise
            result.read += page.read
            result.stored += page.stored
            result.skipped += page.skipped
            result.rejected += page.rejected
            rows = await ahead if ahead is not None else []
        return result

    async def apply(
        self, source: str, rows: list[LmsAttempt], advance_to: Cursor | None = None
    ) -> PollResult:
        """Applies LMS rows of one table in one transaction: the state machine, the events, their
        outbox rows and (when given) the cursor. Safe to run again on the same rows."""
        result = PollResult(read=len(rows))
        links = await self._links({r.student_email for r in rows if r.student_email})
        async with self.db.transaction(self.tenant_id) as session:
            await store.lock_source(session, self.name, source)
            known = await store.tracked(session, self.name, source, [r.id for r in rows])
            new_events: list[ActivityEvent] = []
            updates: dict[int, Tracked] = {}
            for row in rows:
                before = updates.get(row.id) or known.get(row.id)
                emitted = before.state if before else ""
                decision = domain.decide(row, emitted)
                if decision.reject:
                    result.rejected += 1
                    ROWS_SKIPPED.labels(self.name, "rejected").inc()
                    if not (
                        before
                        and before.rejected == decision.reject
                        and before.lms_updated_at == row.updated_at
                    ):
                        log.warning(
                            "LMS row rejected",
                            extra={
                                "lms": self.name,
                                "table": source,
                                "attempt": row.id,
                                "reason": decision.reject,
                            },
                        )
                elif decision.skip:
                    result.skipped += 1
                    ROWS_SKIPPED.labels(self.name, decision.skip.split(" ")[0]).inc()
                    if decision.skip != "duplicate":
                        log.info(
                            "LMS row skipped",
                            extra={
                                "lms": self.name,
                                "table": source,
                                "attempt": row.id,
                                "reason": decision.skip,
                            },
                        )
                for state in decision.emit:
                    ev = domain.build_event(
                        self.name,
                        self.tenant_id,
                        row,
                        state,
                        links.get((row.student_email or "").lower(), ""),
                    )
                    if ev.event_type in self.types:
                        new_events.append(ev)
                updates[row.id] = Tracked(
                    source,
                    row.id,
                    decision.emit[-1] if decision.emit else emitted,
                    row.state,
                    row.updated_at,
                    decision.reject,
                )
            await store.save_tracked(session, self.name, list(updates.values()))
            stored = await store.insert_events(session, new_events)
            await self._publish(session, stored)
            if advance_to is not None:
                await store.advance_cursor(session, self.name, advance_to)
        for ev in stored:
            EVENTS_STORED.labels(self.name, ev.event_type).inc()
        result.stored = stored
        if stored and self.on_stored is not None:
            await self.on_stored(stored)
        return result

    async def _publish(self, session: AsyncConnection, stored: list[ActivityEvent]) -> None:
        """The page's outbox rows in one executemany (as Outbox.stage writes each: CloudEvents
        headers, Nats-Msg-Id = ce-id): a catch-up stages thousands per page."""
        staged: list[tuple[str, Any]] = []
        for ev in stored:
            staged.append((f"activity.{ev.event_type}", convert.activity_recorded_event(ev)))
            if ev.event_type in PROGRESS_TYPES and ev.user_id:
                staged.append(("progress.events", convert.progress_activity_event(ev)))
        if not staged:
            return
        rows = []
        for subject, message in staged:
            headers = build_headers(message, source=self.outbox.context, tenant_id=self.tenant_id)
            rows.append(
                {
                    "event_id": headers["ce-id"],
                    "subject": subject,
                    "event_type": headers["ce-type"],
                    "payload": base64.b64encode(message.SerializeToString()).decode(),
                    "headers": headers,
                }
            )
        await store.stage_outbox(session, self.outbox.table, rows)

    async def _links(self, emails: set[str]) -> dict[str, str]:
        if self.linker is None or not emails:
            return {}
        lowered = {e.lower() for e in emails}
        # A failure (identity away) raises: the page is not applied and the poll, failing, is
        # recorded and tried again. Stored unlinked, the students' results would never reach
        # progress, and a later poll would not link them (their rows are already emitted).
        found = await self.linker.link(lowered)
        self.unmatched |= lowered - found.keys()
        self.unmatched -= found.keys()
        return found

    # --- completeness audit ---------------------------------------------------------------------

    async def audit(self) -> int:
        """Compares (day, state) counts and hashes of every LMS table with what we read, up to the
        watermark, and re-reads any day that differs (idempotent apply). Returns how many days were
        backfilled; each is logged."""
        async with self.db.transaction(self.tenant_id) as session:
            status = await store.monitor_row(session, self.name)
        upper = status.watermark
        if upper is None:
            return 0
        # Rows in the overlap window may be read again by the next poll anyway; auditing below it
        # keeps the audit from racing the poller over rows it is about to read.
        upper = upper - self.config.overlap_window
        backfilled = 0
        for source in SOURCES:
            theirs = await self.lms.buckets(source, upper)
            async with self.db.transaction(self.tenant_id) as session:
                ours = await store.audit_buckets(session, self.name, source, upper)
            differs = {key for key in theirs.keys() | ours.keys() if theirs.get(key) != ours.get(key)}
            days = sorted({day for day, _ in differs})
            for day in days:
                rows = await self.lms.read_day(source, day.replace(tzinfo=UTC), upper)
                page = await self.apply(source, rows)
                backfilled += 1
                log.warning(
                    "completeness audit backfilled a day",
                    extra={
                        "lms": self.name,
                        "table": source,
                        "day": day.date().isoformat(),
                        "rows": len(rows),
                        "events": len(page.stored),
                    },
                )
        return backfilled


def watermark_age(now: datetime, watermark: datetime | None) -> float | None:
    return None if watermark is None else max((now - watermark).total_seconds(), 0.0)
