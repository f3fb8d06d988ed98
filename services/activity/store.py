"""activity's queries (SQLAlchemy Core). Each takes the unit of work's connection (its transaction
scoped to the LMS's tenant for the tenant-owned tables: row-level security) and returns domain objects."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.activity.domain import (
    ActivityEvent,
    Cursor,
    EventFilter,
    Mentor,
    MonitorState,
    Notification,
    Tracked,
)
from services.activity.tables import attempts, cursors, events, monitor, notifications


async def get_cursor(session: AsyncConnection, lms: str, source: str) -> Cursor:
    row = (
        await session.execute(sa.select(cursors).where(cursors.c.lms == lms, cursors.c.source == source))
    ).first()
    return Cursor(source, row.updated_at, row.id) if row else Cursor(source, None, 0)


async def get_cursors(session: AsyncConnection, lms: str) -> list[Cursor]:
    rows = (
        await session.execute(sa.select(cursors).where(cursors.c.lms == lms).order_by(cursors.c.source))
    ).all()
    return [Cursor(r.source, r.updated_at, r.id) for r in rows]


async def advance_cursor(session: AsyncConnection, lms: str, cursor: Cursor) -> None:
    """Moves the cursor to `cursor` unless it is already further (a brief overlap of two pollers, or
    a re-read of the overlap window, never moves it back)."""
    stmt = pg_insert(cursors).values(
        lms=lms, source=cursor.source, updated_at=cursor.updated_at, id=cursor.id
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[cursors.c.lms, cursors.c.source],
            set_={"updated_at": stmt.excluded.updated_at, "id": stmt.excluded.id},
            where=sa.or_(
                cursors.c.updated_at.is_(None),
                sa.tuple_(cursors.c.updated_at, cursors.c.id)
                < sa.tuple_(stmt.excluded.updated_at, stmt.excluded.id),
            ),
        )
    )


async def tracked(session: AsyncConnection, lms: str, source: str, ids: list[int]) -> dict[int, Tracked]:
    """The attempts' state-machine rows (read under lock_source)."""
    if not ids:
        return {}
    rows = (
        await session.execute(
            sa.select(attempts).where(
                attempts.c.lms == lms,
                attempts.c.source == source,
                attempts.c.attempt_id.in_(sorted(set(ids))),
            )
        )
    ).all()
    return {
        r.attempt_id: Tracked(r.source, r.attempt_id, r.state, r.lms_state, r.lms_updated_at, r.rejected)
        for r in rows
    }


async def lock_source(session: AsyncConnection, lms: str, source: str) -> None:
    """Serialises the appliers of one LMS table for the transaction: two pollers briefly overlapping
    (a singleton lease changing hands) decide one after the other, so the second sees the first's
    states and emits nothing twice."""
    await session.execute(
        sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(f"activity:{lms}:{source}")))
    )


async def save_tracked(session: AsyncConnection, lms: str, rows: list[Tracked]) -> None:
    if not rows:
        return
    stmt = pg_insert(attempts).values(
        [
            {
                "lms": lms,
                "source": t.source,
                "attempt_id": t.attempt_id,
                "state": t.state,
                "lms_state": t.lms_state,
                "lms_updated_at": t.lms_updated_at,
                "rejected": t.rejected,
            }
            for t in rows
        ]
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[attempts.c.lms, attempts.c.source, attempts.c.attempt_id],
            set_={
                "state": stmt.excluded.state,
                "lms_state": stmt.excluded.lms_state,
                "lms_updated_at": stmt.excluded.lms_updated_at,
                "rejected": stmt.excluded.rejected,
            },
        )
    )


def _mentors_json(mentors: tuple[Mentor, ...]) -> list[dict[str, Any]]:
    return [{"id": m.id, "name": m.name, "email": m.email} for m in mentors]


def _event(r: Any) -> ActivityEvent:
    return ActivityEvent(
        event_id=str(r.event_id),
        tenant_id=str(r.tenant_id),
        event_type=r.event_type,
        source=r.source,
        attempt_id=r.attempt_id,
        student_id=r.student_id,
        student_name=r.student_name,
        student_email=r.student_email,
        activity_id=r.activity_id,
        activity_title=r.activity_title,
        occurred_at=r.occurred_at,
        mentors=tuple(Mentor(m["id"], m["name"], m["email"]) for m in r.mentors),
        metadata=dict(r.metadata),
        statement=dict(r.statement),
        user_id=r.user_id,
        processed_for_ai=r.processed_for_ai,
        sequence=r.sequence,
        created_at=r.created_at,
    )


async def insert_events(session: AsyncConnection, new: list[ActivityEvent]) -> list[ActivityEvent]:
    """Stores the events whose id is new; returns only those (an event stored before, by an earlier
    read or another poller, is not returned, so it is not published twice)."""
    if not new:
        return []
    rows = (
        await session.execute(
            pg_insert(events)
            .values(
                [
                    {
                        "event_id": uuid.UUID(e.event_id),
                        "tenant_id": uuid.UUID(e.tenant_id),
                        "event_type": e.event_type,
                        "source": e.source,
                        "attempt_id": e.attempt_id,
                        "student_id": e.student_id,
                        "student_name": e.student_name,
                        "student_email": e.student_email,
                        "activity_id": e.activity_id,
                        "activity_title": e.activity_title,
                        "occurred_at": e.occurred_at,
                        "mentors": _mentors_json(e.mentors),
                        "metadata": e.metadata,
                        "statement": e.statement,
                        "user_id": e.user_id,
                    }
                    for e in new
                ]
            )
            .on_conflict_do_nothing(index_elements=[events.c.event_id])
            .returning(*events.c)
        )
    ).all()
    by_id = {str(r.event_id): _event(r) for r in rows}
    return [by_id[e.event_id] for e in new if e.event_id in by_id]


async def record_poll(
    session: AsyncConnection,
    lms: str,
    *,
    at: datetime,
    watermark: datetime | None,
    guarded: bool,
    skipped: int,
    rejected: int,
    unmatched: list[str],
) -> None:
    stmt = pg_insert(monitor).values(
        lms=lms,
        last_poll_at=at,
        watermark=watermark,
        last_error="",
        late_commit_guard=guarded,
        skipped=skipped,
        rejected=rejected,
        unmatched=unmatched,
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[monitor.c.lms],
            set_={
                "last_poll_at": stmt.excluded.last_poll_at,
                "watermark": sa.func.coalesce(stmt.excluded.watermark, monitor.c.watermark),
                "last_error": "",
                "late_commit_guard": stmt.excluded.late_commit_guard,
                "skipped": monitor.c.skipped + stmt.excluded.skipped,
                "rejected": monitor.c.rejected + stmt.excluded.rejected,
                "unmatched": stmt.excluded.unmatched,
            },
        )
    )


async def record_error(session: AsyncConnection, lms: str, at: datetime, error: str) -> None:
    stmt = pg_insert(monitor).values(lms=lms, last_poll_at=at, last_error=error[:2000])
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[monitor.c.lms],
            set_={"last_poll_at": stmt.excluded.last_poll_at, "last_error": stmt.excluded.last_error},
        )
    )


async def monitor_row(session: AsyncConnection, lms: str) -> MonitorState:
    row = (await session.execute(sa.select(monitor).where(monitor.c.lms == lms))).first()
    if row is None:
        return MonitorState()
    return MonitorState(
        last_poll_at=row.last_poll_at,
        watermark=row.watermark,
        last_error=row.last_error,
        late_commit_guard=row.late_commit_guard,
        skipped=int(row.skipped),
        rejected=int(row.rejected),
        unmatched=tuple(row.unmatched),
    )


async def events_by_type(session: AsyncConnection) -> dict[str, int]:
    rows = (
        await session.execute(sa.select(events.c.event_type, sa.func.count()).group_by(events.c.event_type))
    ).all()
    return {r[0]: int(r[1]) for r in rows}


async def list_events(
    session: AsyncConnection, f: EventFilter, *, limit: int, after_sequence: int
) -> list[ActivityEvent]:
    """In storage order (sequence), after `after_sequence`."""
    q = sa.select(events).where(events.c.sequence > after_sequence)
    if f.student_id is not None:
        q = q.where(events.c.student_id == f.student_id)
    if f.event_type:
        q = q.where(events.c.event_type == f.event_type)
    if f.since is not None:
        q = q.where(events.c.occurred_at >= f.since)
    if f.until is not None:
        q = q.where(events.c.occurred_at < f.until)
    rows = (await session.execute(q.order_by(events.c.sequence).limit(limit))).all()
    return [_event(r) for r in rows]


async def lease_batch(
    session: AsyncConnection, lease_id: str, size: int, until: datetime, now: datetime
) -> list[ActivityEvent]:
    """Leases up to `size` unprocessed events not under a live lease, oldest first; rows another
    consumer is leasing this instant are skipped, not waited for."""
    free = (
        sa.select(events.c.event_id)
        .where(
            events.c.processed_for_ai.is_(False),
            sa.or_(events.c.lease_expires_at.is_(None), events.c.lease_expires_at <= now),
        )
        .order_by(events.c.sequence)
        .limit(size)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    rows = (
        await session.execute(
            sa.update(events)
            .where(events.c.event_id.in_(free))
            .values(lease_id=uuid.UUID(lease_id), lease_expires_at=until)
            .returning(*events.c)
        )
    ).all()
    return sorted((_event(r) for r in rows), key=lambda e: e.sequence)


async def ack_lease(session: AsyncConnection, lease_id: str, now: datetime) -> int | None:
    """Marks the lease's events processed; None when the lease is unknown or has expired (its events
    may be leased to another consumer already)."""
    live = (
        await session.execute(
            sa.select(sa.func.count())
            .select_from(events)
            .where(events.c.lease_id == uuid.UUID(lease_id), events.c.lease_expires_at > now)
        )
    ).scalar_one()
    if not live:
        return None
    result = await session.execute(
        sa.update(events)
        .where(events.c.lease_id == uuid.UUID(lease_id), events.c.lease_expires_at > now)
        .values(processed_for_ai=True, lease_id=None, lease_expires_at=None)
    )
    return int(result.rowcount)


async def replay(session: AsyncConnection, first: int, last: int) -> int:
    """Offers the events of sequences first..last to the export again."""
    result = await session.execute(
        sa.update(events)
        .where(events.c.sequence.between(first, last))
        .values(processed_for_ai=False, lease_id=None, lease_expires_at=None)
    )
    return int(result.rowcount)


async def audit_buckets(
    session: AsyncConnection, lms: str, source: str, upper: datetime
) -> dict[tuple[datetime, str], tuple[int, int]]:
    """Our side of the completeness audit: as LmsReader.buckets, over what we last read of each row."""
    rows = (
        await session.execute(
            sa.text(
                """
                SELECT date_trunc('day', lms_updated_at AT TIME ZONE 'UTC') AS day, lms_state AS state,
                       count(*) AS n,
                       sum(('x' || substr(md5(attempt_id::text || ':' || lms_state), 1, 8))
                           ::bit(32)::int::bigint) AS h
                FROM activity.attempts
                WHERE lms = :lms AND source = :source AND lms_updated_at < :upper AND lms_state <> ''
                GROUP BY 1, 2
                """
            ),
            {"lms": lms, "source": source, "upper": upper},
        )
    ).all()
    return {(r.day, r.state): (int(r.n), int(r.h or 0)) for r in rows}


async def log_notifications(session: AsyncConnection, tenant_id: str, rows: list[Notification]) -> None:
    """One row per event and mentor; a redelivered event overwrites its rows with the same answer
    (notify returns the first delivery for the same idempotency key)."""
    if not rows:
        return
    stmt = pg_insert(notifications).values(
        [
            {
                "event_id": uuid.UUID(n.event_id),
                "mentor_id": n.mentor_id,
                "tenant_id": uuid.UUID(tenant_id),
                "channel": n.channel,
                "sent": n.sent,
                "message_id": n.message_id,
                "error": n.error[:2000],
            }
            for n in rows
        ]
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[notifications.c.event_id, notifications.c.mentor_id],
            set_={
                "channel": stmt.excluded.channel,
                "sent": stmt.excluded.sent,
                "message_id": stmt.excluded.message_id,
                "error": stmt.excluded.error,
                "processed_at": sa.func.now(),
            },
        )
    )


async def list_notifications(session: AsyncConnection, event_ids: list[str]) -> list[Notification]:
    rows = (
        await session.execute(
            sa.select(notifications)
            .where(notifications.c.event_id.in_([uuid.UUID(e) for e in event_ids]))
            .order_by(notifications.c.event_id, notifications.c.mentor_id)
        )
    ).all()
    return [
        Notification(str(r.event_id), r.mentor_id, r.channel, r.sent, r.message_id, r.error, r.processed_at)
        for r in rows
    ]
