"""The client CPU of one statement in a unit of work, by the way it is sent: SQLAlchemy Core built per
call, SQLAlchemy compiled once, and psycopg directly on the same connection (db.run_sql, the way the
statements every event, job and message runs are sent); and a transaction's BEGIN + COMMIT both ways.

    .venv/bin/python -m bench.db_statement [--n 2000]

Its own embedded PostgreSQL; CPU is this process's (time.process_time), wall time beside it. The
statement is an INSERT ... RETURNING of one row into a three-column table. Results in
bench/results/db_statement.json.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa

from bench.common import RESULTS
from services.runtime.db import Database, _driver, run_sql
from services.runtime.local.postgres import EmbeddedPostgres
from services.runtime.local.procs import free_port
from services.runtime.testing import mesh_dir

SQL = "INSERT INTO bench_t (id, a, n) VALUES (%(id)s, %(a)s, %(n)s) RETURNING id"


async def measure(n: int, what: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    for _ in range(min(n, 200)):  # warm: psycopg prepares a statement after its fifth use
        await what()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        await what()
    return (time.process_time() - cpu) / n * 1e6, (time.perf_counter() - wall) / n * 1e6


async def main(n: int) -> dict[str, tuple[float, float]]:
    folder = mesh_dir("learnflow-bench-db-")
    pg = EmbeddedPostgres(folder / "data", free_port())
    pg.start()
    try:
        db = Database(pg.superuser_url, pool_size=2)
        md = sa.MetaData()
        t = sa.Table(
            "bench_t",
            md,
            sa.Column("id", sa.Uuid, primary_key=True),
            sa.Column("a", sa.Text),
            sa.Column("n", sa.Integer),
        )
        prebuilt = sa.insert(t).values(id=sa.bindparam("id"), a=sa.bindparam("a"), n=sa.bindparam("n"))
        prebuilt = prebuilt.returning(t.c.id)
        out: dict[str, tuple[float, float]] = {}
        async with db.engine.connect() as conn:
            await conn.run_sync(md.create_all)

            async def built() -> Any:
                statement = sa.insert(t).values(id=uuid.uuid4(), a="x", n=1).returning(t.c.id)
                return (await conn.execute(statement)).all()

            async def compiled() -> Any:
                return (await conn.execute(prebuilt, {"id": uuid.uuid4(), "a": "x", "n": 1})).all()

            async def direct() -> Any:
                return await run_sql(conn, SQL, {"id": uuid.uuid4(), "a": "x", "n": 1})

            async def begin_commit_sa() -> None:
                await conn.exec_driver_sql("BEGIN")
                await conn.exec_driver_sql("COMMIT")

            async def begin_commit_direct() -> None:
                await _driver(conn).execute("BEGIN", prepare=False)
                await _driver(conn).execute("COMMIT", prepare=False)

            for name, fn in (
                ("INSERT ... RETURNING, SQLAlchemy Core built per call", built),
                ("INSERT ... RETURNING, SQLAlchemy Core compiled once", compiled),
                ("INSERT ... RETURNING, psycopg directly (db.run_sql)", direct),
                ("BEGIN + COMMIT through SQLAlchemy", begin_commit_sa),
                ("BEGIN + COMMIT through psycopg", begin_commit_direct),
            ):
                out[name] = await measure(n, fn)
                print(f"{name:<55} CPU {out[name][0]:6.0f} us   wall {out[name][1]:6.0f} us")
        await db.dispose()
        return out
    finally:
        pg.stop()
        shutil.rmtree(folder, ignore_errors=True)


def run() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2000, help="executions of each (after 200 to warm up)")
    args = parser.parse_args()
    out = asyncio.run(main(args.n))
    import json

    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "db_statement.json"
    path.write_text(json.dumps({k: {"cpu_us": v[0], "wall_us": v[1]} for k, v in out.items()}, indent=2))
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run())
