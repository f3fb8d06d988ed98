"""Durable jobs: work that outlives one request or event, retried with backoff for minutes to hours.

A job is a row in its context's `jobs` table (work_tables.py), enqueued inside the caller's
transaction (so it commits with the change that asked for it, like the outbox) and run by a
JobRunner in any replica:

- claim: one statement takes up to n due jobs (`FOR UPDATE SKIP LOCKED`, so replicas never take the
  same job), marks them running, counts the attempt and sets a lease;
- run: the handler runs in a transaction scoped to the job's tenant that FIRST marks the job done
  (locking its row), so the handler's writes and the job's completion commit together or not at all;
- outcome: success -> done (deleted, or kept until purged when it has an idempotency key); `Retry`
  or a transient error (Unavailable, any unexpected exception, a timeout) -> queued again after an
  exponential backoff with full jitter (or the `after` a provider asked for); `Terminal` or a
  deterministic DomainError, or the last attempt -> dead, with the reason, until redriven
  (OperationsService.RedriveJob);
- a worker that dies leaves its job running with a lease: the reaper of any replica re-queues it once
  the lease has expired (rows a live handler holds are locked and skipped).

Delivery to the handler is at least once: a handler's database writes commit exactly once with the
job, but anything it does outside the database (an HTTP call) may be repeated after a crash, so such
handlers pass the job id to the third party as their idempotency key. See docs/runtime-jobs.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime import request_context
from services.runtime.db import Database, after_commit, listen, run_sql, tenant_of
from services.runtime.errors import DomainError, FieldViolation, InvalidArgument, Unavailable
from services.runtime.migration_ops import jobs_channel
from services.runtime.request_context import RequestContext
from services.runtime.work_tables import jobs_table

log = logging.getLogger(__name__)

JOBS_TOTAL = Counter("learnflow_jobs_total", "Job attempts by how they ended", ["context", "kind", "outcome"])
JOB_SECONDS = Histogram(
    "learnflow_job_duration_seconds",
    "Time a job's handler and completion took",
    ["context", "kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
JOB_START_DELAY = Histogram(
    "learnflow_job_start_delay_seconds",
    "From a job's run_at to its handler starting",
    ["context"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


class Retry(Exception):
    """Raised by a handler: try again later — after `after` seconds when given (a provider's
    Retry-After), else after the kind's backoff. Counts as an attempt."""

    def __init__(self, reason: str = "", *, after: float | None = None):
        super().__init__(reason or "retry requested")
        self.after = after


class Terminal(Exception):
    """Raised by a handler: this job can never succeed (bad payload, a 4xx from a provider); it goes
    dead at once with this reason. A DomainError other than Unavailable means the same."""


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    tenant_id: str | None
    key: str | None
    payload: dict[str, Any]
    attempts: int  # including this one
    max_attempts: int
    run_at: datetime
    created_at: datetime

    @property
    def last_attempt(self) -> bool:
        return self.attempts >= self.max_attempts


Handler = Callable[[Job, AsyncConnection], Awaitable[None]]
BatchHandler = Callable[[list[Job], AsyncConnection], Awaitable[None]]
Payload = dict[str, Any]


@dataclass(frozen=True)
class JobKind:
    """One kind of job and how it is retried. The handler gets the job and a transaction scoped to
    the job's tenant; its writes commit with the job's completion."""

    name: str
    handler: Handler
    max_attempts: int = 20
    # Full jitter: attempt n waits uniform(0, min(max, base * 2**(n-1))) — 30 s, 1 min, ... 6 h.
    backoff_base_seconds: float = 30.0
    backoff_max_seconds: float = 6 * 3600.0
    # A handler running longer is cancelled and retried (its transaction rolled back).
    timeout_seconds: float = 300.0
    # A finished job with an idempotency key is kept this long, so enqueueing its key again within
    # that time adds nothing (jobs without a key are deleted when done).
    retain_done_seconds: float = 86_400.0
    # Up to this many claimed jobs of this kind and one tenant run in ONE transaction, one after
    # another: for quick database-only handlers, a transaction per batch instead of per job. If one
    # fails, the batch is rolled back and its jobs run again one per transaction (so the others still
    # commit and the failure is classified alone): keep 1 for handlers with effects outside the
    # database, which would then be repeated.
    batch: int = 1
    # With batch > 1: a handler that takes the whole batch in one call (the jobs still ours, in the
    # transaction that marked them done) instead of `handler` once per job, so it can work per batch
    # (one read, one write, concurrent calls out). A failed batch still runs each job again alone
    # through `handler`. notify's deliveries use it (services/notify/service.py deliver_many).
    batch_handler: BatchHandler | None = None
    # Started by this process right after the enqueueing transaction commits, rather than claimed
    # by a runner woken through LISTEN/NOTIFY: for jobs someone waits on (a message on its way). The
    # job is inserted already claimed by a runner of this process (running, attempt 1, leased), so
    # no runner claims it; if the process dies before it finishes, its lease expires and any
    # replica's reaper queues it again, as for any claimed job. Only when the process runs this
    # context's runner, with a free slot, and the job is due now; otherwise it is queued as usual.
    start_here: bool = False


def backoff_seconds(attempt: int, base: float, cap: float, rng: Callable[[], float] = random.random) -> float:
    """Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff and Jitter"):
    spreading retries over the whole window keeps replicas and tenants from retrying in step after
    an outage."""
    ceiling = min(cap, base * 2 ** min(max(attempt - 1, 0), 62))
    return rng() * ceiling


def classify(exc: BaseException) -> tuple[bool, float | None]:
    """(terminal, retry after) for a handler's failure."""
    if isinstance(exc, Retry):
        return False, exc.after
    if isinstance(exc, Terminal):
        return True, None
    if isinstance(exc, Unavailable):
        after = getattr(exc, "retry_after", None)  # e.g. outbound.RetryableResponse
        return False, after if isinstance(after, int | float) else None
    if isinstance(exc, DomainError):
        return True, None
    return False, None  # unexpected: assume transient, the attempt limit stops a poison job


def describe(exc: BaseException) -> str:
    if isinstance(exc, DomainError):
        return f"{exc.reason}: {exc.message}"[:2000]
    return (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:2000]


# The runners running in this process, by schema: JobQueue starts a `start_here` kind's job on one.
_RUNNING: dict[str, list[JobRunner]] = {}


def _runner_here(schema: str, kind: str) -> JobRunner | None:
    """A runner of this process that runs `kind` of `schema` itself after commit and has room."""
    for runner in _RUNNING.get(schema, ()):
        known = runner.kinds.get(kind)
        if known is not None and known.start_here and runner.has_room():
            return runner
    return None


def _job_of(row: Any) -> Job:
    return Job(
        id=str(row.id),
        kind=row.kind,
        tenant_id=str(row.tenant_id) if row.tenant_id else None,
        key=row.key,
        payload=row.payload,
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        run_at=row.run_at,
        created_at=row.created_at,
    )


_RETURNING = "RETURNING id, kind, tenant_id, key, payload, attempts, max_attempts, run_at, created_at"


class JobQueue:
    """Enqueues jobs of one context inside the caller's unit of work."""

    def __init__(self, schema: str, kinds: Sequence[JobKind] = ()):
        self.schema = schema
        self.table = jobs_table(schema)
        self.kinds = {k.name: k for k in kinds}
        # The statements every enqueue runs, as plain SQL sent by psycopg itself (db.run_sql);
        # enqueue_many's is one statement for any number of jobs (unnest of arrays). A job this
        # process starts itself (JobKind.start_here) goes in already claimed: running, attempt 1,
        # leased (`lease` is NULL for a queued job, and so is its lease_until).
        columns = "id, tenant_id, kind, key, payload, max_attempts, state, attempts, lease_until, run_at"
        claimed = "%(state)s, %(started)s, now() + make_interval(secs => %(lease)s)"
        self._enqueue_sql = (
            f"INSERT INTO {schema}.jobs ({columns}) "  # noqa: S608 (our schema)
            f"VALUES (%(id)s, %(tenant)s, %(kind)s, %(key)s, %(payload)s::jsonb, %(attempts)s, {claimed}, "
            "coalesce(%(run_at)s::timestamptz, now() + make_interval(secs => %(delay)s))) "
        )
        self._enqueue_many_sql = (
            f"INSERT INTO {schema}.jobs ({columns}) "  # noqa: S608 (our schema)
            f"SELECT i, t, %(kind)s, k, p::jsonb, %(attempts)s, {claimed}, "
            "now() + make_interval(secs => %(delay)s) "
            "FROM unnest(%(ids)b::uuid[], "
            "%(tenants)b::uuid[], %(keys)b::text[], %(payloads)b::text[]) AS v(i, t, k, p) "
            f"ON CONFLICT (kind, key) DO NOTHING {_RETURNING}"
        )

    def _start_here(
        self, session: AsyncConnection, kind: str, due_now: bool
    ) -> tuple[dict[str, Any], list[Job]]:
        """The claim columns of an enqueue, and the list of jobs to start after commit: claimed by a
        runner of this process when `kind` starts here, one has room, the job is due now and the
        session is a unit of work that can run it after its commit (db.after_commit)."""
        queued: dict[str, Any] = {"state": "queued", "started": 0, "lease": None}
        started: list[Job] = []
        runner = _runner_here(self.schema, kind) if due_now else None
        if runner is None or not after_commit(session, lambda: runner.start_claimed(started)):
            return queued, started
        return {"state": "running", "started": 1, "lease": runner.lease_seconds}, started

    async def enqueue(
        self,
        session: AsyncConnection,
        kind: str,
        payload: dict[str, Any] | None = None,
        *,
        key: str | None = None,
        tenant_id: str | None = None,
        delay_seconds: float = 0.0,
        run_at: datetime | None = None,
        max_attempts: int | None = None,
    ) -> str | None:
        """Adds a job, due now (or after `delay_seconds`, or at `run_at`), committed with `session`.
        The tenant is the transaction's unless given. With a `key`, a second job of the same kind and
        key is not added (even after the first is done, until it is purged): returns None then."""
        if not kind:
            raise InvalidArgument("a job needs a kind", [FieldViolation("kind", "is required")])
        known = self.kinds.get(kind)
        attempts = max_attempts or (known.max_attempts if known else JobKind.max_attempts)
        tenant = tenant_id if tenant_id is not None else tenant_of(session)
        job_id = uuid.uuid4()
        statement = self._enqueue_sql
        if key is not None:
            statement += "ON CONFLICT (kind, key) DO NOTHING "
        claim, started = self._start_here(session, kind, run_at is None and delay_seconds <= 0)
        added = await run_sql(
            session,
            statement + _RETURNING,
            {
                "id": job_id,
                "tenant": uuid.UUID(tenant) if tenant else None,
                "kind": kind,
                "key": key,
                "payload": json.dumps(payload or {}),
                "run_at": run_at,
                "delay": float(delay_seconds) if run_at is None and delay_seconds > 0 else 0.0,
                "attempts": attempts,
                **claim,
            },
        )
        if claim["started"]:
            started.extend(_job_of(row) for row in added)
        return str(job_id) if added else None

    async def enqueue_many(
        self,
        session: AsyncConnection,
        kind: str,
        items: Sequence[tuple[str | None, str | None, dict[str, Any]]],
        *,
        delay_seconds: float = 0.0,
    ) -> int:
        """Adds one job due now (or after `delay_seconds`) per (tenant_id, key, payload) in ONE
        statement; jobs whose (kind, key) exists already are skipped. Returns how many were added."""
        if not items:
            return 0
        known = self.kinds.get(kind)
        attempts = known.max_attempts if known else JobKind.max_attempts
        claim, started = self._start_here(session, kind, delay_seconds <= 0)
        params = {
            "ids": [uuid.uuid4() for _ in items],
            "tenants": [uuid.UUID(tenant) if tenant else None for tenant, _, _ in items],
            "keys": [key for _, key, _ in items],
            "payloads": [json.dumps(payload) for _, _, payload in items],
            "kind": kind,
            "attempts": attempts,
            "delay": float(max(delay_seconds, 0.0)),
            **claim,
        }
        added = await run_sql(session, self._enqueue_many_sql, params)
        if claim["started"]:
            started.extend(_job_of(row) for row in added)
        return len(added)


class JobRunner:
    """Claims and runs one context's jobs of the kinds it knows, `concurrency` at a time. Started and
    stopped by the server like a ConsumerRunner: `await run()` until `stop()`."""

    def __init__(
        self,
        context: str,
        db: Database,
        kinds: Sequence[JobKind],
        *,
        schema: str | None = None,
        listen_dsn: str | None = None,
        concurrency: int = 16,
        poll_interval: float = 1.0,
        lease_seconds: float = 60.0,
        reap_interval: float = 5.0,
        rng: Callable[[], float] = random.random,
    ):
        if not kinds:
            raise ValueError("a job runner needs at least one kind")
        self.context = context
        self.schema = schema or context
        self.db = db
        self.kinds = {k.name: k for k in kinds}
        self.listen_dsn = listen_dsn
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.lease_seconds = lease_seconds
        self.reap_interval = reap_interval
        self.rng = rng
        self.table = jobs_table(self.schema)
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._max_batch = max(k.batch for k in kinds)
        self._backlog = False
        self._started = False  # run() is running
        s = self.schema
        # Plain SQL sent by psycopg itself (db.run_sql): these run per claim and per job, where every
        # statement counts.
        # ARRAY(...) runs the locking subquery exactly once.
        self._claim_sql = (
            f"UPDATE {s}.jobs SET state = 'running', attempts = attempts + 1, "  # noqa: S608 (our schema)
            "lease_until = now() + make_interval(secs => %(lease)s), updated_at = now() "
            f"WHERE id = ANY(ARRAY(SELECT id FROM {s}.jobs WHERE state = 'queued' AND run_at <= now() "
            "AND kind = ANY(%(kinds)s) ORDER BY run_at LIMIT %(n)s FOR UPDATE SKIP LOCKED)) "
            f"{_RETURNING}"
        )
        self._next_due_sql = (
            f"SELECT min(run_at) FROM {s}.jobs WHERE state = 'queued' AND kind = ANY(%(kinds)s)"  # noqa: S608
        )
        owned = "WHERE id = %(id)s AND state = 'running' AND attempts = %(attempts)s RETURNING id"
        owned_many = (
            "WHERE state = 'running' AND (id, attempts) IN "
            "(SELECT * FROM unnest(%(ids)b::uuid[], %(attempts)b::int[])) RETURNING id"
        )
        self._done_delete_many_sql = f"DELETE FROM {s}.jobs {owned_many}"  # noqa: S608
        self._done_keep_many_sql = (
            f"UPDATE {s}.jobs SET state = 'done', lease_until = NULL, last_error = NULL, "  # noqa: S608
            f"updated_at = now() {owned_many}"
        )
        self._done_delete_sql = f"DELETE FROM {s}.jobs {owned}"  # noqa: S608
        self._done_keep_sql = (
            f"UPDATE {s}.jobs SET state = 'done', lease_until = NULL, last_error = NULL, "  # noqa: S608
            f"updated_at = now() {owned}"
        )
        self._fail_sql = (
            f"UPDATE {s}.jobs SET state = %(state)s, run_at = now() + make_interval(secs => %(delay)s), "  # noqa: S608
            f"lease_until = NULL, last_error = %(error)s, updated_at = now() {owned}"
        )
        # Jobs whose worker vanished: re-queued (or dead at their last attempt). A live handler holds
        # its job's row lock, so SKIP LOCKED passes over it however long it runs.
        self._reap_sql = (
            f"UPDATE {s}.jobs SET state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END, "  # noqa: S608
            "run_at = now(), lease_until = NULL, updated_at = now(), "
            "last_error = 'lease expired: the worker stopped or lost the database in attempt ' || attempts "
            f"WHERE id = ANY(ARRAY(SELECT id FROM {s}.jobs WHERE state = 'running' AND lease_until < now() "
            "AND kind = ANY(%(kinds)s) ORDER BY lease_until LIMIT 500 FOR UPDATE SKIP LOCKED)) RETURNING id"
        )
        self._purge_sql = (
            f"DELETE FROM {s}.jobs WHERE id = ANY(ARRAY(SELECT id FROM {s}.jobs WHERE state = 'done' "  # noqa: S608
            "AND kind = %(kind)s AND updated_at < now() - make_interval(secs => %(retain)s) "
            "LIMIT 1000 FOR UPDATE SKIP LOCKED))"
        )

    # --- lifecycle -------------------------------------------------------------------------------

    def stop(self) -> None:
        """Claims nothing more; run() returns once the jobs in hand have finished."""
        self._stopping.set()
        self._wake.set()

    def has_room(self) -> bool:
        """Running, with a free slot: a `start_here` job may be started on it."""
        return self._started and not self._stopping.is_set() and len(self._running) < self.concurrency

    def start_claimed(self, jobs: Sequence[Job]) -> None:
        """Starts jobs this process claimed when it enqueued them (JobKind.start_here), as claimed
        jobs start (_fill). Called after their transaction committed; a runner stopping by then
        leaves them to their lease (the reaper of any replica queues them again)."""
        if self._stopping.is_set():
            return
        for unit in self._units(list(jobs)):
            self._start(unit)

    def _start(self, unit: list[Job]) -> None:
        task = asyncio.create_task(self._run_unit(unit), name=f"job-{unit[0].kind}-{unit[0].id}")
        self._running.add(task)
        task.add_done_callback(self._finished)

    async def run(self) -> None:
        listener = (
            asyncio.create_task(self._listen(), name=f"jobs-listen-{self.schema}")
            if self.listen_dsn
            else None
        )
        last_reap = 0.0
        here = any(kind.start_here for kind in self.kinds.values())
        if here:
            _RUNNING.setdefault(self.schema, []).append(self)
        self._started = True
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                if time.monotonic() - last_reap >= self.reap_interval:
                    last_reap = time.monotonic()
                    await self._housekeeping()
                wait = await self._fill()
                if self._stopping.is_set():
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
        finally:
            self._started = False
            if here:
                _RUNNING[self.schema].remove(self)
            if self._running:
                await asyncio.gather(*self._running, return_exceptions=True)
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener

    async def _fill(self) -> float:
        """Claims jobs for the free slots and starts them; returns how long to wait for a wake-up."""
        free = self.concurrency - len(self._running)
        if free <= 0:
            # Woken (an enqueue) while every slot is busy: claim as soon as slots free up.
            self._backlog = True
            return self.poll_interval
        # Enough for every free slot to take a whole batch. With kinds of both sorts, single jobs may
        # then start more units than there are free slots (at most max batch times as many): bounded.
        wanted = free * self._max_batch
        try:
            jobs = await self.claim(wanted)
        except Exception as exc:  # the database is down: keep trying, nothing is lost
            log.warning("job claim failed; retrying", extra={"context": self.context, "error": repr(exc)})
            return self.poll_interval
        for unit in self._units(jobs):
            self._start(unit)
        self._backlog = len(jobs) == wanted
        if self._backlog or jobs:
            return self.poll_interval
        try:
            next_due = await self.next_due()
        except Exception:
            return self.poll_interval
        if next_due is None:
            return self.poll_interval
        return min(max((next_due - datetime.now(UTC)).total_seconds(), 0.001), self.poll_interval)

    def _units(self, jobs: list[Job]) -> list[list[Job]]:
        """Claimed jobs as units of work: one job each, or batches of one kind and tenant."""
        units: list[list[Job]] = []
        open_batches: dict[tuple[str, str | None], list[Job]] = {}
        for job in jobs:
            size = self.kinds[job.kind].batch
            if size <= 1:
                units.append([job])
                continue
            batch = open_batches.get((job.kind, job.tenant_id))
            if batch is None or len(batch) >= size:
                batch = open_batches[(job.kind, job.tenant_id)] = []
                units.append(batch)
            batch.append(job)
        return units

    async def _run_unit(self, unit: list[Job]) -> None:
        try:
            if len(unit) == 1:
                await self.execute(unit[0])
            else:
                await self.execute_batch(unit)
        except Exception:  # a bug here, not in a handler: the lease brings the jobs back
            log.exception("job runner failed on a unit", extra={"context": self.context, "job": unit[0].id})

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        # A backlog: claim again once a quarter of the slots are free (one claim for several jobs
        # rather than one per finished job).
        if self._backlog and self.concurrency - len(self._running) >= max(1, self.concurrency // 4):
            self._wake.set()

    async def _housekeeping(self) -> None:
        try:
            reaped = await self.reap()
            if reaped:
                log.warning(
                    "re-queued jobs whose lease expired", extra={"context": self.context, "jobs": reaped}
                )
            await self.purge()
        except Exception as exc:
            log.warning("job housekeeping failed", extra={"context": self.context, "error": repr(exc)})

    async def _listen(self) -> None:
        """LISTEN for enqueues (a trigger NOTIFYs at commit), so a job due now starts at once; the poll
        is only the fallback."""
        assert self.listen_dsn is not None
        await listen(self.listen_dsn, jobs_channel(self.schema), self._wake, self._stopping, "job")

    # --- the statements --------------------------------------------------------------------------

    async def _autocommit(self, statement: str, params: dict[str, Any]) -> list[Any]:
        """One statement as its own transaction: one round trip (the driver runs in autocommit)."""
        return await self.db.run_alone(statement, params)

    async def claim(self, n: int) -> list[Job]:
        rows = await self._autocommit(
            self._claim_sql, {"lease": self.lease_seconds, "kinds": list(self.kinds), "n": n}
        )
        jobs = [_job_of(r) for r in rows]
        return sorted(jobs, key=lambda j: j.run_at)

    async def next_due(self) -> datetime | None:
        rows = await self._autocommit(self._next_due_sql, {"kinds": list(self.kinds)})
        return rows[0][0] if rows else None

    async def reap(self) -> int:
        return len(await self._autocommit(self._reap_sql, {"kinds": list(self.kinds)}))

    async def purge(self) -> None:
        """Deletes done jobs kept past their kind's retention (a thousand per kind and round)."""
        async with self.db.engine.connect() as conn:
            for kind in self.kinds.values():
                await run_sql(conn, self._purge_sql, {"kind": kind.name, "retain": kind.retain_done_seconds})

    async def execute(self, job: Job) -> str:
        """Runs one claimed job to its outcome: 'done', 'retried', 'dead' or 'lost' (another worker
        holds it now: its lease expired before we started)."""
        kind = self.kinds[job.kind]
        JOB_START_DELAY.labels(self.context).observe(max((datetime.now(UTC) - job.run_at).total_seconds(), 0))
        began = time.perf_counter()
        ctx = self._context_of(job)
        done = self._done_keep_sql if job.key is not None else self._done_delete_sql
        outcome = "done"
        try:
            with request_context.bind(ctx):
                async with self.db.transaction(job.tenant_id or "", for_jobs=True) as session:
                    # First, so the row stays locked while the handler runs (the reaper skips it) and
                    # the completion commits with the handler's writes.
                    owned = await run_sql(session, done, {"id": job.id, "attempts": job.attempts})
                    if not owned:
                        outcome = "lost"
                    else:
                        await asyncio.wait_for(kind.handler(job, session), kind.timeout_seconds)
        except asyncio.CancelledError:
            raise  # shutdown: rolled back; the lease expires and another worker takes the job
        except Exception as exc:
            outcome = await self._fail(job, kind, exc)
        JOB_SECONDS.labels(self.context, job.kind).observe(time.perf_counter() - began)
        JOBS_TOTAL.labels(self.context, job.kind, outcome).inc()
        if outcome == "lost":
            log.warning("job taken by another worker", extra={"context": self.context, "job": job.id})
        return outcome

    async def execute_batch(self, jobs: list[Job]) -> None:
        """Runs claimed jobs of one kind and tenant in one transaction that first marks them all done.
        Any failure rolls it back and each job runs again alone (execute), so the policy decides each."""
        kind = self.kinds[jobs[0].kind]
        tenant = jobs[0].tenant_id
        began = time.perf_counter()
        for job in jobs:
            JOB_START_DELAY.labels(self.context).observe(
                max((datetime.now(UTC) - job.run_at).total_seconds(), 0)
            )
        try:
            async with self.db.transaction(tenant or "", for_jobs=True) as session:
                owned = await self._own(session, jobs)
                mine = [job for job in jobs if job.id in owned]
                if kind.batch_handler is not None:
                    if mine:
                        with request_context.bind(self._context_of(mine[0])):
                            await asyncio.wait_for(kind.batch_handler(mine, session), kind.timeout_seconds)
                else:
                    for job in mine:
                        with request_context.bind(self._context_of(job)):
                            await asyncio.wait_for(kind.handler(job, session), kind.timeout_seconds)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info(
                "job batch failed; running its jobs one by one",
                extra={"context": self.context, "kind": kind.name, "jobs": len(jobs), "error": repr(exc)},
            )
            for job in jobs:
                await self.execute(job)
            return
        seconds = (time.perf_counter() - began) / len(jobs)
        for job in jobs:
            JOB_SECONDS.labels(self.context, job.kind).observe(seconds)
            JOBS_TOTAL.labels(self.context, job.kind, "done" if job.id in owned else "lost").inc()

    async def _own(self, session: AsyncConnection, jobs: list[Job]) -> set[str]:
        """Marks the jobs done in this transaction (locking their rows); returns the ids still ours."""
        owned: set[str] = set()
        for keyed, statement in ((False, self._done_delete_many_sql), (True, self._done_keep_many_sql)):
            part = [j for j in jobs if (j.key is not None) == keyed]
            if part:
                params = {"ids": [j.id for j in part], "attempts": [j.attempts for j in part]}
                owned.update(str(r.id) for r in await run_sql(session, statement, params))
        return owned

    def _context_of(self, job: Job) -> RequestContext:
        return RequestContext(
            correlation_id=job.id.replace("-", ""), tenant_id=job.tenant_id, rpc=f"job:{job.kind}"
        )

    async def _fail(self, job: Job, kind: JobKind, exc: Exception) -> str:
        terminal, after = classify(exc)
        dead = terminal or job.last_attempt
        if dead:
            delay = 0.0
        elif after is not None:
            delay = min(max(after, 0.0), kind.backoff_max_seconds)
        else:
            delay = backoff_seconds(
                job.attempts, kind.backoff_base_seconds, kind.backoff_max_seconds, self.rng
            )
        error = describe(exc)
        if job.last_attempt and not terminal:
            error = f"gave up after {job.attempts} attempts; last error: {error}"[:2000]
        params = {
            "state": "dead" if dead else "queued",
            "delay": delay,
            "error": error,
            "id": job.id,
            "attempts": job.attempts,
        }
        log_extra = {"context": self.context, "kind": job.kind, "job": job.id, "attempt": job.attempts}
        try:
            recorded = await self._autocommit(self._fail_sql, params)
        except Exception as db_exc:  # the lease expires and the reaper re-queues it: not lost
            log.error("could not record a job's failure", extra={**log_extra, "error": repr(db_exc)})
            return "unrecorded"
        if not recorded:
            return "lost"
        if dead:
            log.error("job dead: %s", error, extra=log_extra)
            return "dead"
        log.warning("job will be retried", extra={**log_extra, "error": error, "retry_in": round(delay, 3)})
        return "retried"
