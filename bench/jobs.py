"""Durable jobs: claim-and-complete throughput of one process, and how soon a job due now starts.

    .venv/bin/python -m bench.jobs [--jobs 20000 --rate 1000 --seconds 10 --concurrency 32]

Starts its own embedded PostgreSQL with progress's migrations (the job table) and runs ONE JobRunner
(services/runtime/jobs.py) in this process, with a handler that does nothing, so the figures are the
runtime's own cost: claim, the completing transaction, the outcome. Targets (platform issue, part 5):
- >= 1,000 jobs/s claimed and completed by one process;
- a job due now starts within 100 ms p95 at that rate (enqueued by a producer committing a batch every
  10 ms, woken by LISTEN/NOTIFY; latency = handler start - enqueue).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import sys
import time
import uuid

import psycopg
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.common import Figures, check, figures, percentile, report
from bench.common import run as bench_run
from services.runtime import migrations
from services.runtime.contexts import load_contexts
from services.runtime.db import Database
from services.runtime.jobs import Job, JobKind, JobQueue, JobRunner
from services.runtime.local.postgres import APP_ROLE, EmbeddedPostgres
from services.runtime.local.procs import free_port
from services.runtime.testing import mesh_dir

TENANT = str(uuid.uuid4())


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _with_p95(result: Figures, latencies: list[float]) -> Figures:
    """The latency target is a p95: shown beside p50/p99 in the name, checked in the p99 column."""
    p95 = percentile(latencies, 0.95) * 1000
    result.name += f" (p95 {p95:.1f} ms)"
    return result


async def throughput(pg: EmbeddedPostgres, count: int, concurrency: int, batch: int) -> Figures:
    """`count` jobs already due; one runner takes them all; jobs/s from the first claim to the last."""
    kind = f"bench-{uuid.uuid4().hex[:6]}"
    db = Database(pg.app_url, pool_size=concurrency)
    done = asyncio.Event()
    finished = 0

    async def handle(job: Job, session: AsyncConnection) -> None:
        nonlocal finished
        finished += 1
        if finished >= count:
            done.set()

    try:
        queue = JobQueue("progress")
        for start in range(0, count, 1000):
            async with db.transaction(tenant_id="") as s:
                await queue.enqueue_many(
                    s, kind, [(TENANT, None, {}) for _ in range(min(1000, count - start))]
                )
        runner = JobRunner(
            "progress", db, [JobKind(kind, handle, batch=batch)], concurrency=concurrency, poll_interval=0.05
        )
        began = time.monotonic()
        task = asyncio.create_task(runner.run())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 300)
        elapsed = time.monotonic() - began
        runner.stop()
        await task
    finally:
        await db.dispose()
    result = figures(
        f"{count} due jobs, batch {batch}", concurrency, [0.0] * finished, count - finished, elapsed
    )
    result.p50_ms = result.p99_ms = float("nan")
    return result


async def latency(
    pg: EmbeddedPostgres, rate: float, seconds: float, concurrency: int, batch: int
) -> tuple[Figures, list[float]]:
    """A producer commits rate/100 jobs every 10 ms (payload: when it enqueued them); the runner
    wakes on NOTIFY; each handler records how long after its enqueue it started."""
    kind = f"bench-{uuid.uuid4().hex[:6]}"
    db = Database(pg.app_url, pool_size=concurrency)
    latencies: list[float] = []

    async def handle(job: Job, session: AsyncConnection) -> None:
        latencies.append(time.time() - job.payload["t"])

    runner = JobRunner(
        "progress",
        db,
        [JobKind(kind, handle, batch=batch)],
        concurrency=concurrency,
        listen_dsn=_libpq(pg.app_url),
    )
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(0.5)  # listening
    per_tick = max(1, round(rate / 100))
    total = int(rate * seconds)
    sql = (
        "INSERT INTO progress.jobs (id, tenant_id, kind, payload, max_attempts) "
        "SELECT gen_random_uuid(), %s, %s, jsonb_build_object('t', %s::float8), 20 "
        "FROM generate_series(1, %s)"
    )
    began = time.monotonic()
    sent = 0
    try:
        async with await psycopg.AsyncConnection.connect(_libpq(pg.app_url), autocommit=True) as producer:
            tick = 0
            while sent < total:
                n = min(per_tick, total - sent)
                await producer.execute(sql, (TENANT, kind, time.time(), n))
                sent += n
                tick += 1
                await asyncio.sleep(max(0.0, began + tick * 0.01 - time.monotonic()))
        deadline = time.monotonic() + 30
        while len(latencies) < total and time.monotonic() < deadline:  # noqa: ASYNC110 (a plain wait)
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - began
    finally:
        runner.stop()
        await task
        await db.dispose()
    result = figures(
        f"due now -> handler @{rate:.0f}/s batch {batch}",
        concurrency,
        latencies,
        total - len(latencies),
        elapsed,
    )
    return _with_p95(result, latencies), latencies


async def measure(pg: EmbeddedPostgres, args: argparse.Namespace) -> tuple[list[Figures], dict[str, object]]:
    """Both ways a kind can run: one job per transaction (the default, for handlers with outside
    effects) and batches of one tenant's jobs per transaction (JobKind.batch, database-only work)."""
    results: list[Figures] = []
    extra: dict[str, object] = {}
    for batch in (1, args.batch):
        results.append(check(await throughput(pg, args.jobs, args.concurrency, batch), throughput=1000))
        lat, samples = await latency(pg, args.rate, args.seconds, args.concurrency, batch)
        p50, p95, p99 = (percentile(samples, q) * 1000 for q in (0.5, 0.95, 0.99))
        lat.target = "target p95<=100ms"
        lat.verdict = "MET" if p95 <= 100 and lat.errors == 0 else "MISSED"
        results.append(lat)
        extra[f"latency_batch_{batch}"] = {"p50_ms": p50, "p95_ms": p95, "p99_ms": p99}
    return results, extra


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32, help="JobKind.batch of the second run")
    args = parser.parse_args()
    root = mesh_dir("learnflow-bench-jobs-")
    pg = EmbeddedPostgres(root / "postgres", free_port())
    sys.stderr.write("starting PostgreSQL...\n")
    try:
        pg.start()
        migrations.run(pg.superuser_url, APP_ROLE, load_contexts(["progress"]))
        results, extra = bench_run(measure(pg, args))
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
    report("jobs", results, extra)
    sys.stdout.write(json.dumps(extra) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
