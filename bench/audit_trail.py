"""The audit trail: what recording costs the action that records, how fast the audit consumer appends,
and how long VerifyChain takes over a million records.

    .venv/bin/python -m bench.audit_trail [--record 2000 --append 30000 --tenants 10 --verify 1000000]

Starts its own embedded PostgreSQL (identity, progress and audit migrated) and nats-server, and runs
the real code in this process (no gRPC in between, so the figures are the trail's own cost):

- record: progress's class creation as its unit of work runs it (BEGIN with the tenant, the class
  insert, COMMIT), alternately without and with `audit.record(...)` staged in the same transaction;
  the difference of the p50s is what recording adds to the RPC. Target: <= 1 ms p50.
- append: `--append` AuditEvents of `--tenants` tenants published to the AUDIT stream first, then ONE
  ConsumerRunner with the audit context's own ConsumerSpec (services/audit/app.py: batch handler,
  AUDIT_APPEND_BATCH) appends them all to the chains; records/s from start to the last commit.
  Target: >= 3,000 records/s.
- verify: `--verify` records of one tenant appended (by the service's append, so the chain is real),
  then AuditService.verify_chain over all of them. Target: <= 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sys
import time
import types
import uuid
from datetime import UTC, datetime
from typing import Any

import nats
import psycopg

from bench.common import Figures, check, figures, report
from bench.common import run as bench_run
from services.audit import app as audit_app
from services.audit.domain import NewRecord
from services.audit.service import AuditService
from services.audit.settings import AuditConfig
from services.audit.signing import CheckpointSigner
from services.progress import store as progress_store
from services.runtime import audit, migrations, request_context
from services.runtime.contexts import Dependencies, load_contexts
from services.runtime.db import Database
from services.runtime.events.consumer import ConsumerRunner
from services.runtime.events.envelope import build_headers
from services.runtime.events.outbox import Outbox
from services.runtime.events.streams import ensure_streams
from services.runtime.local.natsd import NatsServer
from services.runtime.local.postgres import APP_ROLE, EmbeddedPostgres
from services.runtime.local.procs import free_port
from services.runtime.request_context import Principal, RequestContext
from services.runtime.testing import mesh_dir


async def record_cost(db: Database, n: int) -> tuple[Figures, Figures, float]:
    """p50 of the class-creating transaction without and with its audit record, interleaved."""
    tenant = str(uuid.uuid4())
    outbox = Outbox("progress", "progress")
    principal = Principal("bench-admin", tenant, frozenset({"admin"}))
    plain: list[float] = []
    recorded: list[float] = []

    async def once(with_record: bool) -> float:
        began = time.perf_counter()
        async with db.transaction(tenant) as session:
            made = await progress_store.create_class(session, tenant, "Bench class", [], [])
            if with_record:
                await audit.record(
                    outbox, session, "class.created", f"classes/{made.id}", after={"name": made.name}
                )
        return time.perf_counter() - began

    with request_context.bind(RequestContext("bench", principal=principal, tenant_id=tenant)):
        for _ in range(50):  # warm the pool and the statement caches
            await once(False)
            await once(True)
        began = time.monotonic()
        for i in range(n):  # A B B A ...: both see the same machine
            first = i % 2 == 0
            (plain if first else recorded).append(await once(not first))
            (recorded if first else plain).append(await once(first))
        elapsed = time.monotonic() - began
    without = figures("class created, no audit record", 1, plain, 0, elapsed / 2)
    with_ = figures("class created + audit.record", 1, recorded, 0, elapsed / 2)
    return without, with_, with_.p50_ms - without.p50_ms


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _event(tenant: str, i: int) -> tuple[bytes, dict[str, str]]:
    with request_context.bind(
        RequestContext(f"bench-{i}", principal=Principal(f"user-{i % 50}", tenant, frozenset({"admin"})))
    ):
        message = audit.event(
            "progress",
            "class.membership_changed",
            f"classes/{uuid.uuid4()}",
            tenant_id=tenant,
            before={"teacher_ids": ["t-1"]},
            after={"teacher_ids": ["t-1", "t-2"], "added_student_ids": [str(uuid.uuid4())]},
        )
    return message.SerializeToString(), build_headers(message, source="progress", tenant_id=tenant)


async def append_rate(db: Database, nats_url: str, superuser_dsn: str, n: int, tenants: int) -> Figures:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        await ensure_streams(js, [audit.STREAM])
        ids = [str(uuid.uuid4()) for _ in range(tenants)]
        for start in range(0, n, 2000):
            await asyncio.gather(
                *(
                    js.publish("audit.progress.class.membership_changed", data, headers=headers)
                    for data, headers in (
                        _event(ids[i % tenants], i) for i in range(start, min(n, start + 2000))
                    )
                )
            )
        deps = Dependencies(
            settings=types.SimpleNamespace(env={}, config={}),  # type: ignore[arg-type]
            db=db,
            outbox=Outbox("audit", "audit"),
        )
        hosted = await audit_app.build(deps)
        (spec,) = hosted.consumers
        runner = ConsumerRunner(spec, schema="audit", db=db, js=js)
        await runner.ensure()
        began = time.monotonic()
        task = asyncio.create_task(runner.run())
        appended = 0
        async with await psycopg.AsyncConnection.connect(superuser_dsn, autocommit=True) as su:
            while appended < n and time.monotonic() - began < 300:
                await asyncio.sleep(0.05)
                row = await (await su.execute("SELECT count(*) FROM audit.records")).fetchone()
                appended = int(row[0]) if row else 0
        elapsed = time.monotonic() - began
        runner.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 30)
    finally:
        await nc.close()
    result = figures(
        f"audit consumer: {n} events of {tenants} tenants, batch {spec.burst}",
        1,
        [0.0] * appended,
        n - appended,
        elapsed,
    )
    result.p50_ms = result.p99_ms = float("nan")
    return result


async def verify_time(db: Database, n: int) -> tuple[Figures, dict[str, object]]:
    tenant = str(uuid.uuid4())
    service = AuditService(db, AuditConfig(), CheckpointSigner())
    began = time.monotonic()
    for start in range(0, n, 10_000):
        batch = [
            NewRecord(
                id=str(uuid.uuid4()),
                tenant_id=tenant,
                context="identity",
                action="user.updated",
                resource=f"users/{uuid.uuid4()}",
                actor="bench-admin",
                actor_kind="user",
                correlation_id=uuid.uuid4().hex,
                occurred_at=datetime.now(UTC),
                before_json='{"disabled":false,"roles":["student"]}',
                after_json='{"changed":["roles"],"disabled":false,"roles":["student","teacher"]}',
                rpc="/learnflow.identity.v1.IdentityService/UpdateUser",
            )
            for _ in range(min(10_000, n - start))
        ]
        async with db.transaction(tenant) as session:
            await service.append(session, tenant, batch)
    filled = time.monotonic() - began
    sys.stderr.write(f"appended {n} records of one tenant in {filled:.0f} s; verifying...\n")
    operator = Principal("bench-operator", str(uuid.uuid4()), frozenset({"operator"}))
    began = time.monotonic()
    result = await service.verify_chain(operator, tenant, 0, 0)
    elapsed = time.monotonic() - began
    assert result.intact and result.records_checked == n, result
    out = figures(f"VerifyChain over {n} records of one tenant", 1, [elapsed], 0, elapsed)
    out.throughput = n / elapsed
    return out, {"verify_seconds": elapsed, "verify_records": n, "fill_seconds": filled}


async def measure(
    pg: EmbeddedPostgres, nats_url: str, args: argparse.Namespace
) -> tuple[list[Figures], dict[str, Any]]:
    db = Database(pg.app_url, pool_size=8)
    try:
        without, with_, delta = await record_cost(db, args.record)
        with_.target = "target: adds <=1ms p50"
        with_.verdict = "MET" if delta <= 1.0 else "MISSED"
        with_.name += f" (adds {delta:.3f} ms p50)"
        results = [without, with_]
        results.append(
            check(
                await append_rate(db, nats_url, _libpq(pg.superuser_url), args.append, args.tenants),
                throughput=3000,
            )
        )
        verified, extra = await verify_time(db, args.verify)
        verified.target = "target <=10s"
        verified.verdict = "MET" if extra["verify_seconds"] <= 10 else "MISSED"  # type: ignore[operator]
        results.append(verified)
        extra["record_adds_p50_ms"] = delta
        return results, extra
    finally:
        await db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--record", type=int, default=2000, help="transactions of each kind")
    parser.add_argument("--append", type=int, default=30_000, help="events the consumer appends")
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--verify", type=int, default=1_000_000, help="records VerifyChain recomputes")
    args = parser.parse_args()
    root = mesh_dir("learnflow-bench-audit-")
    pg = EmbeddedPostgres(root / "postgres", free_port())
    natsd = NatsServer(root / "nats", free_port(), free_port())
    sys.stderr.write("starting PostgreSQL and NATS...\n")
    try:
        pg.start()
        natsd.start()
        migrations.run(pg.superuser_url, APP_ROLE, load_contexts(["progress", "audit"]))
        results, extra = bench_run(measure(pg, natsd.url, args))
    finally:
        natsd.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
    report("audit_trail", results, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
