"""A demo LMS database of the test's own (a second database in the session's PostgreSQL, created by
services/runtime/local/lms.py with its owner and read-only roles) and the monitor over it, as
`learnflow serve` builds it, on a fresh tenant."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
import sqlalchemy as sa
from learnflow.activity.v1 import events_pb2

from services.activity.domain import SOURCES, ActivityEvent, LmsAttempt, decide, event_id
from services.activity.lms import LmsReader
from services.activity.monitor import ActivityMonitor
from services.activity.settings import ActivityConfig
from services.runtime.db import Database
from services.runtime.events.outbox import Outbox
from services.runtime.local.lms import LmsUrls, create_lms_database


def new_lms(pg) -> LmsUrls:
    name = f"lms_{uuid.uuid4().hex[:12]}"
    return create_lms_database(pg._psql, pg.port, name)


@dataclass
class World:
    db: Database
    urls: LmsUrls
    tenant_id: str
    name: str

    def config(self, **overrides) -> ActivityConfig:
        values = dict(
            monitor_enabled=True,
            lms_database_url=self.urls.reader,
            lms_name=self.name,
            lms_tenant_id=self.tenant_id,
            poll_interval=0.05,
            settle_lag=0.05,
            overlap=1.0,
            batch_size=25,
        )
        values.update(overrides)
        return ActivityConfig(**values)

    def monitor(self, **overrides) -> tuple[ActivityMonitor, LmsReader]:
        reader = LmsReader(self.urls.reader, pool_size=2)
        return ActivityMonitor(
            self.db, Outbox("activity", "activity"), reader, self.config(**overrides)
        ), reader

    def owner(self) -> psycopg.Connection:
        return psycopg.connect(self.urls.owner_conninfo, autocommit=True)

    async def stored(self) -> list[ActivityEvent]:
        from services.activity import store
        from services.activity.domain import EventFilter

        async with self.db.transaction(self.tenant_id) as session:
            return await store.list_events(session, EventFilter(), limit=1_000_000, after_sequence=0)

    async def published_ids(self) -> list[str]:
        """The event ids of the outbox rows this world's monitor staged on activity.* (one per
        stored event, duplicates kept so the test can count them)."""
        async with self.db.transaction(self.tenant_id) as session:
            rows = (
                await session.execute(
                    sa.text(
                        "SELECT payload FROM activity.outbox"
                        " WHERE subject LIKE 'activity.%' AND headers->>'learnflow-tenant' = :t"
                    ),
                    {"t": self.tenant_id},
                )
            ).all()
        found = []
        for (payload,) in rows:
            msg = events_pb2.ActivityEventRecorded.FromString(payload)
            found.append(msg.event.event_id)
        return found

    async def expected(self) -> set[str]:
        """The events the LMS's current rows must have produced: a pure function of the final states."""
        reader = LmsReader(self.urls.reader, pool_size=1)
        try:
            want: set[str] = set()
            for source in SOURCES:
                rows: list[LmsAttempt] = []
                after = None
                while True:
                    page = await reader.read(source, after, datetime(3000, 1, 1, tzinfo=UTC), 1000)
                    rows += page
                    if len(page) < 1000:
                        break
                    after = (page[-1].updated_at, page[-1].id)
                for r in rows:
                    want |= {event_id(self.name, source, r.id, s) for s in decide(r, "").emit}
            return want
        finally:
            await reader.dispose()
