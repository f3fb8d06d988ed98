"""audit's queries (SQLAlchemy Core). Each takes the unit of work's connection, whose transaction
is scoped to one tenant (row-level security), and returns domain objects."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.audit.domain import AuditRecord, ChainHead, Checkpoint, LinkRow, RecordFilter
from services.audit.tables import checkpoints, records, tenants
from services.runtime.db import parse_uuid, run_sql

# Every column but recorded_at, in AuditRecord's field order (_record builds from position).
_RECORD_COLUMNS = (
    records.c.id,
    records.c.tenant_id,
    records.c.sequence,
    records.c.context,
    records.c.action,
    records.c.resource,
    records.c.actor,
    records.c.actor_kind,
    records.c.correlation_id,
    records.c.occurred_at,
    records.c.before_json,
    records.c.after_json,
    records.c.reason,
    records.c.rpc,
    records.c.previous_hash,
    records.c.hash,
)


def _record(row: Any) -> AuditRecord:
    return AuditRecord(str(row[0]), str(row[1]), *row[2:])


def _checkpoint(row: Any) -> Checkpoint:
    return Checkpoint(
        id=str(row.id),
        tenant_id=str(row.tenant_id),
        sequence=row.sequence,
        hash=row.hash,
        signed_at=row.signed_at,
        algorithm=row.algorithm,
        key_id=row.key_id,
        public_key=row.public_key,
        signature=row.signature,
    )


# --- appending -------------------------------------------------------------------------------------


async def lock_head(session: AsyncConnection, tenant_id: str) -> tuple[ChainHead, bool]:
    """The tenant's chain head, locked until the transaction ends (so concurrent appenders take
    turns), created at sequence 0 when the tenant has none; and whether it was just created. One
    statement: the no-op update on conflict is what locks the existing row."""
    [row] = await run_sql(
        session,
        "INSERT INTO audit.chain_heads (tenant_id, sequence, hash) VALUES (%(tenant)s, 0, %(zero)s) "
        "ON CONFLICT (tenant_id) DO UPDATE SET tenant_id = excluded.tenant_id "
        "RETURNING sequence, hash, xmax = 0 AS created",
        {"tenant": uuid.UUID(tenant_id), "zero": "0" * 64},
    )
    return ChainHead(tenant_id, row.sequence, row.hash), bool(row.created)


async def add_tenant(session: AsyncConnection, tenant_id: str) -> None:
    await session.execute(pg_insert(tenants).values(id=uuid.UUID(tenant_id)).on_conflict_do_nothing())


async def known_ids(session: AsyncConnection, ids: list[str]) -> set[str]:
    """Which of these event ids are already records (of any tenant the transaction may see)."""
    wanted = [u for u in (parse_uuid(i) for i in ids) if u is not None]
    if not wanted:
        return set()
    found = await run_sql(
        session, "SELECT id FROM audit.records WHERE id = ANY(%(ids)b::uuid[])", {"ids": wanted}
    )
    return {str(r.id) for r in found}


_TEXT_COLUMNS = (
    "context",
    "action",
    "resource",
    "actor",
    "actor_kind",
    "correlation_id",
    "before_json",
    "after_json",
    "reason",
    "rpc",
    "previous_hash",
    "hash",
)
# One statement for a consumed batch's records whatever its size (a row per element of the arrays),
# sent by psycopg itself: it runs for every audited change.
_INSERT_RECORDS = (
    f"INSERT INTO audit.records (id, tenant_id, sequence, occurred_at, {', '.join(_TEXT_COLUMNS)}) "  # noqa: S608 (constant column names)
    "SELECT * FROM unnest(%(id)b::uuid[], %(tenant_id)b::uuid[], %(sequence)b::bigint[], "
    "%(occurred_at)b::timestamptz[], " + ", ".join(f"%({c})b::text[]" for c in _TEXT_COLUMNS) + ")"
)


async def insert_records(session: AsyncConnection, chained: list[AuditRecord]) -> None:
    if not chained:
        return
    params: dict[str, list[Any]] = {
        "id": [uuid.UUID(r.id) for r in chained],
        "tenant_id": [uuid.UUID(r.tenant_id) for r in chained],
        "sequence": [r.sequence for r in chained],
        "occurred_at": [r.occurred_at for r in chained],
    }
    for column in _TEXT_COLUMNS:
        params[column] = [getattr(r, column) for r in chained]
    await run_sql(session, _INSERT_RECORDS, params)


async def set_head(session: AsyncConnection, head: ChainHead) -> None:
    await run_sql(
        session,
        "UPDATE audit.chain_heads SET sequence = %(sequence)s, hash = %(hash)s, updated_at = now() "
        "WHERE tenant_id = %(tenant)s",
        {"sequence": head.sequence, "hash": head.hash, "tenant": uuid.UUID(head.tenant_id)},
    )


# --- reading ---------------------------------------------------------------------------------------


async def list_records(
    session: AsyncConnection, f: RecordFilter, *, limit: int, before_sequence: int | None
) -> list[AuditRecord]:
    """Newest first (highest sequence first); `before_sequence` is the last of the previous page."""
    query = sa.select(*_RECORD_COLUMNS).order_by(records.c.sequence.desc()).limit(limit)
    for column, value in (
        (records.c.actor, f.actor),
        (records.c.action, f.action),
        (records.c.context, f.context),
        (records.c.resource, f.resource),
    ):
        if value:
            query = query.where(column == value)
    if f.start is not None:
        query = query.where(records.c.occurred_at >= f.start)
    if f.end is not None:
        query = query.where(records.c.occurred_at < f.end)
    if before_sequence is not None:
        query = query.where(records.c.sequence < before_sequence)
    return [_record(r) for r in (await session.execute(query)).all()]


async def get_record(session: AsyncConnection, record_id: str) -> AuditRecord | None:
    found = parse_uuid(record_id)
    if found is None:
        return None
    row = (await session.execute(sa.select(*_RECORD_COLUMNS).where(records.c.id == found))).first()
    return _record(row) if row else None


async def stream_records(
    session: AsyncConnection, *, first: int, last: int | None, start: Any = None, end: Any = None
) -> AsyncIterator[AuditRecord]:
    """The transaction's tenant's records from sequence `first` to `last` (None: the head), oldest
    first, read in chunks through a server-side cursor so a million records never sit in memory;
    `start`/`end` limit them to a time range (export)."""
    query = sa.select(*_RECORD_COLUMNS).where(records.c.sequence >= first).order_by(records.c.sequence)
    if last is not None:
        query = query.where(records.c.sequence <= last)
    if start is not None:
        query = query.where(records.c.occurred_at >= start)
    if end is not None:
        query = query.where(records.c.occurred_at < end)
    result = await session.stream(query.execution_options(yield_per=10_000))
    async for chunk in result.partitions():
        for row in chunk:
            yield _record(row)


# ChainLink's columns, spelled as the chain hashes them: ids as text, the instant as domain.moment
# writes it (UTC, microseconds, "+00:00"), computed by the server, not per row in Python.
_LINK_COLUMNS = (
    sa.cast(records.c.tenant_id, sa.Text),
    records.c.sequence,
    sa.cast(records.c.id, sa.Text),
    records.c.context,
    records.c.action,
    records.c.resource,
    records.c.actor,
    records.c.actor_kind,
    records.c.correlation_id,
    sa.func.to_char(
        sa.func.timezone("UTC", records.c.occurred_at),
        sa.literal_column("""'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'"""),
    ),
    records.c.before_json,
    records.c.after_json,
    records.c.reason,
    records.c.rpc,
    records.c.previous_hash,
    records.c.hash,
)


async def chain_links(
    session: AsyncConnection, *, first: int, last: int | None
) -> AsyncGenerator[list[LinkRow], None]:
    """The transaction's tenant's records from sequence `first` to `last` (None: the end) in chain
    order, as chunks of LinkRows (plain tuples in ChainLink's order), through a server-side cursor on
    the driver's connection (the same transaction, so row-level security holds): VerifyChain reads a
    million records in seconds, which SQLAlchemy's row objects (or a NamedTuple each) would double."""
    query = sa.select(*_LINK_COLUMNS).where(records.c.sequence >= first).order_by(records.c.sequence)
    if last is not None:
        query = query.where(records.c.sequence <= last)
    # Only integers are bound, so literal binds are safe; the driver's cursor takes plain SQL.
    sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    raw = await session.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None  # an open connection inside the transaction
    async with driver.cursor(name=f"audit_chain_{uuid.uuid4().hex[:8]}") as cursor:
        await cursor.execute(sql)
        while rows := await cursor.fetchmany(20_000):
            yield rows


async def hash_at(session: AsyncConnection, sequence: int) -> str | None:
    """The stored hash of the record at `sequence`, None when there is none."""
    found = await session.execute(sa.select(records.c.hash).where(records.c.sequence == sequence))
    return found.scalar_one_or_none()


async def last_sequence(session: AsyncConnection) -> int:
    """The highest sequence present in the tenant's records (0 for none): not the chain head's row,
    which a truncation could leave pointing past the end."""
    found = await session.execute(sa.select(sa.func.coalesce(sa.func.max(records.c.sequence), 0)))
    return int(found.scalar_one())


async def tenant_ids(session: AsyncConnection) -> list[str]:
    return [str(t) for t in (await session.execute(sa.select(tenants.c.id).order_by(tenants.c.id))).scalars()]


async def insert_checkpoint(session: AsyncConnection, cp: Checkpoint) -> None:
    await session.execute(
        sa.insert(checkpoints).values(
            id=uuid.UUID(cp.id),
            tenant_id=uuid.UUID(cp.tenant_id),
            sequence=cp.sequence,
            hash=cp.hash,
            signed_at=cp.signed_at,
            algorithm=cp.algorithm,
            key_id=cp.key_id,
            public_key=cp.public_key,
            signature=cp.signature,
        )
    )


def _newest_checkpoints() -> sa.Select[Any]:
    return sa.select(checkpoints).order_by(
        checkpoints.c.sequence.desc(), checkpoints.c.signed_at.desc(), checkpoints.c.id.desc()
    )


async def latest_checkpoint(session: AsyncConnection) -> Checkpoint | None:
    row = (await session.execute(_newest_checkpoints().limit(1))).first()
    return _checkpoint(row) if row else None


async def list_checkpoints(
    session: AsyncConnection, *, limit: int, after: tuple[int, Any, str] | None
) -> list[Checkpoint]:
    """Newest first; `after` is the (sequence, signed_at, id) of the last of the previous page."""
    query = _newest_checkpoints().limit(limit)
    if after is not None:
        query = query.where(
            sa.tuple_(checkpoints.c.sequence, checkpoints.c.signed_at, checkpoints.c.id)
            < sa.tuple_(sa.literal(after[0]), sa.literal(after[1]), sa.literal(uuid.UUID(after[2])))
        )
    return [_checkpoint(r) for r in (await session.execute(query)).all()]
