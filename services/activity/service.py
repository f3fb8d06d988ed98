"""activity's use cases over the stored events: the tenant's history, the AI export queue (leases,
acknowledgement, replay) and the monitor's status. Each opens one unit of work and returns domain
objects. The monitor (monitor.py) writes the events."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.activity import domain, store
from services.activity.domain import ActivityEvent, EventFilter, MonitorState, MonitorStatus, Notification
from services.activity.monitor import watermark_age
from services.activity.settings import ActivityConfig
from services.runtime import audit, pagination
from services.runtime.db import Database
from services.runtime.errors import FailedPrecondition, Violations
from services.runtime.events.outbox import Outbox
from services.runtime.request_context import Principal

DEFAULT_LEASE_SECONDS = 60


class ActivityService:
    def __init__(self, db: Database, outbox: Outbox, config: ActivityConfig):
        self.db = db
        self.outbox = outbox
        self.config = config

    async def list_events(
        self, caller: Principal, f: EventFilter, page_size: int, page_token: str
    ) -> tuple[list[ActivityEvent], str]:
        domain.check_filter(f)
        size = pagination.page_size(
            page_size, default=self.config.default_page_size, maximum=domain.MAX_PAGE_SIZE
        )
        position = pagination.decode_token(page_token, s=int)
        after = position["s"] if position else 0
        async with self.db.transaction(caller.tenant_id) as session:
            found = await store.list_events(session, f, limit=size + 1, after_sequence=after)
            logged = await store.list_notifications(session, [e.event_id for e in found[:size]])
        token = pagination.encode_token({"s": found[size - 1].sequence}) if len(found) > size else ""
        by_event: dict[str, list[Notification]] = {}
        for n in logged:
            by_event.setdefault(n.event_id, []).append(n)
        return [replace(e, notifications=tuple(by_event.get(e.event_id, ()))) for e in found[:size]], token

    async def export(
        self, caller: Principal, batch_size: int, lease_seconds: int, consumer: str = ""
    ) -> tuple[str, datetime | None, list[ActivityEvent]]:
        now = datetime.now(UTC)
        until = now + timedelta(seconds=lease_seconds or DEFAULT_LEASE_SECONDS)
        lease_id = str(uuid.uuid4())
        async with self.db.transaction(caller.tenant_id) as session:
            found = await store.lease_batch(
                session, lease_id, max(1, min(batch_size, 1000)), until, now, consumer or caller.subject
            )
        if not found:
            return "", None, []
        return lease_id, until, found

    async def ack(self, caller: Principal, lease_id: str) -> int:
        async with self.db.transaction(caller.tenant_id) as session:
            done = await store.ack_lease(session, lease_id, datetime.now(UTC))
        if done is None:
            raise FailedPrecondition(
                f"lease {lease_id} is unknown or has expired; its events are offered again",
                reason="LEASE_EXPIRED",
            )
        return done

    async def replay(self, caller: Principal, first: int, last: int, reason: str = "") -> int:
        v = Violations()
        if first < 1:
            v.add("first_sequence", "must be at least 1")
        if last < first:
            v.add("last_sequence", "must not be below first_sequence")
        v.raise_if_any()
        async with self.db.transaction(caller.tenant_id) as session:
            replayed = await store.replay(session, first, last)
            # Every processed_for_ai it clears is an update to the tenant's events: recorded.
            await audit.record(
                self.outbox,
                session,
                "events.replayed",
                f"activity/events/{first}-{last}",
                after={"first_sequence": first, "last_sequence": last, "replayed": replayed},
                reason=reason,
            )
        return replayed

    async def status(self, caller: Principal) -> MonitorStatus:
        """The monitor's state is the LMS tenant's (its cursors, errors and unmatched emails): another
        tenant's admin sees a monitor that is not theirs as disabled and empty."""
        name = self.config.lms_name
        mine = caller.tenant_id == self.config.lms_tenant_id
        async with self.db.transaction(caller.tenant_id) as session:
            row = await store.monitor_row(session, name) if mine else MonitorState()
            cursors = await store.get_cursors(session, name) if mine else []
            by_type = await store.events_by_type(session)
        return MonitorStatus(
            enabled=self.config.monitor_enabled and mine,
            last_poll_at=row.last_poll_at,
            last_error=row.last_error,
            cursors=tuple(cursors),
            watermark_age_seconds=watermark_age(datetime.now(UTC), row.watermark),
            events_by_type=by_type,
            rejected=int(row.rejected),
            skipped=int(row.skipped),
            unmatched_emails=tuple(row.unmatched),
            late_commit_guard=bool(row.late_commit_guard),
        )
