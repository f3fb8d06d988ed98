"""The consumer's prepare step on real NATS and PostgreSQL: prepared concurrently and outside the
transaction, its result reaches the handler, a failed prepare is retried, and with in_flight > 1 a
batch waiting on slow I/O does not hold up the next fetch."""

from __future__ import annotations

import asyncio
import uuid

import nats
from learnflow.identity.v1 import events_pb2, resources_pb2

from services.runtime.db import Database
from services.runtime.events.consumer import ConsumerRunner, ConsumerSpec
from services.runtime.events.envelope import build_headers


async def _run(mesh, spec_for, count: int, timeout: float = 15.0) -> list[object]:
    nc = await nats.connect(mesh.nats_url)
    js = nc.jetstream()
    tag = uuid.uuid4().hex[:8]
    stream, subject = f"PREPTEST_{tag}", f"preptest.{tag}"
    await js.add_stream(name=stream, subjects=[subject])
    applied: list[object] = []

    async def handle(event, session):
        applied.append(event.prepared)

    db = Database(mesh.database_url, pool_size=2)
    runner = ConsumerRunner(
        spec_for(f"preptest-{tag}", stream, subject, handle), schema="identity", db=db, js=js
    )
    await runner.ensure()
    task = asyncio.create_task(runner.run())
    try:
        for i in range(count):
            message = events_pb2.UserCreated(user=resources_pb2.User(id=str(i), email=f"u{i}@prep.test"))
            await js.publish(
                subject,
                message.SerializeToString(),
                headers=build_headers(message, source="test", tenant_id=None),
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(applied) < count and loop.time() < deadline:
            await asyncio.sleep(0.05)
        return applied
    finally:
        runner.stop()
        await task
        await js.delete_stream(stream)
        await db.dispose()
        await nc.close()


def test_prepare_runs_outside_and_its_result_reaches_the_handler(mesh):
    async def prepare(event):
        return f"prepared {event.message.user.email}"

    applied = asyncio.run(
        _run(mesh, lambda n, st, su, h: ConsumerSpec(n, st, su, h, prepare=prepare), count=3)
    )
    assert sorted(applied) == [f"prepared u{i}@prep.test" for i in range(3)]


def test_a_failed_prepare_is_retried_and_applied_once(mesh):
    calls: dict[str, int] = {}

    async def prepare(event):
        calls[event.id] = calls.get(event.id, 0) + 1
        if calls[event.id] == 1:
            raise ConnectionError("the model is down, for now")
        return calls[event.id]

    applied = asyncio.run(
        _run(
            mesh,
            lambda n, st, su, h: ConsumerSpec(n, st, su, h, prepare=prepare, backoff_base_seconds=0.1),
            count=1,
        )
    )
    assert applied == [2]


def test_with_two_in_flight_a_slow_batch_does_not_hold_up_the_next(mesh):
    """burst=1 makes each message its own batch; the two prepares can only both pass the barrier if
    the second batch is fetched while the first is still preparing."""
    both = asyncio.Barrier(2)

    async def prepare(event):
        await asyncio.wait_for(both.wait(), 10)
        return "together"

    applied = asyncio.run(
        _run(
            mesh,
            lambda n, st, su, h: ConsumerSpec(n, st, su, h, prepare=prepare, in_flight=2, burst=1),
            count=2,
        )
    )
    assert applied == ["together", "together"]
