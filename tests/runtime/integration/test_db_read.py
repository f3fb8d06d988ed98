"""Database.read on a real PostgreSQL: one read-only statement in one round trip, under the tenant's
row-level security exactly as a `transaction()` would be, the tenant gone when the read is over, writes
refused, Unavailable when the database is down, and the pool healthy after a failure or a cancel."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
import shutil
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import JSONB

from services.runtime import request_context
from services.runtime.db import (
    Database,
    PreparedRead,
    TransactionRolledBack,
    _insert_many_sql,
    after_commit,
    insert_many,
    is_database_outage,
    refused_value,
)
from services.runtime.errors import Unavailable
from services.runtime.local.postgres import APP_ROLE, DATABASE, EmbeddedPostgres
from services.runtime.local.procs import free_port
from services.runtime.request_context import RequestContext
from services.runtime.testing import mesh_dir

TENANT_A = str(uuid.uuid4())
TENANT_B = str(uuid.uuid4())


@pytest.fixture(scope="module")
def pg() -> Iterator[EmbeddedPostgres]:
    root = mesh_dir("learnflow-dbread-")
    server = EmbeddedPostgres(root / "postgres", free_port())
    server.start()
    try:
        with psycopg.connect(server.superuser_url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute("CREATE SCHEMA readtest")
            conn.execute("CREATE TABLE readtest.notes (id serial PRIMARY KEY, tenant_id uuid, body text)")
            conn.execute("ALTER TABLE readtest.notes ENABLE ROW LEVEL SECURITY")
            conn.execute(  # the same policy shape as the contexts' tables (runtime/migration_ops.py)
                "CREATE POLICY tenant_isolation ON readtest.notes "
                "USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid) "
                "WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)"
            )
            conn.execute(f"GRANT USAGE ON SCHEMA readtest TO {APP_ROLE}")
            conn.execute(f"GRANT SELECT, INSERT, UPDATE ON readtest.notes TO {APP_ROLE}")
            conn.execute(f"GRANT USAGE ON SEQUENCE readtest.notes_id_seq TO {APP_ROLE}")
            conn.execute(
                "INSERT INTO readtest.notes (tenant_id, body) VALUES (%s, 'a1'), (%s, 'a2'), (%s, 'b1')",
                (TENANT_A, TENANT_A, TENANT_B),
            )
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _run(pg: EmbeddedPostgres, body, pool_size: int = 1):
    """Runs body(db) on a fresh Database (one connection unless told otherwise), then disposes it."""

    async def main():
        db = Database(pg.app_url, pool_size=pool_size)
        try:
            return await body(db)
        finally:
            await db.dispose()

    return asyncio.run(main())


BODIES = "SELECT body FROM readtest.notes WHERE body LIKE %(prefix)s ORDER BY body"


def test_a_read_sees_only_its_tenants_rows(pg):
    async def body(db: Database):
        a = await db.read(BODIES, {"prefix": "%"}, tenant_id=TENANT_A)
        b = await db.read(BODIES, {"prefix": "%"}, tenant_id=TENANT_B)
        none = await db.read(BODIES, {"prefix": "%"}, tenant_id="")
        return [r.body for r in a], [r.body for r in b], none

    a, b, none = _run(pg, body)
    assert (a, b, none) == (["a1", "a2"], ["b1"], [])


def test_a_read_without_params_is_scoped_and_typed_the_same(pg):
    """Without params the statement skips psycopg's cursor (GetUser's path): the same tenant scoping,
    the same named-tuple rows with psycopg's types, no rows for another tenant's id."""

    async def body(db: Database):
        sql = "SELECT id, tenant_id, body, body LIKE 'a%' AS is_a FROM readtest.notes ORDER BY body"
        a = await db.read(sql, tenant_id=TENANT_A)
        b = await db.read(sql, tenant_id=TENANT_B)
        none = await db.read(sql, tenant_id="")
        empty = await db.read("SELECT body FROM readtest.notes WHERE false", tenant_id=TENANT_A)
        return a, b, none, empty

    a, b, none, empty = _run(pg, body)
    assert [(r.tenant_id, r.body, r.is_a) for r in a] == [
        (uuid.UUID(TENANT_A), "a1", True),
        (uuid.UUID(TENANT_A), "a2", True),
    ]
    assert [(r.tenant_id, r.body, r.is_a) for r in b] == [(uuid.UUID(TENANT_B), "b1", False)]
    assert all(isinstance(r.id, int) for r in a + b)
    assert none == [] and empty == []


def test_the_tenant_defaults_to_the_callers(pg):
    async def body(db: Database):
        with request_context.bind(RequestContext(correlation_id="c", tenant_id=TENANT_B)):
            return [r.body for r in await db.read(BODIES, {"prefix": "%"})]

    assert _run(pg, body) == ["b1"]


def test_params_are_quoted_not_pasted(pg):
    async def body(db: Database):
        hostile = await db.read(BODIES, {"prefix": "x' OR true OR body LIKE '%"}, tenant_id=TENANT_A)
        positional = await db.read(
            "SELECT body FROM readtest.notes WHERE body = %s", ["a2"], tenant_id=TENANT_A
        )
        return hostile, [r.body for r in positional]

    hostile, positional = _run(pg, body)
    assert hostile == []
    assert positional == ["a2"]


def test_the_tenant_ends_with_the_read(pg):
    # One pooled connection: after the read, the same session has no tenant and sees no rows.
    async def body(db: Database):
        await db.read(BODIES, {"prefix": "%"}, tenant_id=TENANT_A)
        born, conn = await db._reads.get()
        try:
            setting = await (await conn.execute("SELECT current_setting('app.tenant_id', true)")).fetchone()
            rows = await (await conn.execute("SELECT body FROM readtest.notes")).fetchall()
            status = conn.info.transaction_status
        finally:
            await db._reads.put(born, conn)
        return setting, rows, status

    setting, rows, status = _run(pg, body)
    assert setting is not None and setting[0] in ("", None)
    assert rows == []
    assert status == psycopg.pq.TransactionStatus.IDLE  # autocommit: nothing left open


def test_reads_and_transactions_share_the_tenant_rules(pg):
    async def body(db: Database):
        read = [r.body for r in await db.read(BODIES, {"prefix": "%"}, tenant_id=TENANT_A)]
        async with db.transaction(tenant_id=TENANT_A) as session:
            tx = (await session.execute(text("SELECT body FROM readtest.notes ORDER BY body"))).scalars()
            return read, list(tx)

    read, tx = _run(pg, body)
    assert read == tx == ["a1", "a2"]


def test_a_write_is_refused_and_the_connection_stays_usable(pg):
    async def body(db: Database):
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            await db.read("UPDATE readtest.notes SET body = 'changed' RETURNING body", tenant_id=TENANT_A)
        return [r.body for r in await db.read(BODIES, {"prefix": "a%"}, tenant_id=TENANT_A)]

    assert _run(pg, body) == ["a1", "a2"]


def test_a_failed_statement_leaves_the_pool_healthy(pg):
    async def body(db: Database):
        with pytest.raises(psycopg.errors.UndefinedTable):
            await db.read("SELECT * FROM readtest.no_such_table", tenant_id=TENANT_A)
        return [r.body for r in await db.read(BODIES, {"prefix": "b%"}, tenant_id=TENANT_B)]

    assert _run(pg, body) == ["b1"]


def test_a_unit_of_work_whose_failed_statement_was_swallowed_is_not_reported_as_committed(pg):
    """PostgreSQL answers COMMIT in a failed transaction with ROLLBACK and no error: the transaction
    raises rather than let its caller (a consumer about to ack) believe its writes were saved."""
    ran: list[str] = []

    async def body(db: Database):
        async def unit() -> None:
            async with db.transaction(tenant_id=TENANT_A) as session:
                await session.execute(
                    text("INSERT INTO readtest.notes (tenant_id, body) VALUES (:t, 'lost')"), {"t": TENANT_A}
                )
                after_commit(session, lambda: ran.append("after commit"))
                with contextlib.suppress(sa.exc.ProgrammingError):
                    await session.execute(text("SELECT * FROM readtest.no_such_table"))

        with pytest.raises(TransactionRolledBack):
            await unit()
        return [r.body for r in await db.read(BODIES, {"prefix": "%"}, tenant_id=TENANT_A)]

    assert _run(pg, body) == ["a1", "a2"]  # nothing saved, and the connection went on working
    assert ran == []


def test_a_value_the_database_refuses_is_named_for_the_interceptors_backstop(pg):
    """refused_value: what the interceptor answers INVALID_ARGUMENT with when a request's value reached
    the database unchecked (class 22, or a parameter psycopg cannot send), and None for the rest."""

    async def body(db: Database):
        found = []
        for sql, params in [
            ("SELECT %(n)s::int4", {"n": 3_000_000_000}),
            ("SELECT %(s)s::text", {"s": "a\x00b"}),
            ("SELECT %(s)s::text", {"s": "\ud800"}),
            ("SELECT * FROM readtest.no_such_table", None),
            ("SELECT 1 / (count(*) - count(*)) FROM readtest.notes", None),  # 22012: our defect
        ]:
            try:
                await db.read(sql, params, tenant_id=TENANT_A)
            except Exception as exc:
                found.append(refused_value(exc))
        return found

    out_of_range, nul, surrogate, missing_table, division = _run(pg, body)
    assert out_of_range == "integer out of range"
    assert "NUL" in nul
    assert surrogate == "a text value is not valid UTF-8"
    assert missing_table is None and division is None


def test_a_cancelled_read_does_not_hand_its_busy_connection_on(pg):
    async def body(db: Database):
        slow = asyncio.create_task(db.read("SELECT pg_sleep(3)", tenant_id=TENANT_A))
        await asyncio.sleep(0.3)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        began = asyncio.get_running_loop().time()
        rows = await asyncio.wait_for(db.read(BODIES, {"prefix": "%"}, tenant_id=TENANT_B), 10)
        return [r.body for r in rows], asyncio.get_running_loop().time() - began

    rows, took = _run(pg, body)
    assert rows == ["b1"]
    assert took < 2.5  # not queued behind the cancelled pg_sleep


def test_nothing_listening_is_unavailable():
    async def body():
        db = Database(f"postgresql+psycopg://{APP_ROLE}@127.0.0.1:{free_port()}/{DATABASE}")
        try:
            await db.read("SELECT 1", tenant_id=TENANT_A)
        finally:
            await db.dispose()

    with pytest.raises(Unavailable):
        asyncio.run(body())


def test_an_outage_is_unavailable_and_the_pool_recovers(pg):
    async def body(db: Database):
        assert [r.body for r in await db.read(BODIES, {"prefix": "b%"}, tenant_id=TENANT_B)] == ["b1"]
        await asyncio.to_thread(pg.stop)  # the pooled connection is now dead
        try:
            with pytest.raises(Unavailable):
                await db.read(BODIES, {"prefix": "b%"}, tenant_id=TENANT_B)
        finally:
            await asyncio.to_thread(pg.start)
        return [r.body for r in await db.read(BODIES, {"prefix": "b%"}, tenant_id=TENANT_B)]

    assert _run(pg, body) == ["b1"]


def test_a_value_over_a_database_limit_is_not_reported_as_an_outage(pg):
    """An index row too large (SQLSTATE 54000) is the request's fault: UNAVAILABLE would make a client
    retry for ever (issue #10 saw a 5 MB id reported as 503)."""
    with psycopg.connect(pg.superuser_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("CREATE INDEX IF NOT EXISTS notes_body ON readtest.notes (body)")
    huge = secrets.token_hex(600_000)  # 1.2 MB of incompressible text: over the btree row limit

    async def body(db: Database) -> BaseException:
        try:
            async with db.transaction(TENANT_A) as session:
                await session.execute(
                    text("INSERT INTO readtest.notes (tenant_id, body) VALUES (:t, :b)"),
                    {"t": TENANT_A, "b": huge},
                )
        except Exception as exc:
            return exc
        raise AssertionError("the insert was accepted")

    error = _run(pg, body)
    assert not isinstance(error, Unavailable), error
    assert not is_database_outage(error)
    assert huge not in str(error)  # the statement's values stay out of the error (and so of logs)


# --- read_prepared: the statement parsed and planned once per connection --------------------------

BY_TENANT = PreparedRead(
    "readtest_by_tenant",
    "SELECT id, tenant_id, body FROM readtest.notes WHERE tenant_id = $1 AND id > $2 ORDER BY body",
    ("uuid", "int"),
)
ALL_BODIES = PreparedRead("readtest_all", "SELECT body FROM readtest.notes ORDER BY body")


def test_a_prepared_read_sees_only_its_tenants_rows_on_one_connection(pg):
    """One pooled connection prepares once and then serves every tenant: the row-level security
    policy reads the tenant when the statement runs, not when it was planned (also after PostgreSQL
    switches to a generic plan, which it may from the sixth execution)."""

    async def body(db: Database):
        seen = []
        for _ in range(8):
            seen.append(
                (
                    [r.body for r in await db.read_prepared(ALL_BODIES, tenant_id=TENANT_A)],
                    [r.body for r in await db.read_prepared(ALL_BODIES, tenant_id=TENANT_B)],
                    await db.read_prepared(ALL_BODIES, tenant_id=""),
                    # Asking for the other tenant's rows by their tenant id finds none either.
                    await db.read_prepared(BY_TENANT, uuid.UUID(TENANT_B), 0, tenant_id=TENANT_A),
                )
            )
        with request_context.bind(RequestContext(correlation_id="c", tenant_id=TENANT_B)):
            default = await db.read_prepared(BY_TENANT, uuid.UUID(TENANT_B), 0)
        return seen, default

    seen, default = _run(pg, body)
    assert seen == [(["a1", "a2"], ["b1"], [], [])] * 8
    assert [(r.tenant_id, r.body) for r in default] == [(uuid.UUID(TENANT_B), "b1")]
    assert isinstance(default[0].id, int)


def test_a_prepared_read_is_prepared_once_per_connection_and_leaves_no_tenant(pg):
    async def body(db: Database):
        await db.read_prepared(ALL_BODIES, tenant_id=TENANT_A)
        born, conn = await db._reads.get()
        try:
            query = "SELECT name, prepare_time FROM pg_prepared_statements ORDER BY name"
            first = await (await conn.execute(query)).fetchall()
            setting = await (await conn.execute("SELECT current_setting('app.tenant_id', true)")).fetchone()
        finally:
            await db._reads.put(born, conn)
        await db.read_prepared(ALL_BODIES, tenant_id=TENANT_B)
        await db.read_prepared(BY_TENANT, uuid.UUID(TENANT_A), 1, tenant_id=TENANT_A)
        born, conn = await db._reads.get()
        try:
            second = await (await conn.execute(query)).fetchall()
        finally:
            await db._reads.put(born, conn)
        return first, setting, second

    first, setting, second = _run(pg, body)
    assert [name for name, _ in first] == ["readtest_all"]
    assert setting is not None and setting[0] in ("", None)
    # The second read of readtest_all did not prepare it again (same prepare_time); the other was added.
    assert dict(second)["readtest_all"] == dict(first)["readtest_all"]
    assert sorted(dict(second)) == ["readtest_all", "readtest_by_tenant"]


def test_a_prepared_write_is_refused(pg):
    write = PreparedRead("readtest_write", "UPDATE readtest.notes SET body = 'changed' RETURNING body")

    async def body(db: Database):
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            await db.read_prepared(write, tenant_id=TENANT_A)
        return [r.body for r in await db.read_prepared(ALL_BODIES, tenant_id=TENANT_A)]

    assert _run(pg, body) == ["a1", "a2"]


def test_a_statement_deallocated_behind_its_back_is_prepared_again(pg):
    async def body(db: Database):
        await db.read_prepared(ALL_BODIES, tenant_id=TENANT_A)
        born, conn = await db._reads.get()
        try:
            await conn.execute("DEALLOCATE ALL")
        finally:
            await db._reads.put(born, conn)
        with pytest.raises(psycopg.errors.InvalidSqlStatementName):
            await db.read_prepared(ALL_BODIES, tenant_id=TENANT_A)
        return [r.body for r in await db.read_prepared(ALL_BODIES, tenant_id=TENANT_B)]

    assert _run(pg, body) == ["b1"]


def test_a_statement_prepared_but_not_noted_is_used_as_is(pg):
    # What a read cancelled between its PREPARE's completion and noting it leaves behind.
    async def body(db: Database):
        born, conn = await db._reads.get()
        try:
            await conn.execute(ALL_BODIES.prepare)
        finally:
            await db._reads.put(born, conn)
        return [r.body for r in await db.read_prepared(ALL_BODIES, tenant_id=TENANT_A)]

    assert _run(pg, body) == ["a1", "a2"]


def test_prepared_read_values_are_only_uuids_and_ints():
    with pytest.raises(TypeError, match="not str"):
        BY_TENANT.execute(("x') ; DROP TABLE readtest.notes; --", 1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not bool"):
        BY_TENANT.execute((uuid.UUID(TENANT_A), True))
    with pytest.raises(TypeError, match="takes 2 values"):
        BY_TENANT.execute((uuid.UUID(TENANT_A),))
    assert BY_TENANT.execute((uuid.UUID(TENANT_A), 3)) == f"EXECUTE readtest_by_tenant('{TENANT_A}', 3)"
    assert ALL_BODIES.execute(()) == "EXECUTE readtest_all"
    for bad in ("Upper", "has space", "x;drop", "", "a" * 64):
        with pytest.raises(ValueError, match="not a prepared statement name"):
            PreparedRead(bad, "SELECT 1")


def test_insert_many_writes_any_number_of_rows_in_one_statement_as_sqlalchemy_would(pg):
    """db.insert_many: one statement text for any batch size; values typed from the table's
    declaration (uuid, date, JSON as SQLAlchemy serializes it, a SQL NULL where the type says so); a
    computed column evaluated per row; the conflict clause as written; the inserted rows back."""
    md = sa.MetaData(schema="readtest")
    things = sa.Table(
        "things",
        md,
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("share", sa.Float, nullable=False),
        sa.Column("doc", sa.JSON, nullable=False),
        sa.Column("extra", JSONB(none_as_null=True), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("key", name="uq_things_key"),
    )
    with psycopg.connect(pg.superuser_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE readtest.things (id uuid PRIMARY KEY, key text NOT NULL "
            "CONSTRAINT uq_things_key UNIQUE, day date NOT NULL, n int NOT NULL, doc json NOT NULL, "
            "extra jsonb, at timestamptz NOT NULL, share float8 NOT NULL)"
        )
        conn.execute(f"GRANT SELECT, INSERT ON readtest.things TO {APP_ROLE}")

    def row(key: str, doc, extra) -> dict:
        return {
            "id": uuid.uuid4(),
            "key": key,
            "day": dt.date(2026, 12, 7),
            "n": 3,
            "share": 1 if key == "b" else 0.5,  # an int among floats in a float column
            "doc": doc,
            "extra": extra,
        }

    async def body(db: Database):
        now = {"at": "clock_timestamp()"}
        skip = "ON CONFLICT ON CONSTRAINT uq_things_key DO NOTHING"
        async with db.transaction(tenant_id="") as s:
            first = await insert_many(
                s, things, [row("a", {"x": [1, "é"]}, None)], computed=now, on_conflict=skip
            )
            more = await insert_many(
                s,
                things,
                [row("b", None, {"y": 1}), row("a", {}, None), row("c", [], None)],
                computed=now,
                on_conflict=skip,
            )
            stored = await s.execute(
                text(
                    "SELECT key, doc::text, extra IS NULL AS null_extra, n, day, share "
                    "FROM readtest.things ORDER BY key"
                )
            )
            return first, more, [tuple(r) for r in stored]

    first, more, stored = _run(pg, body)
    assert [r.key for r in first] == ["a"] and first[0].doc == {"x": [1, "é"]}
    assert [r.key for r in more] == ["b", "c"]  # "a" was taken: skipped, as the clause says
    assert stored == [
        ("a", '{"x": [1, "\\u00e9"]}', True, 3, dt.date(2026, 12, 7), 0.5),
        ("b", "null", False, 3, dt.date(2026, 12, 7), 1.0),  # None in a JSON column: JSON null (SQLAlchemy's)
        ("c", "[]", True, 3, dt.date(2026, 12, 7), 0.5),  # none_as_null: a SQL NULL
    ]
    one = _insert_many_sql(things, ("id", "key"), (), "", True)
    assert "unnest(" in one and one == _insert_many_sql(things, ("id", "key"), (), "", True)
    with pytest.raises(TypeError, match="array"):
        _insert_many_sql(
            sa.Table("arr", sa.MetaData(), sa.Column("tags", sa.ARRAY(sa.Text))), ("tags",), (), "", False
        )
