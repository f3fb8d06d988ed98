"""Outbox -> JetStream -> consumer latency at a steady rate.

    .venv/bin/python -m bench.event_latency [--rate 500] [--duration 20]

Starts its own mesh (the relay runs inside `learnflow serve`). A writer process commits one event per
transaction through the runtime's Outbox at --rate events/s (as a service would); this process runs a
durable pull consumer (the runtime's ConsumerRunner: inbox row + handler in one transaction, then
ack), as a consumer pod would. Latency is from the
event's ce-time (stamped when it is staged, before commit) to the handler. Target (issue #2):
p50 <= 20 ms, p99 <= 100 ms at 500 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import datetime

import nats
from learnflow.identity.v1 import events_pb2, resources_pb2

from bench.common import check, figures, report, with_bare
from bench.common import run as bench_run
from services.runtime.db import Database
from services.runtime.events.consumer import ConsumerRunner, ConsumerSpec
from services.runtime.events.outbox import Outbox
from services.runtime.testing import mesh_dir, new_mesh

WARMUP = 2.0
TENANT = "00000000-0000-0000-0000-000000000000"


async def produce(database_url: str, rate: float, duration: float) -> None:
    """The writer: one event per committed transaction, paced at `rate`."""
    db = Database(database_url, pool_size=20)
    outbox = Outbox("identity", "identity")
    message = events_pb2.UserUpdated(user=resources_pb2.User(id="bench"), changed_fields=["bench"])
    inflight: set[asyncio.Task[None]] = set()

    async def stage_one() -> None:
        async with db.transaction(tenant_id=TENANT) as session:
            await outbox.stage(session, "identity.bench.ping", message, tenant_id=TENANT)

    sent = 0
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < WARMUP + duration:
        while sent < int(elapsed * rate):
            task = asyncio.create_task(stage_one())
            inflight.add(task)
            task.add_done_callback(inflight.discard)
            sent += 1
        await asyncio.sleep(0.002)
    await asyncio.gather(*inflight)
    await db.dispose()


async def consume(mesh, rate: float, duration: float):
    db = Database(mesh.database_url, pool_size=5)
    nc = await nats.connect(mesh.nats_url)
    latencies: list[float] = []
    measuring_from = float("inf")

    async def handle(event, session) -> None:
        staged = datetime.fromisoformat(event.time.replace("Z", "+00:00")).timestamp()
        if staged >= measuring_from:
            latencies.append(time.time() - staged)

    runner = ConsumerRunner(
        ConsumerSpec(
            name="bench-latency", stream="IDENTITY", filter_subject="identity.bench.>", handler=handle
        ),
        schema="identity",
        db=db,
        js=nc.jetstream(),
    )
    await runner.ensure()
    consumer = asyncio.create_task(runner.run())
    writer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.event_latency",
        "--produce",
        mesh.database_url,
        "--rate",
        str(rate),
        "--duration",
        str(duration),
    )
    measuring_from = time.time() + WARMUP + 0.5  # the writer's own start-up, then its warm-up
    errors = await writer.wait()
    deadline = time.monotonic() + 10
    while len(latencies) < duration * rate * 0.99 and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    runner.stop()
    await consumer
    await nc.close()
    await db.dispose()
    result = figures(f"outbox->consumer @{rate:.0f}/s", 1, latencies, errors, duration)
    result.paced = True
    return check(result, p50_ms=20, p99_ms=100)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--produce", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.produce:
        asyncio.run(produce(args.produce, args.rate, args.duration))
        return 0
    mesh = new_mesh(mesh_dir("learnflow-bench-"), LOG_LEVEL="WARNING")
    sys.stderr.write("starting the mesh...\n")
    try:  # a failed start still stops what it started
        mesh.start_infra()
        mesh.start_server()
        results = bench_run(with_bare(consume(mesh, args.rate, args.duration)))
    finally:
        mesh.stop()
    report("event_latency", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
