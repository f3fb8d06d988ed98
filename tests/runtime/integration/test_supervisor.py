"""The supervisor in-process, on the shared mesh's PostgreSQL and NATS: a crashing worker is logged
once per crash with its traceback, restarted with backoff and counted, and its context is not ready
while it waits; a consumer with pending work and no progress is reported stalled with the numbers;
a singleton lease is held by one runner at a time and taken over within seconds when its holder dies
or its session is cut."""

from __future__ import annotations

import asyncio
import logging
import uuid

import nats
import psycopg
from learnflow.identity.v1 import events_pb2, resources_pb2
from prometheus_client import REGISTRY

from services.runtime.db import Database
from services.runtime.events.consumer import ConsumerRunner, ConsumerSpec
from services.runtime.events.envelope import build_headers
from services.runtime.supervisor import SingletonLease, Supervisor


async def _until(predicate, timeout: float, what: str) -> float:
    """Waits until predicate() is true; returns the seconds it took."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    while not predicate():
        if loop.time() - began > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.02)
    return loop.time() - began


def _restarts(worker: str, context: str) -> float:
    value = REGISTRY.get_sample_value(
        "learnflow_worker_restarts_total", {"worker": worker, "context": context}
    )
    return value or 0.0


def _supervised(runner: ConsumerRunner) -> Supervisor:
    """A running supervisor with this consumer as one of identity's workers, with its stall probe."""
    sup = Supervisor()
    name = f"consumer-{runner.spec.name}"
    sup.add(name, "identity", runner.run, kind="consumer", stop=runner.stop, check=runner.check)
    sup.start()
    return sup


async def _publish_user(js, subject: str, i: int) -> None:
    message = events_pb2.UserCreated(user=resources_pb2.User(id=str(i), email=f"s{i}@stall.test"))
    headers = build_headers(message, source="t", tenant_id=None)
    await js.publish(subject, message.SerializeToString(), headers=headers)


def test_a_crashing_worker_is_logged_once_restarted_counted_and_reported(caplog):
    name = f"flaky-{uuid.uuid4().hex[:6]}"

    async def main() -> None:
        calls = 0
        steady = asyncio.Event()

        async def flaky() -> None:
            nonlocal calls
            calls += 1
            if calls <= 2:
                raise RuntimeError(f"boom {calls}")
            if calls == 3:
                return  # ending without being asked to is a crash too
            steady.set()
            await asyncio.Event().wait()  # from the fourth run on, it keeps running

        sup = Supervisor(backoff_initial=0.2, backoff_max=0.4)
        worker = sup.add(name, "somecontext", flaky, kind="job")
        sup.start()
        # While it waits to restart, its context is not ready, with the crash as the reason.
        await _until(lambda: worker.state == "restarting", 2, "first crash")
        assert "boom 1" in sup.not_ready()["somecontext"]
        await _until(steady.is_set, 5, "steady run")
        assert worker.state == "running" and sup.not_ready() == {}
        assert worker.restarts == 3 and _restarts(name, "somecontext") == 3
        # A worker registered after start starts at once; stopping ends both promptly.
        late = sup.add(f"{name}-late", "other", asyncio.Event().wait, kind="job")
        await _until(lambda: late.state == "running", 1, "late worker")
        sup.request_stop()
        await asyncio.wait_for(sup.join(grace=2), 3)
        assert worker.state == "stopped" and late.state == "stopped" and calls == 4

    with caplog.at_level(logging.INFO, logger="services.runtime.supervisor"):
        asyncio.run(main())
    crashes = [r for r in caplog.records if r.getMessage() == "worker crashed; restarting"]
    assert [str(r.exc_info[1]) for r in crashes] == ["boom 1", "boom 2"]  # once each, with traceback
    assert sum(r.getMessage() == "worker ended unexpectedly; restarting" for r in caplog.records) == 1


def test_a_consumer_with_pending_work_and_no_progress_is_reported_stalled(mesh):
    async def main() -> None:
        nc = await nats.connect(mesh.nats_url)
        js = nc.jetstream()
        tag = uuid.uuid4().hex[:8]
        stream, subject = f"STALLTEST_{tag}", f"stalltest.{tag}"
        await js.add_stream(name=stream, subjects=[subject])
        release = asyncio.Event()
        applied: list[str] = []

        async def handle(event, session) -> None:
            await release.wait()  # stuck, e.g. on a lock another transaction holds
            applied.append(event.id)

        db = Database(mesh.database_url, pool_size=2)
        spec = ConsumerSpec(f"stalltest-{tag}", stream, subject, handle, burst=1)
        runner = ConsumerRunner(spec, schema="identity", db=db, js=js, stall_seconds=1.0)
        sup = _supervised(runner)
        try:
            for i in range(3):
                await _publish_user(js, subject, i)
            reasons: dict[str, str] = {}

            async def poll() -> None:
                while "identity" not in reasons:
                    await sup.check()
                    reasons.update(sup.not_ready())
                    await asyncio.sleep(0.1)

            await asyncio.wait_for(poll(), 10)
            reason = reasons["identity"]
            assert reason.startswith(f"consumer {spec.name}: ") and "no progress for" in reason, reason
            assert "2 pending, 1 unacknowledged" in reason, reason
            assert "(applying a batch of 1 for " in reason, reason  # where it is stuck
            pending = REGISTRY.get_sample_value("learnflow_consumer_pending", {"consumer": spec.name})
            ack_pending = REGISTRY.get_sample_value("learnflow_consumer_ack_pending", {"consumer": spec.name})
            assert (pending, ack_pending) == (2, 1)

            release.set()  # unstuck: everything applies and the stall clears
            await _until(lambda: len(applied) == 3, 10, "all applied")
            for _ in range(50):
                await sup.check()
                if not sup.not_ready():
                    break
                await asyncio.sleep(0.1)
            assert sup.not_ready() == {}
        finally:
            sup.request_stop()
            await sup.join(grace=5)
            await js.delete_stream(stream)
            await db.dispose()
            await nc.close()

    asyncio.run(main())


def test_a_delivery_lost_in_flight_is_awaited_until_redelivered_not_reported_as_a_stall(mesh):
    """A message JetStream delivered that never reached the runner (a connection that died with it on
    the wire, as across a nats-server restart) stays unacknowledged until its ack_wait passes and it
    is sent again. Nothing pending and nothing in the runner's hands: that wait is not a stall."""

    async def main() -> None:
        nc = await nats.connect(mesh.nats_url)
        js = nc.jetstream()
        tag = uuid.uuid4().hex[:8]
        stream, subject = f"LOSTTEST_{tag}", f"losttest.{tag}"
        await js.add_stream(name=stream, subjects=[subject])
        applied: list[str] = []
        release = asyncio.Event()

        async def handle(event, session) -> None:
            await release.wait()
            applied.append(event.id)

        db = Database(mesh.database_url, pool_size=2)
        spec = ConsumerSpec(f"losttest-{tag}", stream, subject, handle, burst=1, ack_wait_seconds=3.0)
        runner = ConsumerRunner(spec, schema="identity", db=db, js=js, stall_seconds=0.5)
        await runner.ensure()
        await _publish_user(js, subject, 1)
        # The delivery that goes astray: taken from the durable consumer by a subscription that never
        # answers for it, as bytes lost on a dead connection would be.
        astray = await js.pull_subscribe_bind(spec.name, stream=stream)
        assert len(await astray.fetch(1, timeout=2)) == 1
        sup = _supervised(runner)
        try:
            reasons: list[str] = []

            async def probe() -> None:
                await sup.check()
                reasons.extend(sup.not_ready().values())

            waited = 0.0
            while runner.in_hand == 0:  # redelivered after ack_wait (3 s) and taken by the runner
                await probe()
                await asyncio.sleep(0.1)
                waited += 0.1
                assert waited < 15, "the lost delivery was never redelivered"
            assert waited > 2.0  # the probe ran for four times its stall threshold meanwhile
            # Taken just now after seconds without progress: the batch starts the clock afresh, so
            # the probe that sees it being applied does not call the wait behind it a stall.
            await probe()
            assert reasons == []
            release.set()
            await _until(lambda: applied, 10, "the redelivered event applied")
            info = await js.consumer_info(stream, spec.name)
            assert info.num_redelivered == 1 or info.delivered.consumer_seq == 2
        finally:
            release.set()
            sup.request_stop()
            await sup.join(grace=5)
            await astray.unsubscribe()
            await js.delete_stream(stream)
            await db.dispose()
            await nc.close()

    asyncio.run(main())


def test_a_singleton_lease_runs_one_holder_and_is_taken_over_when_it_dies(mesh):
    dsn = mesh.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    superuser = mesh.migration_url.replace("postgresql+psycopg://", "postgresql://", 1)
    name = f"singleton-test-{uuid.uuid4().hex[:6]}"

    async def main() -> None:
        running: set[str] = set()
        overlaps: list[set[str]] = []
        runs = {"a": 0, "b": 0}

        def work_of(me: str):
            async def work() -> None:
                running.add(me)
                if len(running) > 1:
                    overlaps.append(set(running))
                runs[me] += 1
                try:
                    await asyncio.Event().wait()
                finally:
                    running.discard(me)

            return work

        a = SingletonLease(name, dsn, retry=0.1, check=0.1)
        b = SingletonLease(name, dsn, retry=0.1, check=0.1)
        task_a = asyncio.create_task(a.run(work_of("a")))
        await _until(lambda: a.held, 5, "a takes the lease")
        task_b = asyncio.create_task(b.run(work_of("b")))
        await asyncio.sleep(0.6)  # b tries about six times meanwhile
        assert running == {"a"} and not b.held

        # Replica a dies: its connection closes, PostgreSQL drops the lock, b takes over.
        task_a.cancel()
        took = await _until(lambda: running == {"b"}, 3, "b takes over")
        assert took < 1.0, took

        # b's session is cut at the server (as when its host vanishes and keepalives run out):
        # b notices within its check interval and stops its work; a restarted replica may win.
        async with await psycopg.AsyncConnection.connect(superuser, autocommit=True) as conn:
            await conn.execute("SELECT pg_terminate_backend(%s)", (b.backend_pid,))
        await _until(lambda: "b" not in running, 2, "b stops after losing its session")
        task_a = asyncio.create_task(a.run(work_of("a")))
        await _until(lambda: len(running) == 1, 3, "the lease is held again")
        await asyncio.sleep(0.5)
        assert len(running) == 1 and a.held != b.held
        assert not overlaps
        assert runs == {"a": 2 if a.held else 1, "b": 2 if b.held else 1}  # whoever holds it now, once more
        for task in (task_a, task_b):  # both replicas stop: a cancelled lease does not poll on
            task.cancel()
        _, pending = await asyncio.wait({task_a, task_b}, timeout=5)
        assert not pending and not a.held and not b.held

    asyncio.run(main())


def test_a_consumer_that_crashes_hands_its_batch_back_and_is_restarted(mesh, caplog):
    """A dead letter that cannot be written for a reason other than an outage (here: the context's
    tables are missing) ends the consumer's run: the batch is nak'ed (back at once, not after the
    30 s ack_wait), the crash logged and counted, and the restarted consumer binds again. The event
    is never dropped without a record: JetStream keeps delivering it (its own max_deliver is
    unlimited), so the consumer keeps crashing on it, in plain sight, until the record can be written."""

    async def main() -> None:
        nc = await nats.connect(mesh.nats_url)
        js = nc.jetstream()
        tag = uuid.uuid4().hex[:8]
        stream, subject = f"CRASHTEST_{tag}", f"crashtest.{tag}"
        await js.add_stream(name=stream, subjects=[subject])

        async def handle(event, session) -> None:
            raise AssertionError("never reached: the inbox insert fails first")

        db = Database(mesh.database_url, pool_size=2)
        spec = ConsumerSpec(f"crashtest-{tag}", stream, subject, handle, max_deliver=1, ack_wait_seconds=30)
        runner = ConsumerRunner(spec, schema=f"nosuchschema_{tag}", db=db, js=js)
        sup = Supervisor(backoff_initial=0.1, backoff_max=0.2)
        name = f"consumer-{spec.name}"
        worker = sup.add(name, "crashtest", runner.run, kind="consumer", stop=runner.stop, check=runner.check)
        sup.start()
        try:
            message = events_pb2.UserCreated(user=resources_pb2.User(id="1", email="c@crash.test"))
            headers = build_headers(message, source="t", tenant_id=None)
            await js.publish(subject, message.SerializeToString(), headers=headers)
            # Delivery 1 fails and cannot be dead-lettered; delivery 2 (after the nak, past the budget
            # of 1) neither, nor any after it: each crash hands the event back at once.
            await _until(lambda: worker.restarts >= 4, 10, "four crashes")  # ack_wait alone: 30 s each
            assert _restarts(name, "crashtest") >= 4
            await _until(
                lambda: "crashed and is restarting" in sup.not_ready().get("crashtest", ""),
                5,
                "health says so",
            )
            info = await js.consumer_info(stream, spec.name)
            assert info.config.max_deliver == -1
            assert (
                info.delivered.consumer_seq >= 4 and info.ack_floor.stream_seq == 0
            )  # never acked or termed
        finally:
            sup.request_stop()
            await sup.join(grace=5)
            await js.delete_stream(stream)
            await db.dispose()
            await nc.close()

    with caplog.at_level(logging.INFO, logger="services.runtime.supervisor"):
        asyncio.run(main())
    crashes = [r for r in caplog.records if r.getMessage() == "worker crashed; restarting"]
    assert len(crashes) >= 4 and all("nosuchschema" in str(r.exc_info[1]) for r in crashes)
