"""interventions' decision stage alone, the one-signal path against the consumers' set-based one, on
the same machine in the same minute (so a loaded machine slows both alike):

    .venv/bin/python -m bench.interventions_decide [--signals 3000] [--batch 16] [--in-flight 4]

Its own embedded PostgreSQL with interventions' migrations, `InterventionsService` in this process,
no NATS and no gRPC. Each path decides the same script of struggle.detected signals (review_concept
with no cool-down and the cap raised, so every signal is one sent decision with its event and delivery
job, as in bench.interventions_pipeline) for 20 students, `--in-flight` transactions at once:

- one by one: a transaction per signal through `evaluate` (what each consumed event cost before the
  batch handler; the consumer applied them one after another in its batch's transaction);
- batched: a transaction per `--batch` signals through `evaluate_batch` (the consumers now).

Reported per path: signals decided per second, and this process's CPU per signal (the Python side:
SQLAlchemy, the driver, the engine; PostgreSQL's own CPU is not in it). Results in
bench/results/interventions_decide.json.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import figures, report
from services.interventions.domain.engine import Signal
from services.interventions.folder import PolicyFolder
from services.interventions.service import InterventionsService, SlaTracker
from services.interventions.settings import InterventionsConfig
from services.runtime.db import Database
from services.runtime.events.outbox import Outbox
from services.runtime.jobs import JobQueue
from services.runtime.testing import mesh_dir, migrated_postgres

POLICIES = Path(__file__).resolve().parent.parent / "policies"


class Nobody:
    async def deliver(self, delivery: object) -> object:
        raise AssertionError("the bench runs no delivery job")


def service(db: Database) -> InterventionsService:
    folder = mesh_dir("learnflow-bench-decide-")
    review = (
        (POLICIES / "review_concept.md").read_text().replace("cooldown_minutes: 120", "cooldown_minutes: 0")
    )
    (folder / "review_concept.md").write_text(review)
    policies = PolicyFolder(folder)
    policies.scan()
    return InterventionsService(
        db,
        Outbox("interventions", "interventions"),
        InterventionsConfig(policies_dir=str(folder), daily_cap=100_000),
        folder=policies,
        jobs=JobQueue("interventions"),
        deliverer=Nobody(),  # type: ignore[arg-type]
        sla=SlaTracker(180, 3600, lambda tenant, ratio: None),
    )


def script(tenant: str, n: int) -> list[Signal]:
    students = [str(uuid.uuid4()) for _ in range(20)]
    start = datetime.now(UTC)
    return [
        Signal(
            id=str(uuid.uuid4()),
            tenant_id=tenant,
            student_id=students[i % len(students)],
            kind="struggle.detected",
            occurred_at=start + timedelta(milliseconds=10 * i),
            topic="variables",
            key="NameError",
            rule="repeated_error",
            error="NameError",
            severity="medium",
            explanation="NameError 3 times in 7 minutes",
            source=f"event:{uuid.uuid4()}",
        )
        for i in range(n)
    ]


async def one_by_one(svc: InterventionsService, signals: list[Signal], in_flight: int) -> None:
    queue = iter(signals)

    async def worker() -> None:
        for signal in queue:
            await svc.evaluate(signal)

    await asyncio.gather(*(worker() for _ in range(in_flight)))


async def batched(svc: InterventionsService, signals: list[Signal], batch: int, in_flight: int) -> None:
    queue = iter([signals[i : i + batch] for i in range(0, len(signals), batch)])

    async def worker() -> None:
        for group in queue:
            async with svc.db.transaction(group[0].tenant_id) as session:
                await svc.evaluate_batch(session, group)

    await asyncio.gather(*(worker() for _ in range(in_flight)))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--signals", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--in-flight", type=int, default=4)
    args = parser.parse_args()
    results = []
    extra: dict[str, object] = {}
    with migrated_postgres("interventions") as pg:

        async def run() -> None:
            db = Database(pg.app_url, pool_size=args.in_flight + 2)
            try:
                svc = service(db)
                warm = str(uuid.uuid4())
                await one_by_one(svc, script(warm, 50), args.in_flight)
                await batched(svc, script(warm, 50), args.batch, args.in_flight)
                # Alternating rounds, so both paths meet the same moments of a shared machine.
                for round_ in range(2):
                    for label in ("one by one", f"batches of {args.batch}"):
                        signals = script(str(uuid.uuid4()), args.signals // 2)
                        cpu, wall = time.process_time(), time.perf_counter()
                        if label == "one by one":
                            await one_by_one(svc, signals, args.in_flight)
                        else:
                            await batched(svc, signals, args.batch, args.in_flight)
                        wall = time.perf_counter() - wall
                        cpu = time.process_time() - cpu
                        key = f"{label} round {round_ + 1}"
                        extra[f"{key}: signals/s"] = round(len(signals) / wall, 1)
                        extra[f"{key}: cpu ms/signal"] = round(cpu / len(signals) * 1000, 3)
                        f = figures(
                            f"decide {len(signals)} signals, {label}", args.in_flight, [wall], 0, wall
                        )
                        per = cpu / len(signals) * 1000
                        f.target = f"{len(signals) / wall:.0f} signals/s, {per:.2f} ms CPU/signal"
                        results.append(f)
            finally:
                await db.dispose()

        asyncio.run(run())
    report("interventions_decide", results, extra)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
