"""notify's delivery engine: accepted -> first attempt latency, deliveries/s through one process, and a
100/min limit held across two replicas.

    .venv/bin/python -m bench.notify_delivery [--count 5000 --rate 200 --seconds 10 --limit-seconds 75]

Starts its own embedded PostgreSQL with notify's migrations and runs the engine in this process
(NotifyService + the runtime's JobRunner woken by LISTEN/NOTIFY), with a channel that answers at once
(a Channel implemented here: the figures are the engine's cost, not a provider's). Targets (issue 11):
- accepted -> first delivery attempt p95 <= 30 ms at 200 messages/s;
- >= 1,000 deliveries/s through one process to a provider without limits;
- with a 100/min limit, not one message more than 100 in any 60 s window, across two replicas (two
  engines with their own pools and runners on the same database, sharing only notify.rate_limits).
Messages are platform messages (send_system): the same log, jobs, limits and events as SendMessage
without identity in the loop.
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
from collections.abc import Callable

from bench.common import Figures, figures, percentile, report
from bench.common import run as bench_run
from services.notify.channels.base import BodyFormat, Outgoing, ReadStatus, Sent
from services.notify.service import NotifyService
from services.notify.settings import NotifyConfig
from services.runtime import migrations
from services.runtime.contexts import load_contexts
from services.runtime.db import Database
from services.runtime.events.outbox import Outbox
from services.runtime.jobs import JobRunner
from services.runtime.local.postgres import APP_ROLE, EmbeddedPostgres
from services.runtime.local.procs import free_port
from services.runtime.ratelimit import SharedRateLimiter
from services.runtime.settings import read
from services.runtime.testing import mesh_dir


class InstantChannel:
    """A provider that accepts every message at once and notes when each arrived."""

    body_format: BodyFormat = "text"
    max_length = 10_000
    supports_read_receipts = False

    def __init__(self, name: str, on_send: Callable[[Outgoing], object]):
        self.name = name
        self.on_send = on_send

    async def send(self, message: Outgoing) -> Sent:
        self.on_send(message)
        return Sent(str(message.delivery_id))

    async def resolve(self, email: str) -> str | None:
        return email or f"{self.name}-target"

    async def read_status(self, message: Outgoing, sent: Sent) -> ReadStatus:
        return ReadStatus(None)

    async def aclose(self) -> None:
        return None


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _engine(pg: EmbeddedPostgres, channel: InstantChannel, env: dict[str, str], concurrency: int):
    db = Database(pg.app_url, pool_size=concurrency + 4)
    service = NotifyService(
        db,
        Outbox("notify", "notify"),
        read(NotifyConfig, env),
        channels={channel.name: channel},
        limiter=SharedRateLimiter(db, "notify"),
    )
    runner = JobRunner(
        "notify",
        db,
        service.kinds,
        concurrency=concurrency,
        listen_dsn=_libpq(pg.app_url),
        poll_interval=0.05,
    )
    return db, service, runner


async def latency(
    pg: EmbeddedPostgres, rate: float, seconds: float, concurrency: int
) -> tuple[Figures, list[float]]:
    """send_system at `rate`/s (each its own transaction, like SendMessage); latency = the channel's
    send() call - the moment send_system returned (the message accepted and committed)."""
    accepted: dict[uuid.UUID, float] = {}
    attempted: dict[uuid.UUID, float] = {}
    # The runner may call the channel before send_system has returned to its caller (it is woken at
    # commit): both moments are noted and matched afterwards.
    channel = InstantChannel("instant", lambda m: attempted.setdefault(m.delivery_id, time.perf_counter()))
    db, service, runner = _engine(pg, channel, {}, concurrency)
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(0.5)
    total = int(rate * seconds)
    began = time.perf_counter()
    pending: set[asyncio.Task[None]] = set()

    async def one(i: int) -> None:
        d = await service.send_system(
            channel="instant", subject="s", body=f"message {i}", idempotency_key=f"lat-{uuid.uuid4()}"
        )
        accepted[d.id] = time.perf_counter()

    try:
        for i in range(total):
            t = asyncio.create_task(one(i))
            pending.add(t)
            t.add_done_callback(pending.discard)
            await asyncio.sleep(max(0.0, began + (i + 1) / rate - time.perf_counter()))
        deadline = time.monotonic() + 30
        while len(attempted) < total and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - began
    finally:
        runner.stop()
        await task
        await db.dispose()
    latencies = [max(attempted[i] - accepted[i], 0.0) for i in accepted if i in attempted]
    result = figures(
        f"accepted -> first attempt @{rate:.0f}/s", concurrency, latencies, total - len(latencies), elapsed
    )
    result.paced = True
    return result, latencies


async def throughput(pg: EmbeddedPostgres, count: int, concurrency: int) -> Figures:
    """`count` messages accepted first (runner stopped), then one runner delivers them all."""
    done = asyncio.Event()
    sent = 0

    def on_send(_: Outgoing) -> None:
        nonlocal sent
        sent += 1
        if sent >= count:
            done.set()

    channel = InstantChannel("bulk", on_send)
    db, service, runner = _engine(pg, channel, {}, concurrency)
    try:
        sem = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            async with sem:
                await service.send_system(
                    channel="bulk", subject="s", body=f"m{i}", idempotency_key=f"bulk-{uuid.uuid4()}"
                )

        await asyncio.gather(*(one(i) for i in range(count)))
        began = time.monotonic()
        task = asyncio.create_task(runner.run())
        with contextlib.suppress(TimeoutError):  # what was not sent in time counts as errors
            await asyncio.wait_for(done.wait(), 600)
        elapsed = time.monotonic() - began
        runner.stop()
        await task
    finally:
        await db.dispose()
    result = figures(
        f"{count} accepted deliveries, one runner", concurrency, [0.0] * sent, count - sent, elapsed
    )
    result.p50_ms = result.p99_ms = float("nan")
    return result


async def limited(pg: EmbeddedPostgres, seconds: float, messages: int) -> dict[str, object]:
    """Two replicas share NOTIFY_MOODLE_PER_MINUTE=100 for `seconds`; the most sent in any 60 s window."""
    stamps: list[float] = []
    replicas = [
        _engine(pg, InstantChannel("moodle", lambda m: stamps.append(time.monotonic())), {}, 8)
        for _ in range(2)
    ]
    _, first, _ = replicas[0]
    for i in range(messages):
        await first.send_system(
            channel="moodle", subject="s", body=f"m{i}", idempotency_key=f"lim-{uuid.uuid4()}"
        )
    tasks = [asyncio.create_task(r.run()) for _, _, r in replicas]
    await asyncio.sleep(seconds)
    for _, _, r in replicas:
        r.stop()
    await asyncio.gather(*tasks)
    for db, _, _ in replicas:
        await db.dispose()
    stamps.sort()
    most = 0
    j = 0
    for i, t in enumerate(stamps):  # the window starting at each send
        while j < len(stamps) and stamps[j] < t + 60:
            j += 1
        most = max(most, j - i)
    return {
        "limit_per_minute": 100,
        "replicas": 2,
        "seconds": seconds,
        "sent": len(stamps),
        "most_in_any_60s": most,
    }


async def measure(pg: EmbeddedPostgres, args: argparse.Namespace) -> tuple[list[Figures], dict[str, object]]:
    results: list[Figures] = []
    lat, samples = await latency(pg, args.rate, args.seconds, args.concurrency)
    p50, p95, p99 = (percentile(samples, q) * 1000 for q in (0.5, 0.95, 0.99))
    lat.name += f" (p95 {p95:.1f} ms)"
    lat.target = "target p95<=30ms"
    lat.verdict = "MET" if p95 <= 30 and lat.errors == 0 else "MISSED"
    results.append(lat)
    bulk = await throughput(pg, args.count, args.concurrency)
    bulk.target = "target >=1000/s"
    bulk.verdict = "MET" if bulk.throughput >= 1000 and bulk.errors == 0 else "MISSED"
    results.append(bulk)
    extra: dict[str, object] = {
        "latency_ms": {"p50": p50, "p95": p95, "p99": p99},
        "throughput": bulk.throughput,
    }
    if args.limit_seconds > 0:
        held = await limited(pg, args.limit_seconds, args.limit_messages)
        held["verdict"] = "MET" if held["most_in_any_60s"] <= 100 else "MISSED"  # type: ignore[operator]
        extra["limit"] = held
    return results, extra


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--limit-seconds", type=float, default=75.0, help="0 skips the two-replica limit run")
    parser.add_argument("--limit-messages", type=int, default=300)
    args = parser.parse_args()
    root = mesh_dir("learnflow-bench-notify-")
    pg = EmbeddedPostgres(root / "postgres", free_port())
    sys.stderr.write("starting PostgreSQL...\n")
    try:
        pg.start()
        migrations.run(pg.superuser_url, APP_ROLE, load_contexts(["notify"]))
        results, extra = bench_run(measure(pg, args))
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
    report("notify_delivery", results, extra)
    sys.stdout.write(json.dumps(extra) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
