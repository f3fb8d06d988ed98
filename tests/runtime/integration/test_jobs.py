"""Durable jobs on a real PostgreSQL (progress's job table): enqueued with the caller's transaction,
run once with their writes, retried with backoff or a provider's delay, dead when terminal or out of
attempts, shared by two runners without a double run, taken over after a worker dies, started at once
through LISTEN/NOTIFY, and neither lost nor duplicated across a PostgreSQL restart."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from datetime import timedelta

import psycopg
import pytest
from runtime_pg import migrated_postgres, plain, superuser
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime.db import Database
from services.runtime.errors import FailedPrecondition, Unavailable
from services.runtime.jobs import Job, JobKind, JobQueue, JobRunner, Retry

TENANT = str(uuid.uuid4())


@pytest.fixture(scope="module")
def pg():
    with migrated_postgres("progress") as server:
        with superuser(server) as conn:
            conn.execute("CREATE TABLE public.job_effects (job_id uuid, tenant text, note text)")
            conn.execute("GRANT SELECT, INSERT ON public.job_effects TO learnflow_app")
        yield server


def _kind() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


async def _row(db: Database, job_id: str) -> dict:
    async with db.transaction(tenant_id="") as s:
        row = (await s.execute(text("SELECT * FROM progress.jobs WHERE id = :id"), {"id": job_id})).one()
    return dict(row._mapping)


async def _effects(db: Database, kind_note: str) -> list:
    async with db.transaction(tenant_id="") as s:
        return list(
            await s.execute(
                text("SELECT job_id, tenant FROM public.job_effects WHERE note = :n"), {"n": kind_note}
            )
        )


async def _until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def _writer(note: str, calls: list[Job] | None = None):
    """A handler that records the job it ran (in the job's transaction) and its tenant setting."""

    async def handle(job: Job, session: AsyncConnection) -> None:
        if calls is not None:
            calls.append(job)
        await session.execute(
            text(
                "INSERT INTO public.job_effects VALUES (:id, current_setting('app.tenant_id', true), :note)"
            ),
            {"id": job.id, "note": note},
        )

    return handle


def test_a_job_commits_with_the_callers_transaction_and_runs_once_scoped_to_its_tenant(pg):
    kind = _kind()

    async def main():
        db = Database(pg.app_url, pool_size=4)
        queue = JobQueue("progress")
        try:
            with contextlib.suppress(RuntimeError):
                async with db.transaction(TENANT) as s:
                    await queue.enqueue(s, kind, {"n": 1})
                    raise RuntimeError("the caller's change failed: the job goes with it")
            async with db.transaction(TENANT) as s:
                kept = await queue.enqueue(s, kind, {"n": 2})
            runner = JobRunner("progress", db, [JobKind(kind, _writer(kind))], poll_interval=0.05)
            task = asyncio.create_task(runner.run())
            await _until(lambda: _has_effects(db, kind, 1))
            await asyncio.sleep(0.2)  # nothing else arrives
            runner.stop()
            await task
            effects = await _effects(db, kind)
            async with db.transaction(tenant_id="") as s:
                left = (
                    await s.execute(text("SELECT count(*) FROM progress.jobs WHERE kind = :k"), {"k": kind})
                ).scalar()
            return kept, effects, left
        finally:
            await db.dispose()

    kept, effects, left = asyncio.run(main())
    assert [(str(e.job_id), e.tenant) for e in effects] == [(kept, TENANT)]
    assert left == 0  # a job without a key is deleted when done


async def _has_effects(db: Database, note: str, n: int) -> bool:
    return len(await _effects(db, note)) >= n


def test_retry_after_and_backoff_then_success_and_the_handlers_failed_writes_roll_back(pg):
    kind = _kind()
    calls: list[Job] = []

    async def handle(job: Job, session: AsyncConnection) -> None:
        await _writer(kind, calls)(job, session)  # rolled back on the failing attempts
        if job.attempts == 1:
            raise Retry("provider said 429", after=0.3)
        if job.attempts == 2:
            raise Unavailable("provider down")

    async def main():
        db = Database(pg.app_url, pool_size=4)
        try:
            async with db.transaction(TENANT) as s:
                job_id = await JobQueue("progress").enqueue(s, kind)
            # rng 1.0: the backoff is its whole window, base * 2**(attempt-1) = 0.4 s after attempt 2.
            spec = JobKind(kind, handle, backoff_base_seconds=0.2, backoff_max_seconds=10)
            runner = JobRunner("progress", db, [spec], poll_interval=0.02, rng=lambda: 1.0)
            task = asyncio.create_task(runner.run())
            await _until(lambda: _state_is(db, job_id, "queued", attempts=1))
            first = await _row(db, job_id)
            await _until(lambda: _state_is(db, job_id, "queued", attempts=2))
            second = await _row(db, job_id)
            await _until(lambda: _has_effects(db, kind, 1))
            runner.stop()
            await task
            return first, second, await _effects(db, kind)
        finally:
            await db.dispose()

    first, second, effects = asyncio.run(main())
    assert first["last_error"] == "Retry: provider said 429"
    assert timedelta(seconds=0.25) < first["run_at"] - first["updated_at"] < timedelta(seconds=0.35)
    assert second["last_error"] == "UNAVAILABLE: provider down"
    assert timedelta(seconds=0.35) < second["run_at"] - second["updated_at"] < timedelta(seconds=0.45)
    assert [c.attempts for c in calls] == [1, 2, 3]
    assert len(effects) == 1  # only the successful attempt's write committed


async def _state_is(db: Database, job_id: str, state: str, attempts: int) -> bool:
    row = await _row(db, job_id)
    return row["state"] == state and row["attempts"] == attempts


def test_terminal_errors_and_the_last_attempt_leave_dead_jobs_with_their_reason(pg):
    terminal, flaky = _kind(), _kind()

    async def refuse(job: Job, session: AsyncConnection) -> None:
        raise FailedPrecondition("the channel was removed", reason="CHANNEL_GONE")

    async def fail(job: Job, session: AsyncConnection) -> None:
        raise ConnectionError("reset by peer")

    async def main():
        db = Database(pg.app_url, pool_size=4)
        try:
            queue = JobQueue("progress")
            async with db.transaction(TENANT) as s:
                a = await queue.enqueue(s, terminal)
                b = await queue.enqueue(s, flaky, max_attempts=3)
            kinds = [JobKind(terminal, refuse), JobKind(flaky, fail, backoff_base_seconds=0.01)]
            runner = JobRunner("progress", db, kinds, poll_interval=0.02)
            task = asyncio.create_task(runner.run())
            await _until(lambda: _state_is(db, a, "dead", attempts=1))
            await _until(lambda: _state_is(db, b, "dead", attempts=3))
            runner.stop()
            await task
            return await _row(db, a), await _row(db, b)
        finally:
            await db.dispose()

    a, b = asyncio.run(main())
    assert a["last_error"] == "CHANNEL_GONE: the channel was removed"
    assert b["last_error"] == "gave up after 3 attempts; last error: ConnectionError: reset by peer"


def test_an_idempotency_key_makes_one_job(pg):
    kind = _kind()

    async def main():
        db = Database(pg.app_url, pool_size=2)
        try:
            queue = JobQueue("progress")
            async with db.transaction(TENANT) as s:
                first = await queue.enqueue(s, kind, key="send:42")
                second = await queue.enqueue(s, kind, key="send:42")
                other = await queue.enqueue(s, kind, key="send:43")
                many = await queue.enqueue_many(s, kind, [(TENANT, "send:42", {}), (TENANT, "send:44", {})])
            return first, second, other, many
        finally:
            await db.dispose()

    first, second, other, many = asyncio.run(main())
    assert first and other and second is None
    assert many == 1


def test_two_runners_share_the_jobs_and_run_each_once(pg):
    kind = _kind()
    calls: list[Job] = []

    async def main():
        db = Database(pg.app_url, pool_size=10)
        try:
            async with db.transaction(TENANT) as s:
                await JobQueue("progress").enqueue_many(
                    s, kind, [(TENANT, None, {"i": i}) for i in range(400)]
                )
            runners = [
                JobRunner(
                    "progress", db, [JobKind(kind, _writer(kind, calls))], poll_interval=0.05, concurrency=8
                )
                for _ in range(2)
            ]
            tasks = [asyncio.create_task(r.run()) for r in runners]
            await _until(lambda: _has_effects(db, kind, 400), timeout=30)
            await asyncio.sleep(0.2)
            for r in runners:
                r.stop()
            await asyncio.gather(*tasks)
            return await _effects(db, kind)
        finally:
            await db.dispose()

    effects = asyncio.run(main())
    assert len(effects) == 400 and len({e.job_id for e in effects}) == 400
    assert sorted(Counter(j.id for j in calls).values()) == [1] * 400


def test_a_job_whose_worker_died_is_taken_over_after_its_lease(pg):
    kind = _kind()
    calls: list[Job] = []

    async def main():
        db = Database(pg.app_url, pool_size=4)
        try:
            async with db.transaction(TENANT) as s:
                job_id = await JobQueue("progress").enqueue(s, kind)
            spec = JobKind(kind, _writer(kind, calls))
            # The first worker claims the job and "dies": it never runs it.
            dead_worker = JobRunner("progress", db, [spec], lease_seconds=0.5)
            assert [j.id for j in await dead_worker.claim(10)] == [job_id]
            survivor = JobRunner("progress", db, [spec], poll_interval=0.05, reap_interval=0.1)
            task = asyncio.create_task(survivor.run())
            began = time.monotonic()
            await _until(lambda: _has_effects(db, kind, 1))
            waited = time.monotonic() - began
            survivor.stop()
            await task
            return waited
        finally:
            await db.dispose()

    waited = asyncio.run(main())
    assert 0.3 < waited < 5
    assert [c.attempts for c in calls] == [2]  # the lost claim counted as an attempt


def test_a_long_handler_keeps_its_job_past_the_lease(pg):
    """The running handler holds its job's row lock, so the reaper of another runner skips it."""
    kind = _kind()
    calls: list[Job] = []

    async def slow(job: Job, session: AsyncConnection) -> None:
        calls.append(job)
        await asyncio.sleep(1.0)

    async def main():
        db = Database(pg.app_url, pool_size=6)
        try:
            async with db.transaction(TENANT) as s:
                await JobQueue("progress").enqueue(s, kind)
            runners = [
                JobRunner(
                    "progress",
                    db,
                    [JobKind(kind, slow)],
                    poll_interval=0.05,
                    lease_seconds=0.2,
                    reap_interval=0.05,
                )
                for _ in range(2)
            ]
            tasks = [asyncio.create_task(r.run()) for r in runners]
            await asyncio.sleep(1.6)
            for r in runners:
                r.stop()
            await asyncio.gather(*tasks)
        finally:
            await db.dispose()

    asyncio.run(main())
    assert len(calls) == 1


def test_notify_starts_a_job_at_once_without_polling(pg):
    kind = _kind()

    async def main():
        db = Database(pg.app_url, pool_size=4)
        try:
            runner = JobRunner(
                "progress", db, [JobKind(kind, _writer(kind))], poll_interval=30, listen_dsn=plain(pg.app_url)
            )
            task = asyncio.create_task(runner.run())
            await asyncio.sleep(0.5)  # listening
            began = time.monotonic()
            async with db.transaction(TENANT) as s:
                await JobQueue("progress").enqueue(s, kind)
            await _until(lambda: _has_effects(db, kind, 1), timeout=5)
            latency = time.monotonic() - began
            runner.stop()
            await task
            return latency
        finally:
            await db.dispose()

    assert asyncio.run(main()) < 2.0  # the poll would take 30 s: only the NOTIFY can be this quick


def test_a_postgres_restart_loses_and_duplicates_nothing(pg):
    kind = _kind()
    calls: list[Job] = []

    async def main():
        db = Database(pg.app_url, pool_size=6)
        try:
            async with db.transaction(TENANT) as s:
                await JobQueue("progress").enqueue_many(s, kind, [(TENANT, None, {}) for _ in range(50)])
            runner = JobRunner(
                "progress",
                db,
                [JobKind(kind, _writer(kind, calls), backoff_base_seconds=0.1)],
                poll_interval=0.05,
                lease_seconds=1,
                reap_interval=0.2,
                concurrency=2,
            )
            task = asyncio.create_task(runner.run())
            await _until(lambda: _has_effects(db, kind, 5))
            await asyncio.to_thread(pg.stop)  # mid-work: claims, handlers and completions fail
            await asyncio.sleep(1.0)
            await asyncio.to_thread(pg.start)
            await _until(lambda: _has_effects(db, kind, 50), timeout=30)
            await asyncio.sleep(0.5)
            runner.stop()
            await task
            return await _effects(db, kind)
        finally:
            await db.dispose()

    effects = asyncio.run(main())
    assert len(effects) == 50 and len({e.job_id for e in effects}) == 50


def test_a_batch_with_one_failing_job_still_commits_the_others(pg):
    """JobKind.batch: one tenant's jobs in one transaction; a failure rolls it back and each job runs
    again alone, so the good ones commit once and only the bad one is retried."""
    kind = _kind()
    calls: list[Job] = []

    async def handle(job: Job, session: AsyncConnection) -> None:
        await _writer(kind, calls)(job, session)
        if job.payload.get("bad"):
            raise FailedPrecondition("bad payload")

    async def main():
        db = Database(pg.app_url, pool_size=4)
        try:
            items = [(TENANT, None, {"bad": i == 3}) for i in range(6)]
            async with db.transaction(TENANT) as s:
                await JobQueue("progress").enqueue_many(s, kind, items)
            runner = JobRunner("progress", db, [JobKind(kind, handle, batch=10)], poll_interval=0.02)
            jobs = await runner.claim(10)
            units = runner._units(jobs)
            await runner.execute_batch(jobs)
            async with db.transaction(tenant_id="") as s:
                left = (
                    await s.execute(
                        text("SELECT state, last_error FROM progress.jobs WHERE kind = :k"), {"k": kind}
                    )
                ).all()
            return units, await _effects(db, kind), left
        finally:
            await db.dispose()

    units, effects, left = asyncio.run(main())
    assert [len(u) for u in units] == [6]
    assert len(effects) == 5  # the five good jobs, once each (the batch's writes were rolled back)
    # the batch up to the bad job, then each job alone
    assert 7 <= len(calls) <= 12 and len({c.id for c in calls[-6:]}) == 6
    assert [tuple(r) for r in left] == [("dead", "FAILED_PRECONDITION: bad payload")]


def test_progress_checks_enqueue_one_job_per_tenant_and_tick_whichever_replica_asks(pg):
    """progress's periodic checks as jobs: two replicas' timers in the same tick add each tenant's
    check once; the next tick adds it again."""
    from datetime import UTC, datetime

    from services.progress.checks import CHECK_TENANT, PeriodicChecks
    from services.progress.domain.struggle import RuleSettings, StruggleDetector
    from services.runtime.events.outbox import Outbox

    tenants = [str(uuid.uuid4()) for _ in range(3)]
    with superuser(pg) as conn:
        for t in tenants:
            conn.execute("INSERT INTO progress.tenants (tenant_id) VALUES (%s)", (t,))

    async def main():
        db = Database(pg.app_url, pool_size=2)
        try:
            checks = PeriodicChecks(db, Outbox("progress", "progress"), StruggleDetector(RuleSettings()))
            queue = JobQueue("progress")
            now = datetime(2026, 12, 6, 10, 0, 10, tzinfo=UTC)
            first = await checks.enqueue(queue, now, 60)
            second = await checks.enqueue(queue, now.replace(second=50), 60)  # another replica, same tick
            later = await checks.enqueue(queue, now.replace(minute=1), 60)
            runner = JobRunner("progress", db, [JobKind(CHECK_TENANT, checks.check_job)], poll_interval=0.02)
            outcomes = [await runner.execute(j) for j in await runner.claim(100)]
            return first, second, later, outcomes
        finally:
            await db.dispose()

    first, second, later, outcomes = asyncio.run(main())
    known = first  # the tenants the schema knows, ours included
    assert known >= 3 and second == 0 and later == known
    assert outcomes == ["done"] * (2 * known)


def test_running_jobs_that_need_more_connections_do_not_starve_each_other(pg):
    """A unit holds its job's transaction while its handler opens another (notify's claim commits
    before the provider call; a call to a context in the same process opens its transactions). The
    units' connections come from a pool of their own, so units that each hold one and want another
    never exhaust the pool the second comes from: with one shared pool of two connections, two such
    units held both and each waited for a third until the pool's timeout."""
    kind = _kind()
    inner = f"{kind}-inner"

    async def main():
        db = Database(pg.app_url, pool_size=1, job_pool_size=2)  # 2 + 2 and 2 + 2 connections
        queue = JobQueue("progress")
        together = asyncio.Barrier(2)  # two units hold their transactions at once, for sure

        async def handle(job: Job, session: AsyncConnection) -> None:
            await asyncio.wait_for(together.wait(), 10)
            async with db.transaction(TENANT) as other:  # a second connection while holding the first
                await other.execute(
                    text("INSERT INTO public.job_effects VALUES (:id, 'inner', :note)"),
                    {"id": job.id, "note": inner},
                )

        try:
            async with db.transaction(TENANT) as s:
                for n in range(4):
                    await queue.enqueue(s, kind, {"n": n})
            runner = JobRunner("progress", db, [JobKind(kind, handle)], concurrency=4, poll_interval=0.05)
            task = asyncio.create_task(runner.run())
            await _until(lambda: _has_effects(db, inner, 4), timeout=20)
            runner.stop()
            await task
            async with db.transaction(tenant_id="") as s:
                left = (
                    await s.execute(text("SELECT count(*) FROM progress.jobs WHERE kind = :k"), {"k": kind})
                ).scalar()
            return len(await _effects(db, inner)), left
        finally:
            await db.dispose()

    assert asyncio.run(main()) == (4, 0)  # each ran once, at its first attempt, and is done


def test_a_start_here_job_runs_once_its_transaction_commits_without_a_claim_or_a_wake_up(pg):
    """JobKind.start_here: the process that enqueues the job runs it right after the commit. The
    runner here neither listens nor polls within the test (poll every 30 s), so only the after-commit
    start can run it; a rolled-back enqueue leaves no job and runs nothing."""
    kind = _kind()
    calls: list[Job] = []

    async def main():
        db = Database(pg.app_url, pool_size=4)
        try:
            spec = JobKind(kind, _writer(kind, calls), start_here=True)
            runner = JobRunner("progress", db, [spec], poll_interval=30)
            task = asyncio.create_task(runner.run())
            await asyncio.sleep(0.2)  # its first claim found nothing; it waits 30 s now
            with contextlib.suppress(RuntimeError):
                async with db.transaction(TENANT) as s:
                    await JobQueue("progress").enqueue(s, kind, {"n": 0})
                    raise RuntimeError("the caller's transaction fails")
            async with db.transaction(TENANT) as s:
                one = await JobQueue("progress").enqueue(s, kind, {"n": 1})
                assert await _effects(db, kind) == []  # not before the commit
            async with db.transaction(TENANT) as s:
                added = await JobQueue("progress").enqueue_many(
                    s, kind, [(TENANT, None, {"n": 2}), (TENANT, None, {"n": 3})]
                )
            await _until(lambda: _has_effects(db, kind, 3), timeout=5)
            await asyncio.sleep(0.2)  # nothing else arrives
            # Outside a unit of work of Database.transaction (no after-commit hook): queued as usual.
            async with db.engine.begin() as conn:
                plain_id = await JobQueue("progress").enqueue(conn, kind, {"n": 4}, tenant_id=TENANT)
            plain_state = (await _row(db, plain_id))["state"]
            runner.stop()
            await task
            async with db.transaction(tenant_id="") as s:
                left = (
                    await s.execute(text("SELECT count(*) FROM progress.jobs WHERE kind = :k"), {"k": kind})
                ).scalar()
            return one, added, left, plain_state
        finally:
            await db.dispose()

    one, added, left, plain_state = asyncio.run(main())
    assert one is not None and added == 2
    assert sorted(c.payload["n"] for c in calls) == [1, 2, 3]  # the rolled-back one never ran
    assert [c.attempts for c in calls] == [1, 1, 1]
    assert left == 1 and plain_state == "queued"  # the three done and deleted, as claimed jobs are


def test_a_start_here_job_whose_process_died_after_the_commit_is_taken_over_after_its_lease(pg):
    """The job goes in claimed by the enqueueing process (running, leased): no other runner takes it
    while that process lives, and if it dies before running it, the lease expires and any replica's
    reaper queues it again."""
    kind = _kind()
    calls: list[Job] = []

    async def main():
        db = Database(pg.app_url, pool_size=4)
        try:
            spec = JobKind(kind, _writer(kind, calls), start_here=True)
            dying = JobRunner("progress", db, [spec], poll_interval=30, lease_seconds=0.5)
            dying.start_claimed = lambda jobs: None  # the process "dies" right after the commit
            task = asyncio.create_task(dying.run())
            await asyncio.sleep(0.1)
            async with db.transaction(TENANT) as s:
                job_id = await JobQueue("progress").enqueue(s, kind)
            row = await _row(db, job_id)
            dying.stop()
            await task
            survivor = JobRunner("progress", db, [spec], poll_interval=0.05, reap_interval=0.1)
            task = asyncio.create_task(survivor.run())
            await _until(lambda: _has_effects(db, kind, 1))
            survivor.stop()
            await task
            return row
        finally:
            await db.dispose()

    row = asyncio.run(main())
    assert (row["state"], row["attempts"]) == ("running", 1) and row["lease_until"] is not None
    assert [c.attempts for c in calls] == [2]  # the lost start counted as an attempt


def test_the_enqueue_trigger_wakes_runners_only_for_jobs_they_can_claim_now(pg):
    """A job due later (a backoff, a poll in minutes) or started by its own process does not wake
    every runner of the context for an empty claim; a job due now does (migration_ops
    wake_runners_for_due_jobs)."""

    async def main():
        db = Database(pg.app_url, pool_size=4)
        listener = await psycopg.AsyncConnection.connect(plain(pg.app_url), autocommit=True)
        try:
            await listener.execute("LISTEN learnflow_jobs_progress")
            heard: list[str] = []

            async def drain() -> None:
                async for note in listener.notifies(timeout=0.5):
                    heard.append(note.channel)

            async def enqueue(kind: str, **options) -> list[str]:
                async with db.transaction(TENANT) as s:
                    await JobQueue("progress").enqueue(s, kind, **options)
                heard.clear()
                await drain()
                return list(heard)

            later = await enqueue(_kind(), delay_seconds=60)
            now = await enqueue(_kind())
            kind = _kind()
            runner = JobRunner(
                "progress", db, [JobKind(kind, _writer(kind), start_here=True)], poll_interval=30
            )
            task = asyncio.create_task(runner.run())
            await asyncio.sleep(0.1)
            started_here = await enqueue(kind)
            await _until(lambda: _has_effects(db, kind, 1))
            runner.stop()
            await task
            return later, now, started_here
        finally:
            await listener.close()
            await db.dispose()

    later, now, started_here = asyncio.run(main())
    assert now == ["learnflow_jobs_progress"]
    assert later == [] and started_here == []
