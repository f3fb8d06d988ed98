"""What a committing transaction that sends a NOTIFY costs PostgreSQL, by how many other connections
of the database are LISTENing (on other channels): PostgreSQL signals every listening backend of the
database at such a commit. A mesh has 13 listening connections (one per context's outbox relay and
job runner, services/runtime/db.py `listen`); docs/performance.md says what sharing one would save.

    .venv/bin/python -m bench.db_notify [--commits 3000] [--listeners 0 1 13 20]

Its own embedded PostgreSQL; the server's CPU from /proc (all its processes), per commit. Results in
bench/results/db_notify.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import time

import psycopg

from bench.common import RESULTS
from services.runtime.local.postgres import EmbeddedPostgres
from services.runtime.local.procs import free_port
from services.runtime.testing import mesh_dir


def server_cpu() -> float:
    """CPU seconds of every postgres process on the machine (the bench's server is the only one)."""
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"postgres" not in f.read():
                    continue
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            continue
    return total


async def main(commits: int, counts: list[int]) -> dict[int, dict[str, float]]:
    folder = mesh_dir("learnflow-bench-notify-")
    pg = EmbeddedPostgres(folder / "data", free_port())
    pg.start()
    dsn = pg.superuser_url.replace("postgresql+psycopg://", "postgresql://")
    out: dict[int, dict[str, float]] = {}
    try:
        for n in counts:
            listeners = []
            for i in range(n):
                conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
                await conn.execute(f"LISTEN channel_{i}")
                listeners.append(conn)
            writer = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
            cpu, wall = server_cpu(), time.perf_counter()
            for _ in range(commits):
                await writer.execute("BEGIN")
                await writer.execute("SELECT pg_notify('elsewhere', '')")
                await writer.execute("COMMIT")
            out[n] = {
                "server_cpu_us": (server_cpu() - cpu) / commits * 1e6,
                "wall_us": (time.perf_counter() - wall) / commits * 1e6,
            }
            print(
                f"{n:3d} listening: PostgreSQL CPU {out[n]['server_cpu_us']:6.0f} us, "
                f"commit round trip {out[n]['wall_us']:6.0f} us per notifying commit"
            )
            await writer.close()
            for conn in listeners:
                await conn.close()
    finally:
        pg.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return out


def run() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--commits", type=int, default=3000)
    parser.add_argument("--listeners", type=int, nargs="+", default=[0, 1, 13, 20])
    args = parser.parse_args()
    out = asyncio.run(main(args.commits, args.listeners))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "db_notify.json"
    path.write_text(json.dumps({str(k): v for k, v in out.items()}, indent=2))
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run())
