"""The activity monitor: catch-up after downtime and the completeness audit.

    .venv/bin/python -m bench.activity_monitor [--backlog 10000 --audit 1000000]

Starts its own embedded PostgreSQL (activity migrated) with a demo LMS database beside it
(services/runtime/local/lms.py: the owner writes, the monitor reads with the read-only role) and runs
the real monitor in this process:

- catch-up: `--backlog` attempts already in the LMS (exam and content attempts in every state, as an
  LMS accumulates them while the monitor is down), then one poll from an empty cursor: the state
  machine, the events (2-3 per attempt), their outbox rows and the cursor, page by page. Attempts/s
  from the poll's start to its end. Target: >= 2,000 attempts/s.
- audit: `--audit` attempts in the LMS and the same rows in our state table (as if read), then one
  completeness audit (per-day, per-state counts and hashes on both sides). Target: <= 10 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from bench.common import Figures, cpu_seconds, figures, report
from bench.common import run as bench_run
from services.activity.lms import LmsReader
from services.activity.monitor import ActivityMonitor
from services.activity.settings import ActivityConfig
from services.runtime import migrations
from services.runtime.contexts import load_contexts
from services.runtime.db import Database
from services.runtime.events.outbox import Outbox
from services.runtime.local.lms import LmsUrls, create_lms_database
from services.runtime.local.postgres import APP_ROLE, EmbeddedPostgres
from services.runtime.local.procs import free_port
from services.runtime.testing import mesh_dir

# Exam attempts in every state, and content attempts: the mix an LMS accumulates.
BACKLOG_SQL = """
INSERT INTO attempts (student_id, exam_id, state, percentage, score, started_at, finished_at, updated_at)
SELECT 1 + i %% 4, 1 + i %% 3, (ARRAY['started','completed','passed','failed'])[1 + i %% 4], 70, 7,
       now() - interval '2 hours', now() - interval '1 hour', now() - interval '1 hour' + i * interval '1 ms'
FROM generate_series(1, %(n)s) AS i;
INSERT INTO contentattempts (student_id, content_id, state, percentage, updated_at)
SELECT 1 + i %% 4, 1 + i %% 3, (ARRAY['started','completed','watched'])[1 + i %% 3], 100,
       now() - interval '1 hour' + i * interval '1 ms'
FROM generate_series(1, %(m)s) AS i;
"""

# A million attempts over 40 days: the same rows on both sides (what a complete read leaves).
LMS_AUDIT_SQL = """
INSERT INTO attempts (id, student_id, exam_id, state, updated_at)
SELECT i, 1, 1, (ARRAY['started','completed','passed','failed'])[1 + i %% 4],
       %(base)s + i * interval '3 seconds'
FROM generate_series(1, %(n)s) AS i;
"""
OURS_AUDIT_SQL = """
INSERT INTO activity.attempts (lms, source, attempt_id, state, lms_state, lms_updated_at)
SELECT %(lms)s, 'attempts', i, s, s, %(base)s + i * interval '3 seconds'
FROM generate_series(1, %(n)s) AS i,
     LATERAL (SELECT (ARRAY['started','completed','passed','failed'])[1 + i %% 4] AS s) x;
"""


PG_PID = 0
BATCH = 1000  # LMS_ACTIVITY_BATCH_SIZE's default; --batch to try others


def _config(urls: LmsUrls, name: str, tenant: str) -> ActivityConfig:
    return ActivityConfig(
        monitor_enabled=True,
        lms_database_url=urls.reader,
        lms_name=name,
        lms_tenant_id=tenant,
        settle_lag=0,
        overlap=0,
        batch_size=BATCH,
    )


async def catch_up(db: Database, urls: LmsUrls, backlog: int) -> tuple[Figures, dict[str, Any]]:
    exams, contents = backlog * 2 // 3, backlog - backlog * 2 // 3
    with psycopg.connect(urls.owner_conninfo, autocommit=True) as conn:
        for statement in BACKLOG_SQL.split(";")[:2]:
            conn.execute(statement, {"n": exams, "m": contents})
    reader = LmsReader(urls.reader)
    monitor = ActivityMonitor(
        db, Outbox("activity", "activity"), reader, _config(urls, "bench", str(uuid.uuid4()))
    )
    roots = [os.getpid(), PG_PID]
    try:
        cpu_before = cpu_seconds(roots)
        began = time.perf_counter()
        result = await monitor.poll()
        took = time.perf_counter() - began
        cpu = cpu_seconds(roots) - cpu_before
    finally:
        await reader.dispose()
    fig = figures(
        "catch-up: LMS attempts -> stored events", 1, [took / max(result.read, 1)] * result.read, 0, took
    )
    fig.server_cpu_us = cpu / max(result.read, 1) * 1e6
    fig.target = "target >=2000 attempts/s"
    fig.verdict = "MET" if result.read / took >= 2000 and result.read == backlog else "MISSED"
    # The monitor is one pipeline (read a page, apply it): on an idle machine it runs at about
    # attempts / (CPU of this process + PostgreSQL), whatever else shares the cores now.
    return fig, {
        "catchup_attempts": result.read,
        "catchup_events": len(result.stored),
        "catchup_seconds": took,
        "catchup_cpu_seconds": cpu,
        "catchup_cpu_bound_attempts_per_second": result.read / cpu if cpu else None,
    }


async def audit(db: Database, pg: EmbeddedPostgres, urls: LmsUrls, n: int) -> tuple[Figures, dict[str, Any]]:
    name, tenant = "bench-audit", str(uuid.uuid4())
    base = datetime.now(UTC) - timedelta(days=60)
    with psycopg.connect(urls.owner_conninfo, autocommit=True) as conn:
        conn.execute("TRUNCATE attempts, contentattempts")
        conn.execute(LMS_AUDIT_SQL, {"n": n, "base": base})
        conn.execute("ANALYZE attempts")
    ours = pg.superuser_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(ours, autocommit=True) as conn:
        conn.execute(OURS_AUDIT_SQL, {"n": n, "base": base, "lms": name})
        conn.execute("ANALYZE activity.attempts")
    reader = LmsReader(urls.reader)
    monitor = ActivityMonitor(db, Outbox("activity", "activity"), reader, _config(urls, name, tenant))
    try:
        # The watermark the audit stops at: a poll's (it reads nothing new: every row is older and
        # the cursor is set past them).
        async with db.transaction(tenant) as session:
            from services.activity import store
            from services.activity.domain import Cursor

            for source in ("attempts", "contentattempts"):
                await store.advance_cursor(session, name, Cursor(source, datetime.now(UTC), 0))
        await monitor.poll()
        began = time.perf_counter()
        backfilled = await monitor.audit()
        took = time.perf_counter() - began
    finally:
        await reader.dispose()
    fig = figures(f"completeness audit over {n} attempts", 1, [took], 0, took)
    fig.target = "target <=10s"
    fig.verdict = "MET" if took <= 10 and backfilled == 0 else "MISSED"
    return fig, {"audit_rows": n, "audit_seconds": took, "audit_backfilled_days": backfilled}


async def measure(
    pg: EmbeddedPostgres, urls: LmsUrls, args: argparse.Namespace
) -> tuple[list[Figures], dict]:
    db = Database(pg.app_url, pool_size=4)
    try:
        caught, extra = await catch_up(db, urls, args.backlog)
        audited, more = await audit(db, pg, urls, args.audit)
        return [caught, audited], {**extra, **more}
    finally:
        await db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backlog", type=int, default=10_000, help="attempts waiting in the LMS")
    parser.add_argument("--audit", type=int, default=1_000_000, help="attempts the audit compares")
    parser.add_argument("--batch", type=int, default=1000, help="LMS_ACTIVITY_BATCH_SIZE")
    args = parser.parse_args()
    global BATCH  # a module setting for the measuring coroutines
    BATCH = args.batch
    root = mesh_dir("learnflow-bench-activity-")
    pg = EmbeddedPostgres(root / "postgres", free_port())
    sys.stderr.write("starting PostgreSQL...\n")
    try:
        pg.start()
        global PG_PID
        PG_PID = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
        migrations.run(pg.superuser_url, APP_ROLE, load_contexts(["activity"]))
        urls = create_lms_database(pg._psql, pg.port)
        results, extra = bench_run(measure(pg, urls, args))
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
    report("activity_monitor", results, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
