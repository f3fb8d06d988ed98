"""activity's queries (SQLAlchemy Core). Each takes the unit of work's connection (its transaction
scoped to the LMS's tenant for the tenant-owned tables: row-level security) and returns domain objects."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
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
    """Upserts the attempts' rows, the page as one jsonb parameter (see insert_events)."""
    if not rows:
        return
    payload = [
        {
            "source": t.source,
            "attempt_id": t.attempt_id,
            "state": t.state,
            "lms_state": t.lms_state,
            "lms_updated_at": t.lms_updated_at.isoformat(),
            "rejected": t.rejected,
        }
        for t in rows
    ]
    await session.execute(
        sa.text(
            """
            INSERT INTO activity.attempts
                (lms, source, attempt_id, state, lms_state, lms_updated_at, rejected)
            SELECT :lms, source, attempt_id, state, lms_state, lms_updated_at, rejected
            FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(source text, attempt_id bigint, state text,
                lms_state text, lms_updated_at timestamptz, rejected text)
            ON CONFLICT (lms, source, attempt_id) DO UPDATE SET state = excluded.state,
                lms_state = excluded.lms_state, lms_updated_at = excluded.lms_updated_at,
                rejected = excluded.rejected
            """
        ),
        {"lms": lms, "rows": json.dumps(payload)},
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
    """Stores the events whose id is new; returns only those, with their sequence (an event stored
    before, by an earlier read or another poller, is not returned, so it is not published twice).
    The page travels as ONE jsonb parameter (jsonb_to_recordset): a catch-up page of thousands of
    events is one short statement, not thousands of bound parameters for the driver to parse."""
    if not new:
        return []
    payload = [
        {
            "event_id": e.event_id,
            "tenant_id": e.tenant_id,
            "event_type": e.event_type,
            "source": e.source,
            "attempt_id": e.attempt_id,
            "student_id": e.student_id,
            "student_name": e.student_name,
            "student_email": e.student_email,
            "activity_id": e.activity_id,
            "activity_title": e.activity_title,
            "occurred_at": e.occurred_at.isoformat(),
            "mentors": _mentors_json(e.mentors),
            "metadata": e.metadata,
            "statement": e.statement,
            "user_id": e.user_id,
        }
        for e in new
    ]
    rows = (
        await session.execute(
            sa.text(
                """
                INSERT INTO activity.events (event_id, tenant_id, event_type, source, attempt_id, student_id,
                    student_name, student_email, activity_id, activity_title, occurred_at, mentors, metadata,
                    statement, user_id)
                SELECT event_id, tenant_id, event_type, source, attempt_id, student_id, student_name,
                       student_email, activity_id, activity_title, occurred_at, mentors, metadata, statement,
                       user_id
                FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(event_id uuid, tenant_id uuid,
                    event_type text, source text, attempt_id bigint, student_id bigint, student_name text,
                    student_email text,
                    activity_id bigint, activity_title text, occurred_at timestamptz, mentors jsonb,
                    metadata jsonb, statement jsonb, user_id text)
                ON CONFLICT (event_id) DO NOTHING
                RETURNING event_id, sequence, created_at
                """
            ),
            {"rows": json.dumps(payload, default=str)},
        )
    ).all()
    made = {str(r.event_id): (r.sequence, r.created_at) for r in rows}
    return [
        replace(e, sequence=made[e.event_id][0], created_at=made[e.event_id][1])
        for e in new
        if e.event_id in made
    ]


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
    session: AsyncConnection, lease_id: str, size: int, until: datetime, now: datetime, holder: str = ""
) -> list[ActivityEvent]:
    """Leases up to `size` unprocessed events not under a live lease, oldest first; rows another
    consumer is leasing this instant are skipped, not waited for."""
    # Two statements on purpose: an UPDATE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)
    # may run the sub-select more than once and lease more than n rows.
    free = (
        (
            await session.execute(
                sa.select(events.c.event_id)
                .where(
                    events.c.processed_for_ai.is_(False),
                    sa.or_(events.c.lease_expires_at.is_(None), events.c.lease_expires_at <= now),
                )
                .order_by(events.c.sequence)
                .limit(size)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    if not free:
        return []
    rows = (
        await session.execute(
            sa.update(events)
            .where(events.c.event_id.in_(free))
            .values(lease_id=uuid.UUID(lease_id), lease_expires_at=until, lease_holder=holder)
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
        .values(processed_for_ai=True, lease_id=None, lease_expires_at=None, lease_holder="")
    )
    return int(result.rowcount)


async def replay(session: AsyncConnection, first: int, last: int) -> int:
    """Offers the events of sequences first..last to the export again."""
    result = await session.execute(
        sa.update(events)
        .where(events.c.sequence.between(first, last))
        .values(processed_for_ai=False, lease_id=None, lease_expires_at=None, lease_holder="")
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


async def stage_outbox(session: AsyncConnection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Outbox rows as Outbox.stage writes them (payload base64 here), the page as one jsonb parameter."""
    target = f"{table.schema}.{table.name}"
    await session.execute(
        sa.text(
            f"""
            INSERT INTO {target} (event_id, subject, event_type, payload, headers)
            SELECT event_id, subject, event_type, decode(payload, 'base64'), headers
            FROM jsonb_to_recordset(CAST(:rows AS jsonb))
                AS r(event_id text, subject text, event_type text, payload text, headers jsonb)
            """  # noqa: S608 - the outbox table's own name
        ),
        {"rows": json.dumps(rows)},
    )
