"""notify's queries (SQLAlchemy Core). Each takes the unit of work's connection, whose transaction
is scoped to the caller's tenant (row-level security), and returns domain objects."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notify.domain import Delivery, Escalation, Note, QuietHours, Status, Template, notes_from_json
from services.notify.tables import addresses, deliveries, quiet_hours, templates
from services.runtime.db import columns, insert_many, run_sql

# The select lists of the statements run_sql sends (declared columns, never *: db.columns).
_TEMPLATE_COLUMNS = columns(templates)
_QUIET_HOURS_COLUMNS = columns(quiet_hours)


def _delivery(row: Any) -> Delivery:
    esc = row.escalation
    return Delivery(
        id=row.id,
        tenant_id=row.tenant_id,
        channel=row.channel,
        requested_channel=row.requested_channel,
        recipient_id=row.recipient_id,
        address=row.address,
        template=row.template,
        template_version=row.template_version,
        variables=dict(row.variables or {}),
        subject=row.subject,
        body=row.body,
        urgency=row.urgency,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        provider_message_id=row.provider_message_id,
        idempotency_key=row.idempotency_key or "",
        extra=dict(row.extra or {}),
        escalation=Escalation(int(esc["after_minutes"]), tuple(esc["channels"])) if esc else None,
        escalated_from=row.escalated_from,
        digest_id=row.digest_id,
        created_by=row.created_by,
        notes=notes_from_json(row.notes),
        created_at=row.created_at,
        updated_at=row.updated_at,
        sent_at=row.sent_at,
        read_at=row.read_at,
        next_attempt_at=row.next_attempt_at,
        claim_id=row.claim_id,
        claimed_until=row.claimed_until,
    )


def _values(d: Delivery, body_format: str) -> dict[str, Any]:
    return {
        "id": d.id,
        "tenant_id": d.tenant_id,
        "channel": d.channel,
        "requested_channel": d.requested_channel,
        "recipient_id": d.recipient_id,
        "address": d.address,
        "template": d.template,
        "template_version": d.template_version,
        "variables": dict(d.variables),
        "subject": d.subject,
        "body": d.body,
        "body_format": body_format,
        "urgency": d.urgency,
        "status": d.status,
        "idempotency_key": d.idempotency_key or None,
        "extra": dict(d.extra),
        "escalation": (
            {"after_minutes": d.escalation.after_minutes, "channels": list(d.escalation.channels)}
            if d.escalation
            else None
        ),
        "escalated_from": d.escalated_from,
        "digest_id": d.digest_id,
        "created_by": d.created_by,
        "notes": [n.as_json() for n in d.notes],
        "next_attempt_at": d.next_attempt_at,
    }


# The wall clock, not the transaction's start: a batch's messages keep their order in the log.
_CREATED_NOW = {"created_at": "clock_timestamp()"}


async def insert_deliveries(
    session: AsyncConnection, new: Sequence[tuple[Delivery, str]]
) -> list[tuple[Delivery, bool]]:
    """Inserts (delivery, body format) rows; a delivery whose idempotency key this tenant has used
    already is not inserted, and the existing one comes back instead: (delivery, created?)."""
    if not new:
        return []
    inserted = await insert_many(
        session,
        deliveries,
        [_values(d, body_format) for d, body_format in new],
        computed=_CREATED_NOW,
        on_conflict="ON CONFLICT ON CONSTRAINT uq_deliveries_idempotency DO NOTHING",
    )
    created = {row.id: _delivery(row) for row in inserted}
    taken = [d.idempotency_key for d, _ in new if d.id not in created]
    existing: dict[str, Delivery] = {}
    if taken:  # keys used before (or twice in this batch): the deliveries that hold them
        rows = await session.execute(
            sa.select(deliveries).where(
                deliveries.c.tenant_id == new[0][0].tenant_id, deliveries.c.idempotency_key.in_(taken)
            )
        )
        existing = {row.idempotency_key: _delivery(row) for row in rows}
    out: list[tuple[Delivery, bool]] = []
    for d, _ in new:
        if d.id in created:
            out.append((created[d.id], True))
        else:
            out.append((existing[d.idempotency_key], False))
    return out


async def get_delivery(
    session: AsyncConnection, delivery_id: uuid.UUID, *, lock: bool = False
) -> Delivery | None:
    query = sa.select(deliveries).where(deliveries.c.id == delivery_id)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return _delivery(row) if row else None


async def lock_deliveries(
    session: AsyncConnection, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[Delivery, float]]:
    """The deliveries with these ids, locked (FOR UPDATE), each with the seconds its claim still
    holds by the database's clock (<= 0: expired or no claim). One statement for a batch."""
    rows = await run_sql(
        session,
        f"SELECT {columns(deliveries, 'd')}, "  # noqa: S608 (declared columns)
        "coalesce(extract(epoch FROM d.claimed_until - now()), 0) AS claim_remaining "
        "FROM notify.deliveries d WHERE d.id = ANY(%(ids)b::uuid[]) FOR UPDATE OF d",
        {"ids": list(ids)},
    )
    return {row.id: (_delivery(row), float(row.claim_remaining)) for row in rows}


# Multi-row statements (one round trip for a batch): the rows as parallel arrays through unnest,
# sent by psycopg itself (run_sql: every delivery runs them).
_CLAIM_SQL = (
    "UPDATE notify.deliveries AS d SET claim_id = v.claim, "
    "claimed_until = now() + make_interval(secs => %(lease)s), attempts = d.attempts + 1, "
    "address = v.address, updated_at = now() "
    "FROM unnest(%(ids)b::uuid[], %(claims)b::uuid[], %(addresses)b::text[]) "
    "AS v(id, claim, address) WHERE d.id = v.id RETURNING d.id, d.attempts, d.claim_id, d.claimed_until"
)
_RELEASE_SQL = (
    "UPDATE notify.deliveries AS d SET claim_id = NULL, claimed_until = NULL "
    "FROM unnest(%(ids)b::uuid[], %(claims)b::uuid[]) AS v(id, claim) "
    "WHERE d.id = v.id AND d.claim_id = v.claim RETURNING d.id"
)
_SENT_SQL = (
    "UPDATE notify.deliveries AS d SET status = 'sent', attempts = v.attempts, address = v.address, "
    "provider_message_id = v.provider_id, sent_at = %(sent_at)s, next_attempt_at = NULL, last_error = '', "
    "updated_at = now() "
    "FROM unnest(%(ids)b::uuid[], %(attempts)b::int[], %(addresses)b::text[], "
    "%(provider_ids)b::text[]) AS v(id, attempts, address, provider_id) "
    "WHERE d.id = v.id AND d.status IN ('pending', 'retrying') AND d.claim_id IS NULL "
    "RETURNING d.id, d.sent_at, d.updated_at"
)


async def claim_deliveries(
    session: AsyncConnection,
    claims: Sequence[tuple[Delivery, uuid.UUID]],
    lease_seconds: float,
) -> list[Delivery]:
    """Marks (delivery, claim id) as a send in flight for `lease_seconds` with the delivery's
    (resolved) address, counting the attempt; returns the deliveries as claimed. Only the columns
    the claim changed come back (a batch's full rows cost more to decode than the statement)."""
    if not claims:
        return []
    by_id = {d.id: d for d, _ in claims}
    params = {
        "ids": [d.id for d, _ in claims],
        "claims": [c for _, c in claims],
        "addresses": [d.address for d, _ in claims],
        "lease": lease_seconds,
    }
    return [
        replace(by_id[r.id], attempts=r.attempts, claim_id=r.claim_id, claimed_until=r.claimed_until)
        for r in await run_sql(session, _CLAIM_SQL, params)
    ]


async def release_claims(
    session: AsyncConnection, claims: Sequence[tuple[uuid.UUID, uuid.UUID]]
) -> set[uuid.UUID]:
    """Clears the claims (delivery id, claim id) that still hold these ids (locking their rows);
    returns the deliveries whose claim was still ours. A claim resolved meanwhile by someone else
    (its lease expired) is not: its outcome is theirs to record."""
    if not claims:
        return set()
    params = {"ids": [c[0] for c in claims], "claims": [c[1] for c in claims]}
    return {r.id for r in await run_sql(session, _RELEASE_SQL, params)}


async def mark_sent_many(
    session: AsyncConnection, sent: Sequence[tuple[Delivery, int, str]], sent_at: datetime
) -> list[Delivery]:
    """(delivery, attempts, provider message id) → sent, in one statement; only deliveries still
    pending or retrying with no claim in flight (a second job for one delivery changes nothing).
    Returns them as now stored (built from what was given and the timestamps written)."""
    if not sent:
        return []
    by_id = {d.id: (d, n, pid) for d, n, pid in sent}
    params = {
        "ids": [d.id for d, _, _ in sent],
        "attempts": [n for _, n, _ in sent],
        "addresses": [d.address for d, _, _ in sent],
        "provider_ids": [pid for _, _, pid in sent],
        "sent_at": sent_at,
    }
    out = []
    for r in await run_sql(session, _SENT_SQL, params):
        d, n, pid = by_id[r.id]
        out.append(
            replace(
                d,
                status="sent",
                attempts=n,
                provider_message_id=pid,
                sent_at=r.sent_at,
                updated_at=r.updated_at,
                next_attempt_at=None,
                last_error="",
                claim_id=None,
                claimed_until=None,
            )
        )
    return out


async def body_format_of(session: AsyncConnection, delivery_id: uuid.UUID) -> str:
    return str(
        (
            await session.execute(sa.select(deliveries.c.body_format).where(deliveries.c.id == delivery_id))
        ).scalar_one()
    )


async def update_delivery(
    session: AsyncConnection,
    delivery_id: uuid.UUID,
    *,
    note: Note | None = None,
    **changes: Any,
) -> Delivery:
    """Sets `changes` (column values), appends `note` to the delivery's notes, returns it."""
    values: dict[str, Any] = {**changes, "updated_at": sa.func.now()}
    if note is not None:
        # Appended in SQL (no read-modify-write): the note as a one-element JSONB array.
        values["notes"] = deliveries.c.notes.op("||")(sa.literal([note.as_json()], type_=JSONB))
    row = (
        await session.execute(
            sa.update(deliveries)
            .where(deliveries.c.id == delivery_id)
            .values(**values)
            .returning(*deliveries.c)
        )
    ).one()
    return _delivery(row)


async def list_deliveries(
    session: AsyncConnection,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
    status: Status | None = None,
    channel: str = "",
    recipient_id: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    created_by: str | None = None,
) -> list[Delivery]:
    """Newest first; `after` is the (created_at, id) of the last delivery of the previous page."""
    c = deliveries.c
    query = sa.select(deliveries).order_by(c.created_at.desc(), c.id.desc()).limit(limit)
    if after is not None:
        query = query.where(
            sa.tuple_(c.created_at, c.id) < sa.tuple_(sa.literal(after[0]), sa.literal(after[1]))
        )
    if status:
        query = query.where(c.status == status)
    if channel:
        query = query.where(c.channel == channel)
    if recipient_id:
        query = query.where(c.recipient_id == recipient_id)
    if since is not None:
        query = query.where(c.created_at >= since)
    if until is not None:
        query = query.where(c.created_at < until)
    if created_by is not None:
        query = query.where(c.created_by == created_by)
    return [_delivery(r) for r in (await session.execute(query)).all()]


async def list_inbox(
    session: AsyncConnection,
    recipient_id: str,
    channel: str,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
    unread_only: bool,
) -> list[Delivery]:
    """A user's delivered in-app messages, newest first."""
    c = deliveries.c
    query = (
        sa.select(deliveries)
        .where(c.recipient_id == recipient_id, c.channel == channel, c.status.in_(("sent", "read")))
        .order_by(c.created_at.desc(), c.id.desc())
        .limit(limit)
    )
    if unread_only:
        query = query.where(c.read_at.is_(None))
    if after is not None:
        query = query.where(
            sa.tuple_(c.created_at, c.id) < sa.tuple_(sa.literal(after[0]), sa.literal(after[1]))
        )
    return [_delivery(r) for r in (await session.execute(query)).all()]


async def held(session: AsyncConnection, recipient_id: str, channel: str, due: datetime) -> list[Delivery]:
    """Deliveries quiet hours hold for this recipient and channel whose window has ended, oldest first."""
    c = deliveries.c
    query = (
        sa.select(deliveries)
        .where(
            c.recipient_id == recipient_id,
            c.channel == channel,
            c.status == "deferred",
            c.next_attempt_at <= due,
        )
        .order_by(c.created_at, c.id)
        .with_for_update()
    )
    return [_delivery(r) for r in (await session.execute(query)).all()]


# --- templates ---------------------------------------------------------------------------------


def _template(row: Any) -> Template:
    return Template(
        tenant_id=row.tenant_id,
        name=row.name,
        version=row.version,
        subject=row.subject,
        body=row.body,
        created_by=row.created_by,
        created_at=row.created_at,
    )


async def add_template(
    session: AsyncConnection, tenant_id: uuid.UUID, name: str, subject: str, body: str, created_by: str
) -> Template:
    # Serialise versions of one name: a transaction-scoped advisory lock on (tenant, name), so two
    # saves at once get versions n+1 and n+2 instead of one failing on the primary key.
    await session.execute(
        sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
        {"k": f"notify-template:{tenant_id}:{name}"},
    )
    latest = (
        await session.execute(
            sa.select(sa.func.coalesce(sa.func.max(templates.c.version), 0)).where(templates.c.name == name)
        )
    ).scalar_one()
    row = (
        await session.execute(
            sa.insert(templates)
            .values(
                tenant_id=tenant_id,
                name=name,
                version=int(latest) + 1,
                subject=subject,
                body=body,
                created_by=created_by,
            )
            .returning(*templates.c)
        )
    ).one()
    return _template(row)


async def get_template(session: AsyncConnection, name: str, version: int = 0) -> Template | None:
    rows = await run_sql(
        session,
        f"SELECT {_TEMPLATE_COLUMNS} FROM notify.templates "  # noqa: S608 (declared columns)
        + (
            "WHERE name = %(name)s AND version = %(version)s"
            if version
            else "WHERE name = %(name)s ORDER BY version DESC LIMIT 1"
        ),
        {"name": name, "version": version},
    )
    return _template(rows[0]) if rows else None


# --- addresses ---------------------------------------------------------------------------------


async def cached_address(
    session: AsyncConnection, user_id: str, channel: str, fresh_after: datetime
) -> tuple[bool, str | None]:
    """(found, address) from the cache; found is False when absent or older than `fresh_after`."""
    row = (
        await session.execute(
            sa.select(addresses.c.address).where(
                addresses.c.user_id == user_id,
                addresses.c.channel == channel,
                addresses.c.resolved_at >= fresh_after,
            )
        )
    ).first()
    return (True, row.address) if row else (False, None)


async def cached_addresses(
    session: AsyncConnection, wanted: Sequence[tuple[str, str]], fresh_after: datetime
) -> dict[tuple[str, str], str | None]:
    """cached_address for several (user_id, channel) pairs in one statement: the pairs found fresh."""
    if not wanted:
        return {}
    pairs = sorted(set(wanted))
    rows = await run_sql(
        session,
        "SELECT user_id, channel, address FROM notify.addresses WHERE (user_id, channel) IN "
        "(SELECT * FROM unnest(%(users)b::text[], %(channels)b::text[])) AND resolved_at >= %(after)s",
        {"users": [u for u, _ in pairs], "channels": [c for _, c in pairs], "after": fresh_after},
    )
    return {(r.user_id, r.channel): r.address for r in rows}


async def put_address(
    session: AsyncConnection, tenant_id: uuid.UUID, user_id: str, channel: str, address: str | None
) -> None:
    statement = pg_insert(addresses).values(
        tenant_id=tenant_id, user_id=user_id, channel=channel, address=address
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["tenant_id", "user_id", "channel"],
            set_={"address": statement.excluded.address, "resolved_at": sa.func.now()},
        )
    )


# --- quiet hours -------------------------------------------------------------------------------


async def get_quiet_hours(session: AsyncConnection, user_id: str) -> QuietHours | None:
    row = (await session.execute(sa.select(quiet_hours).where(quiet_hours.c.user_id == user_id))).first()
    if row is None:
        return None
    return QuietHours(row.user_id, row.start_time, row.end_time, row.time_zone, row.enabled)


async def quiet_hours_of(session: AsyncConnection, user_ids: Sequence[str]) -> Mapping[str, QuietHours]:
    if not user_ids:
        return {}
    rows = await run_sql(
        session,
        f"SELECT {_QUIET_HOURS_COLUMNS} FROM notify.quiet_hours "  # noqa: S608 (declared columns)
        "WHERE user_id = ANY(%(ids)b::text[])",
        {"ids": list(user_ids)},
    )
    return {r.user_id: QuietHours(r.user_id, r.start_time, r.end_time, r.time_zone, r.enabled) for r in rows}


async def put_quiet_hours(session: AsyncConnection, tenant_id: uuid.UUID, hours: QuietHours) -> QuietHours:
    values = {
        "tenant_id": tenant_id,
        "user_id": hours.user_id,
        "start_time": hours.start,
        "end_time": hours.end,
        "time_zone": hours.time_zone,
        "enabled": hours.enabled,
    }
    statement = pg_insert(quiet_hours).values(**values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["tenant_id", "user_id"],
            set_={k: statement.excluded[k] for k in ("start_time", "end_time", "time_zone", "enabled")}
            | {"updated_at": sa.func.now()},
        )
    )
    return hours
