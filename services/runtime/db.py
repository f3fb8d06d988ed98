"""PostgreSQL through SQLAlchemy 2 (async, Core) and psycopg 3.

Services connect as a role that is neither superuser nor BYPASSRLS (checked at start), so row-level
security holds. The tenant is set per transaction (set_config(..., true) or SET LOCAL), never per connection.

Round trips are the main cost of a short request, so a unit of work opens with ONE round trip that
both begins the transaction and sets its tenant (`BEGIN; SELECT set_config(...)` on psycopg's simple
query protocol; the tenant id is a validated UUID, so the literal is safe). The driver runs in
autocommit mode so it does not send a BEGIN of its own; COMMIT/ROLLBACK are ours, and the pool's
reset-on-return rolls back anything a cancelled task left open.

A read that is one statement needs no open transaction at all: `Database.read` sends the tenant's
`SET LOCAL` and the statement as ONE simple-protocol query string, which PostgreSQL runs as one
implicit read-only transaction, so the whole unit is one round trip instead of three and skips
SQLAlchemy's execution machinery and pool (the hottest reads, e.g. GetUser, spent most of their CPU
there); it has a small pool of bare psycopg connections of its own.

Inside a unit of work, the statements every event, job and message runs (the inbox, the outbox, the
job queue, the contexts' per-batch reads and writes) are plain SQL sent by psycopg on the session's own
connection (`run_sql`), skipping SQLAlchemy's execution path, which cost more client CPU than the
statements; BEGIN, COMMIT and ROLLBACK go the same way. Everything else is SQLAlchemy Core.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import json
import logging
import re
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import psycopg
from psycopg import errors as pg_errors
from psycopg import generators
from psycopg.adapt import Transformer
from psycopg.pq import ExecStatus, TransactionStatus
from psycopg.rows import namedtuple_row
from sqlalchemy import MetaData, Table, text
from sqlalchemy import types as sa_types
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from services.runtime import request_context
from services.runtime.errors import Unavailable

log = logging.getLogger(__name__)

# PostgreSQL's own names for constraints and indexes a migration leaves unnamed (the released
# migrations did), so the MetaData names what the database has and the schema check can compare them
# (services/runtime/schema.py). Name a check constraint explicitly: PostgreSQL's default depends on
# how it was declared.
NAMING_CONVENTION = {
    "ix": "%(table_name)s_%(column_0_N_name)s_idx",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s_check",
    "fk": "%(table_name)s_%(column_0_N_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}


def metadata(schema: str) -> MetaData:
    """The MetaData a context's tables hang on: its own schema, PostgreSQL's constraint names."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


_SET_TENANT = "SELECT set_config('app.tenant_id', %(tenant)s, true)"
# Database.read's head: a validated UUID (or '') goes in the literal, so no quoting is needed.
_READ_HEAD = "SET LOCAL app.tenant_id = '{}'; "


@functools.lru_cache(maxsize=4096)
def _tenant_literal(tenant: str) -> str:
    """The tenant id as it goes into `_READ_HEAD`: parsed as a UUID (so nothing else can reach the
    SQL text), remembered because the same few tenants come back on every read."""
    return str(uuid.UUID(tenant)) if tenant else ""


@functools.lru_cache(maxsize=256)
def _row_class(names: tuple[str, ...]) -> Any:
    """The named-tuple type of a read's rows, made once per column list."""
    row: Any = collections.namedtuple("Row", names, rename=True)  # type: ignore[misc]
    return row._make


_ROWS_OK = (ExecStatus.TUPLES_OK, ExecStatus.COMMAND_OK)
_STATEMENT_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}\Z")


@dataclass(frozen=True)
class PreparedRead:
    """A read statement that each read connection prepares once (`PREPARE`) and then only executes
    (`Database.read_prepared`): PostgreSQL parses, analyses and plans it once per connection instead
    of on every read. For GetUser that took the server's CPU per read from ~50 to ~20 us and the
    client's from ~55 to ~40 us (a much shorter message), measured on the embedded PostgreSQL.

    `sql` takes its values as `$1`, `$2`... of the PostgreSQL `types` given. Row-level security is
    unaffected: the policies read `current_setting('app.tenant_id')` when the statement runs, not when
    it is planned, and the tenant is set per read as for `Database.read`. A migration that changes the
    statement's result columns makes PostgreSQL refuse the old prepared statement ("cached plan must
    not change result type") until the connection is replaced: deploy such a change with the code
    that goes with it (a rolling restart), as any column change is.
    """

    name: str  # one per statement in the process: a connection holds each name once
    sql: str
    types: tuple[str, ...] = ()
    prepare: str = field(init=False)

    def __post_init__(self) -> None:
        if not _STATEMENT_NAME.match(self.name):
            raise ValueError(f"not a prepared statement name: {self.name!r}")
        kinds = f"({', '.join(self.types)})" if self.types else ""
        object.__setattr__(self, "prepare", f"PREPARE {self.name}{kinds} AS {self.sql}")

    def execute(self, args: tuple[uuid.UUID | int, ...]) -> str:
        """`EXECUTE name(...)` with these values as literals. Only values whose text needs no quoting
        and cannot change the statement are taken: a UUID (hex digits and dashes) and an int."""
        if len(args) != len(self.types):
            raise TypeError(f"{self.name} takes {len(self.types)} values, got {len(args)}")
        if not args:
            return f"EXECUTE {self.name}"
        literals = []
        for arg in args:
            if isinstance(arg, uuid.UUID):
                literals.append(f"'{arg}'")
            elif isinstance(arg, int) and not isinstance(arg, bool):
                literals.append(str(arg))
            else:
                raise TypeError(
                    f"{self.name}: a value must be a uuid.UUID or an int, not {type(arg).__name__}"
                )
        return f"EXECUTE {self.name}({', '.join(literals)})"


def parse_uuid(value: str) -> uuid.UUID | None:
    """An id from a request, or None when it is not a UUID (so a lookup answers NOT_FOUND, not 500)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


TENANT_KEY = "learnflow.tenant_id"
# The callbacks a unit of work runs once it has committed (after_commit); present only inside
# Database.transaction.
_AFTER_COMMIT_KEY = "learnflow.after_commit"


def _driver(session: AsyncConnection) -> psycopg.AsyncConnection[Any]:
    """The psycopg connection under a unit of work's SQLAlchemy connection."""
    conn = session.sync_connection.connection.driver_connection  # type: ignore[union-attr]
    assert conn is not None
    return cast("psycopg.AsyncConnection[Any]", conn)


def columns(table: Table, alias: str = "") -> str:
    """A table's columns, from its declaration, as a `run_sql` select list (never `SELECT *`): psycopg
    prepares a statement it runs often, and PostgreSQL refuses a prepared statement whose result type
    changed, so a `*` would break every running replica's reads the moment a migration adds a column."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(f"{prefix}{column.name}" for column in table.columns)


async def run_sql(
    session: AsyncConnection, sql: str, params: Mapping[str, Any] | Sequence[Any] | None = None
) -> list[Any]:
    """One statement in a unit of work (`Database.transaction`'s `session`), sent by psycopg itself
    on the session's own connection, inside its transaction; its rows as named tuples (`row.id`), or
    [] when it returns none. For the statements every event, job and message runs: SQLAlchemy's
    execution machinery costs more client CPU than the statement (bench/db_statement.py: an
    INSERT ... RETURNING on the embedded PostgreSQL takes 75 us this way, 133 us through SQLAlchemy
    compiled once, 198 us built per call). Everything else stays SQLAlchemy Core.

    `sql` is plain SQL with psycopg's placeholders (`%(name)s`; a literal % is written %%), kept as
    a constant so psycopg prepares it on the server after a few uses. Values are adapted by psycopg:
    uuid.UUID, datetime, int, str and lists (arrays) as they are; JSON goes in as text with a CAST.
    An array parameter takes psycopg's binary placeholder, `%(ids)b::uuid[]`: psycopg quotes and
    escapes a text-format array's elements with a regular expression per element in Python, which
    costs 261 us for two outbox payloads (bytea) and 41 us for two JSON texts, against 8.5 us in
    binary (`python -m bench.db_array_params`; the element types and the values the server gets are
    the same either way).
    A failure is psycopg's own error; `Database.transaction` turns an outage into Unavailable."""
    async with _driver(session).cursor(row_factory=namedtuple_row) as cursor:
        await cursor.execute(sql, params)
        # pgresult, not description: description builds a Column object per column on every call.
        result = cursor.pgresult
        return await cursor.fetchall() if result is not None and result.status == ExecStatus.TUPLES_OK else []


@functools.lru_cache(maxsize=256)
def _insert_many_sql(
    table: Table,
    names: tuple[str, ...],
    computed: tuple[tuple[str, str], ...],
    on_conflict: str,
    returning: bool,
) -> str:
    """insert_many's statement: one array parameter per column, unnested into rows. Each array is
    cast to the column's declared type; JSON columns travel as text and are cast per row."""
    dialect = postgresql.dialect()
    arrays: list[str] = []
    selected: list[str] = []
    for i, name in enumerate(names):
        column = table.columns[name]
        if isinstance(column.type, sa_types.ARRAY):
            raise TypeError(f"insert_many: {table.name}.{name} is an array; unnest cannot carry it")
        pg_type = column.type.compile(dialect=dialect)
        if isinstance(column.type, sa_types.JSON):
            arrays.append(f"%({name})b::text[]")
            selected.append(f"c{i}::{pg_type}")
        else:
            arrays.append(f"%({name})b::{pg_type}[]")
            selected.append(f"c{i}")
    aliases = ", ".join(f"c{i}" for i in range(len(names)))
    targets = [*names]
    for name, expression in computed:
        targets.append(table.columns[name].name)  # a declared column, or KeyError
        selected.append(expression)
    sql = (
        f"INSERT INTO {table.fullname} ({', '.join(targets)}) SELECT {', '.join(selected)} "  # noqa: S608 (declared)
        f"FROM unnest({', '.join(arrays)}) AS v({aliases})"
    )
    if on_conflict:
        sql += f" {on_conflict}"
    if returning:
        sql += f" RETURNING {columns(table)}"
    return sql


async def insert_many(
    session: AsyncConnection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    computed: Mapping[str, str] | None = None,
    on_conflict: str = "",
    returning: bool = True,
) -> list[Any]:
    """Inserts rows (dicts of column values, all with the same keys) in ONE statement whatever their
    number, through `run_sql`: the columns' values as arrays unnested into rows, so the text is the
    same for any batch size and psycopg prepares it once (SQLAlchemy's multi-row VALUES is compiled
    anew for every number of rows). `computed`: columns set by a constant SQL expression evaluated
    for each row ({"created_at": "clock_timestamp()"}). `on_conflict` is appended as written ("ON
    CONFLICT ON CONSTRAINT uq DO NOTHING"); with `returning`, the inserted rows come back, every
    declared column. JSON values are serialized as SQLAlchemy would (None is JSON null unless the
    type says none_as_null), floats made floats (psycopg refuses a list mixing int and float); array
    columns are refused (unnest would flatten them). Each column's values must be of one Python type
    (all str or all uuid.UUID), as psycopg dumps a list as one array type."""
    if not rows:
        return []
    names = tuple(rows[0])
    params: dict[str, list[Any]] = {name: [] for name in names}
    json_columns: dict[str, sa_types.JSON] = {}
    float_columns: set[str] = set()  # psycopg refuses a list mixing int and float
    for name in names:
        declared = table.columns[name].type
        if isinstance(declared, sa_types.JSON):
            json_columns[name] = declared
        elif isinstance(declared, sa_types.Float):
            float_columns.add(name)
    for row in rows:
        for name in names:
            value = row[name]
            kind = json_columns.get(name)
            if kind is not None and not (value is None and kind.none_as_null):
                value = json.dumps(value)
            elif name in float_columns and value is not None:
                value = float(value)
            params[name].append(value)
    sql = _insert_many_sql(table, names, tuple((computed or {}).items()), on_conflict, returning)
    return await run_sql(session, sql, params)


async def _abandon(session: AsyncConnection, *, rollback: bool = True) -> None:
    """Ends a failed unit of work: ROLLBACK (when `rollback`), or, when the connection is broken (the
    server went away under a statement `run_sql` sent), invalidated so the pool never hands it out
    again."""
    driver = _driver(session)
    if driver.broken or driver.closed:
        with contextlib.suppress(Exception):
            await session.invalidate()
        return
    if rollback:
        with contextlib.suppress(Exception):
            await driver.execute("ROLLBACK", prepare=False)


class TransactionRolledBack(RuntimeError):
    """COMMIT found the transaction failed (an error inside it was caught and not re-raised): nothing
    of the unit of work was saved. A defect of the caller, reported as one (INTERNAL), never as done."""


# What a statement raises when the server could not answer: SQLAlchemy's wrappers and psycopg's own.
_DRIVER_ERRORS = (OperationalError, DBAPIError, psycopg.OperationalError, psycopg.InterfaceError)


def _raise_if_outage(exc: BaseException) -> None:
    """Unavailable (from `exc`) when `exc` says the database could not be reached or cannot serve."""
    if is_database_outage(exc):
        log.error("database unavailable: %s", getattr(exc, "orig", exc))
        raise Unavailable("the database is unavailable; try again shortly") from exc


def after_commit(session: AsyncConnection, callback: Callable[[], None]) -> bool:
    """Calls `callback()` once the unit of work `session` has committed, never if it rolls back
    (Django's `on_commit`): for work that may only start once the data it needs is visible to
    others, such as running a job enqueued in it (jobs.JobKind.start_here). The callback must not
    block (start a task). Returns False, registering nothing, when `session` is not a unit of work
    of `Database.transaction`."""
    pending = session.info.get(_AFTER_COMMIT_KEY)
    if pending is None or not pending.open:
        return False
    pending.append(callback)
    return True


class _AfterCommit(list[Callable[[], None]]):
    """The callbacks of one unit of work; closed when it ends (its connection's `info` outlives it,
    and is not touched again once the connection may be broken)."""

    open = True


def _run_after_commit(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:  # one failing callback must not stop the others, nor fail the commit
            log.exception("an after-commit callback failed")


def tenant_of(session: AsyncConnection) -> str:
    """The tenant the current transaction is scoped to ('' for none): events staged in it carry it."""
    return str(session.info.get(TENANT_KEY, ""))


async def set_tenant(session: AsyncConnection, tenant_id: str) -> None:
    """Scopes the rest of the current transaction to one tenant ('' means none: no tenant rows)."""
    await run_sql(session, _SET_TENANT, {"tenant": tenant_id})
    session.info[TENANT_KEY] = tenant_id


_RECYCLE_SECONDS = 1800


class _ReadPool:
    """Bare psycopg connections (autocommit) for `Database.read`, at most `size` in use at once.

    Checking a connection out of SQLAlchemy's pool and back costs more CPU than the read itself
    (two greenlet switches, the pool's bookkeeping and reset-on-return: ~100 us of ~175 us per read
    here), so reads keep their own small LIFO of idle connections. A connection goes back only when
    the server is idle on it (no statement in flight, no transaction open); any other is closed.
    Connections older than the engine's recycle age are replaced, as the engine's are.
    """

    def __init__(self, connect_kwargs: dict[str, Any], size: int):
        self._kwargs = connect_kwargs
        self._idle: list[tuple[float, psycopg.AsyncConnection[Any]]] = []
        self._slots = asyncio.Semaphore(size)
        self._closed = False

    async def get(self) -> tuple[float, psycopg.AsyncConnection[Any]]:
        await self._slots.acquire()
        try:
            now = time.monotonic()
            while self._idle:
                born, conn = self._idle.pop()
                if now - born < _RECYCLE_SECONDS and not conn.closed:
                    return born, conn
                await _close_quietly(conn)
            conn = await psycopg.AsyncConnection.connect(autocommit=True, connect_timeout=5, **self._kwargs)
            # Every transaction on a read connection is read-only, the implicit one of each read's
            # message included: a write fails, and no read has to say SET TRANSACTION READ ONLY.
            await conn.execute("SET default_transaction_read_only = on")
            return now, conn
        except BaseException:
            self._slots.release()
            raise

    async def put(self, born: float, conn: psycopg.AsyncConnection[Any]) -> None:
        try:
            idle = not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE
            if idle and not self._closed:  # one in use at dispose() is closed when it comes back
                self._idle.append((born, conn))
            else:
                await _close_quietly(conn)
        finally:
            self._slots.release()

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for _, conn in idle:
            await _close_quietly(conn)


async def _read_simple(conn: psycopg.AsyncConnection[Any], query: str) -> list[Any]:
    """`query` (no parameters) in one simple-protocol message straight on the connection, the last
    result's rows as named tuples. This is what a cursor's execute + nextset + fetchall does, without
    the cursor: its machinery (query conversion, the prepared-statement bookkeeping, result
    selection, a row factory set up per result) cost about as much CPU as the rest of a GetUser.
    The waiting is the connection's own (`conn.wait`), so a cancelled read cancels the query on the
    server as a cursor's would, and the pool then closes the connection if it is not idle."""
    conn.pgconn.send_query(query.encode(conn.info.encoding))
    results = await conn.wait(generators.execute(conn.pgconn))
    for res in results:
        if res.status not in _ROWS_OK:
            if res.status == ExecStatus.FATAL_ERROR:
                raise pg_errors.error_from_result(res, encoding=conn.info.encoding)
            raise pg_errors.InternalError(f"unexpected result status: {ExecStatus(res.status).name}")
    if not results:
        raise pg_errors.InternalError("got no result from the query")
    last = results[-1]
    if last.status != ExecStatus.TUPLES_OK:
        return []
    names = tuple((last.fname(i) or b"").decode() for i in range(last.nfields))
    transformer = Transformer(conn)
    transformer.set_pgresult(last)
    return transformer.load_rows(0, last.ntuples, _row_class(names))


async def _close_quietly(conn: psycopg.AsyncConnection[Any]) -> None:
    with contextlib.suppress(Exception):
        await conn.close()


# What PostgreSQL says when it cannot be used right now, as opposed to "this statement is wrong":
# SQLSTATE class 08 (connection exception), 53 (insufficient resources: too many connections, out
# of memory or disk) and 57P01-57P03 (shutting down, crashed, cannot connect now). Anything else it
# answers — 22 data exception, 23 integrity violation, 54 program limit (an index row too large) — is
# about the request, and reporting it as UNAVAILABLE would send a retrying client round for ever.
_OUTAGE_STATES = ("08", "53", "57P01", "57P02", "57P03")


def is_database_outage(exc: BaseException) -> bool:
    """True when `exc` means the database could not be reached or cannot serve now."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    error = exc.orig if isinstance(exc, DBAPIError) else exc
    state = getattr(error, "sqlstate", None)
    if state is None:  # no answer from a server at all: refused, reset, timed out, closed
        return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError | OSError)
    return str(state).startswith(_OUTAGE_STATES)


# The class-22 states that say a value given to a statement does not fit (psycopg's own refusals,
# a NUL in text, come with no state): too long, out of range, malformed, not representable.
_VALUE_STATES = frozenset(
    {
        "22001",  # string data right truncation
        "22003",  # numeric value out of range
        "22007",  # invalid datetime format
        "22008",  # datetime field overflow
        "22009",  # invalid time zone displacement value
        "22021",  # character not in repertoire
        "22P02",  # invalid text representation
        "22P05",  # untranslatable character
        "2200N",  # invalid XML content
        "22030",  # duplicate JSON object key value
        "22032",  # invalid JSON text
    }
)


def refused_value(exc: BaseException) -> str | None:
    """What PostgreSQL (or psycopg, before sending) said of a value it cannot store — the SQLSTATEs of
    class 22 ("data exception") that are about a given value: a number out of a column's range, a
    NUL in text, NaN in JSON — or None for any other error (a division by zero is a defect). A
    request that reaches this has a check missing; the interceptor answers it INVALID_ARGUMENT rather
    than INTERNAL (services/runtime/interceptors.py)."""
    error = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(error, psycopg.DataError):  # psycopg.errors.DataException (class 22) among them
        state = getattr(error, "sqlstate", None)
        if state is not None and state not in _VALUE_STATES:
            return None  # division by zero, a bad cast of a stored value...: a defect, not the input
        diag = getattr(error, "diag", None)
        return (getattr(diag, "message_primary", None) or str(error)).strip()
    if isinstance(error, UnicodeEncodeError):  # a lone surrogate in a parameter: not UTF-8
        return "a text value is not valid UTF-8"
    return None


async def listen(dsn: str, channel: str, wake: asyncio.Event, stopping: asyncio.Event, what: str) -> None:
    """Sets `wake` on every NOTIFY on `channel` (a trigger sends one at commit), and once on each
    (re)connection to catch up on what committed before it listened; reconnects after an outage until
    `stopping` is set. The waiter's poll interval is only the fallback."""
    while not stopping.is_set():
        try:
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                await conn.execute(f'LISTEN "{channel}"')
                wake.set()
                async for _ in conn.notifies():
                    wake.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("%s listener reconnecting: %r", what, exc)
            await asyncio.sleep(1.0)


def _engine(url: str, pool_size: int) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        pool_recycle=_RECYCLE_SECONDS,
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 5},
        # A failed statement's error names the statement but not its values: they may be a
        # student's data or a credential's hash, and errors end up in logs.
        hide_parameters=True,
    )


def _unavailable_if_outage(exc: psycopg.OperationalError) -> Exception:
    """What a read raises for a driver error: Unavailable for an outage, else the error itself (the
    statement's own failure, e.g. a value over a limit)."""
    if not is_database_outage(exc):
        return exc
    log.error("database unavailable: %s", exc)
    return Unavailable("the database is unavailable; try again shortly")


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, job_pool_size: int = 8):
        self.engine: AsyncEngine = _engine(url, pool_size)
        self._url = url
        self._job_pool_size = job_pool_size
        self._jobs_engine: AsyncEngine | None = None
        # The same server, role and options as the engine's connections (SQLAlchemy's own type
        # adapters are left out: reads get psycopg's standard ones).
        _, kwargs = self.engine.dialect.create_connect_args(self.engine.url)
        kwargs.pop("context", None)
        # As many reads at once as the engine has connections at most (pool_size + max_overflow).
        self._reads = _ReadPool(dict(kwargs), 2 * pool_size)
        # The PreparedRead names each read connection has prepared (gone with the connection).
        self._prepared: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], set[str]] = (
            weakref.WeakKeyDictionary()
        )

    async def check_role(self) -> None:
        """Refuses to run as a role that would bypass row-level security."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT current_user, rolsuper, rolbypassrls "
                        "FROM pg_roles WHERE rolname = current_user"
                    )
                )
            ).one()
        if row.rolsuper or row.rolbypassrls:
            raise RuntimeError(
                f"DATABASE_URL connects as {row.current_user!r}, which bypasses row-level security "
                "(superuser or BYPASSRLS). Connect services as an ordinary role; run migrations with "
                "MIGRATION_DATABASE_URL."
            )

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:  # any failure means "not reachable" for health purposes
            return False

    @property
    def jobs_engine(self) -> AsyncEngine:
        """The connections that job units hold while their handlers run (JobRunner), a pool of their
        own (job_pool_size, as many again in overflow). A handler may need more connections while it
        holds its unit's: notify's claim commits before the provider is called, and a call to another
        context served by the same process opens that context's transactions. From one shared pool,
        enough units at once each held a connection and waited for another, and everything in the
        process stalled until the pool's timeout (30 s). Units now wait only for each other."""
        if self._jobs_engine is None:
            self._jobs_engine = _engine(self._url, self._job_pool_size)
        return self._jobs_engine

    @asynccontextmanager
    async def transaction(
        self, tenant_id: str | None = None, *, for_jobs: bool = False
    ) -> AsyncIterator[AsyncConnection]:
        """One unit of work: commits on success, rolls back on error. The tenant defaults to the
        caller's (request context); with none, tenant-scoped tables show no rows at all. `for_jobs`:
        on a connection of the job units' pool (jobs_engine), for the job runner."""
        tenant = tenant_id if tenant_id is not None else request_context.tenant_id()
        begin = (
            f"BEGIN; SELECT set_config('app.tenant_id', '{uuid.UUID(tenant)}', true)" if tenant else "BEGIN"
        )
        try:
            async with (self.jobs_engine if for_jobs else self.engine).connect() as session:
                # BEGIN, COMMIT and ROLLBACK go straight to the driver, as the hot statements do
                # (`run_sql`). A pooled connection the server dropped fails here: it is invalidated
                # (never handed out again) and the caller gets Unavailable, as SQLAlchemy did.
                try:
                    await _driver(session).execute(begin, prepare=False)
                except BaseException:
                    await _abandon(session)
                    raise
                session.info[TENANT_KEY] = tenant or ""
                callbacks = session.info[_AFTER_COMMIT_KEY] = _AfterCommit()
                try:
                    try:
                        yield session
                    except BaseException:
                        await _abandon(session)
                        raise
                    try:
                        ended = await _driver(session).execute("COMMIT", prepare=False)
                    except BaseException:
                        await _abandon(session)
                        raise
                    if ended.statusmessage != "COMMIT":
                        # PostgreSQL answers COMMIT in a failed transaction with ROLLBACK, no error:
                        # a statement failed and its error was swallowed. Saying "done" would lose
                        # the unit's work (a consumer would ack an event it never applied).
                        raise TransactionRolledBack(
                            "the transaction was rolled back at COMMIT: one of its statements failed"
                            " and the error was caught without ending the unit of work"
                        )
                finally:
                    callbacks.open = False
            _run_after_commit(callbacks)
        except _DRIVER_ERRORS as exc:
            _raise_if_outage(exc)
            raise

    async def run_alone(
        self, sql: str, params: Mapping[str, Any] | Sequence[Any] | None = None, *, for_jobs: bool = False
    ) -> list[Any]:
        """One statement as its own transaction (the driver runs in autocommit: one round trip), sent
        by psycopg itself as `run_sql` sends it. An outage raises Unavailable, as `transaction()`
        does, and a connection the server dropped leaves the pool."""
        try:
            async with (self.jobs_engine if for_jobs else self.engine).connect() as conn:
                try:
                    return await run_sql(conn, sql, params)
                except BaseException:
                    await _abandon(conn, rollback=False)  # autocommit: nothing to roll back
                    raise
        except _DRIVER_ERRORS as exc:
            _raise_if_outage(exc)
            raise

    async def read(
        self,
        statement: str,
        params: Mapping[str, Any] | Sequence[Any] = (),
        *,
        tenant_id: str | None = None,
    ) -> list[Any]:
        """One read-only statement as a unit of work of its own, in ONE round trip; its rows, each a
        named tuple (`row.email`). The tenant defaults to the caller's, as in `transaction()`.

        `statement` is SQL with psycopg placeholders (`%(name)s` or `%s`); psycopg quotes `params`
        into it on the client (its ClientCursor), because only the simple query protocol carries
        several statements in one message. Without params the statement is sent exactly as given
        (no placeholders, and a `%` is not doubled) and without a cursor at all (`_read_simple`): the
        caller has put its values in, which only values that need no quoting (a parsed UUID's text)
        may be. The message is `SET LOCAL app.tenant_id = '...'; <statement>`: the server runs a
        multi-statement query string as ONE implicit transaction, so the tenant holds for the
        statement and ends with it (row-level security as in `transaction()`), and there is no BEGIN
        or COMMIT to send; the read connections' transactions are all read-only
        (`default_transaction_read_only`), so a write fails. The statement is parsed and planned on
        every call (no prepared statement), which for a short indexed read costs the server less
        than the two round trips it saves. The connection comes from the reads' own pool
        (`_ReadPool`).
        """
        tenant = tenant_id if tenant_id is not None else request_context.tenant_id()
        head = _READ_HEAD.format(_tenant_literal(tenant or ""))
        born, conn = await self._checkout()
        try:
            if not params:
                return await _read_simple(conn, head + statement)
            async with psycopg.AsyncClientCursor(conn, row_factory=namedtuple_row) as cursor:
                await cursor.execute(head + statement, params)
                cursor.nextset()  # past SET LOCAL
                return await cursor.fetchall()
        except psycopg.OperationalError as exc:
            raise _unavailable_if_outage(exc) from exc
        finally:
            await self._reads.put(born, conn)

    async def read_prepared(
        self, statement: PreparedRead, *args: uuid.UUID | int, tenant_id: str | None = None
    ) -> list[Any]:
        """`read()` of a statement the connection has prepared: the message is
        `SET LOCAL app.tenant_id = '...'; EXECUTE name(<args>)`, one round trip and one implicit
        read-only transaction as in `read()`, with the statement's parse and plan done once per
        connection (the first read on each connection sends the `PREPARE` before it)."""
        tenant = tenant_id if tenant_id is not None else request_context.tenant_id()
        query = _READ_HEAD.format(_tenant_literal(tenant or "")) + statement.execute(args)
        born, conn = await self._checkout()
        try:
            prepared = self._prepared.get(conn)
            if prepared is None:
                prepared = self._prepared[conn] = set()
            if statement.name not in prepared:
                # Already there if a read was cancelled after its PREPARE ran but before it noted it.
                with contextlib.suppress(pg_errors.DuplicatePreparedStatement):
                    await _read_simple(conn, statement.prepare)
                prepared.add(statement.name)
            try:
                return await _read_simple(conn, query)
            except pg_errors.InvalidSqlStatementName:
                prepared.discard(statement.name)  # deallocated behind our back: prepare it next time
                raise
        except psycopg.OperationalError as exc:
            raise _unavailable_if_outage(exc) from exc
        finally:
            await self._reads.put(born, conn)

    async def _checkout(self) -> tuple[float, psycopg.AsyncConnection[Any]]:
        try:
            return await self._reads.get()
        except psycopg.OperationalError as exc:
            log.error("database unavailable: %s", exc)
            raise Unavailable("the database is unavailable; try again shortly") from exc

    async def dispose(self) -> None:
        await self._reads.close()
        await self.engine.dispose()
        if self._jobs_engine is not None:
            await self._jobs_engine.dispose()
