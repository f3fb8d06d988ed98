"""Supervised workers: every long-running task `learnflow serve` starts (consumers, outbox relays,
periodic work, jobs) runs under a `Supervisor`, so none can end silently.

- A worker is any `async def run()` registered with a name, the context it belongs to and a kind.
- When `run()` raises (or returns while nobody asked it to stop) the crash is logged ONCE with its
  traceback, `learnflow_worker_restarts_total{worker,context}` goes up, and `run()` is called again
  after an exponential backoff with jitter (0.5 s doubling, capped; reset once a run lasted a while).
- While a worker waits to restart, or its `check()` reports a stall (pending work, no progress), its
  context is not ready: the health monitor in server.py turns `not_ready()` into NOT_SERVING for that
  context's services, with the reason.

Also here: `is_outage`, which tells "a dependency is down" (PostgreSQL or NATS unreachable) from "this
piece of work failed", and `SingletonLease`, which lets at most one replica run a periodic work item.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import psycopg
from sqlalchemy import exc as sa_exc

from services.runtime import metrics
from services.runtime.errors import Unavailable

log = logging.getLogger(__name__)

Run = Callable[[], Awaitable[None]]
Check = Callable[[], Awaitable[str | None]]


def is_outage(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) says a dependency could not be reached, rather than that
    the work itself is wrong: the database refused or dropped the connection, NATS is disconnected or
    did not answer. Callers confirm with a probe (Database.ping) before treating it as an outage: a
    deadlock is also an OperationalError, and an Unavailable may come from another context."""
    import nats.errors  # local: keeps this module importable without a NATS client in unit tests

    outage_types: tuple[type[BaseException], ...] = (
        Unavailable,
        sa_exc.OperationalError,
        sa_exc.InterfaceError,
        psycopg.OperationalError,
        psycopg.InterfaceError,
        ConnectionError,
        TimeoutError,
        nats.errors.ConnectionClosedError,
        nats.errors.NoServersError,
        nats.errors.TimeoutError,
        nats.errors.NoRespondersError,
        nats.errors.StaleConnectionError,
        nats.errors.OutboundBufferLimitError,
    )
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, outage_types):
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, OSError) and not isinstance(current, FileNotFoundError):
            return True  # connection refused / reset, host unreachable
        current = current.__cause__ or current.__context__
    return False


@dataclass(eq=False)
class Worker:
    """One supervised task. `stop` asks `run` to return at its next safe point (a consumer finishes
    its batch, a relay flushes); without it, stopping cancels the task. `check` is the stall probe:
    None while the worker makes progress, else why it does not."""

    name: str
    context: str
    run: Run
    kind: str = "worker"  # consumer | relay | periodic | job: server.py stops them in that order
    stop: Callable[[], None] | None = None
    check: Check | None = None
    state: str = "idle"  # idle | running | restarting | stopped
    crash: str | None = None  # the last crash, while waiting to restart
    stall: str | None = None  # the stall probe's last answer
    restarts: int = 0
    stopping: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    wake: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def reason(self) -> str | None:
        """Why this worker makes its context not ready, or None."""
        if self.state == "restarting":
            return f"worker {self.name} crashed and is restarting: {self.crash}"
        return self.stall


class Supervisor:
    def __init__(
        self,
        *,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        healthy_after: float = 60.0,
        check_timeout: float = 5.0,
    ):
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        # A run that lasted this long was healthy: the next crash restarts after the initial delay.
        self.healthy_after = healthy_after
        self.check_timeout = check_timeout
        self.workers: list[Worker] = []
        self.started = False

    def add(
        self,
        name: str,
        context: str,
        run: Run,
        *,
        kind: str = "worker",
        stop: Callable[[], None] | None = None,
        check: Check | None = None,
    ) -> Worker:
        """Registers a worker; started at once when the supervisor already runs."""
        worker = Worker(name, context, run, kind=kind, stop=stop, check=check)
        self.workers.append(worker)
        if self.started:
            self._start(worker)
        return worker

    def start(self) -> None:
        self.started = True
        for worker in self.workers:
            if worker.task is None:
                self._start(worker)

    def _start(self, worker: Worker) -> None:
        worker.task = asyncio.create_task(self._supervise(worker), name=worker.name)

    async def _supervise(self, w: Worker) -> None:
        loop = asyncio.get_running_loop()
        delay = self.backoff_initial
        while not w.stopping:
            began = loop.time()
            w.state, w.crash = "running", None
            try:
                await w.run()
            except asyncio.CancelledError:
                w.state = "stopped"
                raise
            except Exception as exc:
                if w.stopping:
                    log.warning("worker failed while stopping", extra={"worker": w.name, "error": repr(exc)})
                    break
                w.crash = repr(exc)
                log.exception("worker crashed; restarting", extra={"worker": w.name, "context": w.context})
            else:
                if w.stopping:
                    break
                w.crash = "run() returned while the worker was not being stopped"
                log.error(
                    "worker ended unexpectedly; restarting", extra={"worker": w.name, "context": w.context}
                )
            w.state = "restarting"
            w.restarts += 1
            metrics.WORKER_RESTARTS.labels(w.name, w.context).inc()
            if loop.time() - began >= self.healthy_after:
                delay = self.backoff_initial
            pause = delay * random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not security)
            log.info("worker restarting", extra={"worker": w.name, "retry_in": round(pause, 2)})
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await w.wake.wait()  # a stop interrupts the wait
            delay = min(delay * 2, self.backoff_max)
        w.state = "stopped"

    async def check(self) -> None:
        """Runs every worker's stall probe (concurrently, each bounded by check_timeout). A probe
        that fails or times out keeps the previous answer: its dependency being down is reported by
        the dependency checks, not as a stall."""

        async def one(w: Worker) -> None:
            assert w.check is not None
            try:
                async with asyncio.timeout(self.check_timeout):
                    w.stall = await w.check()
            except Exception as exc:
                log.debug("stall check failed", extra={"worker": w.name, "error": repr(exc)})

        await asyncio.gather(*(one(w) for w in self.workers if w.check is not None and w.state == "running"))

    def not_ready(self) -> dict[str, str]:
        """Context -> why its workers make it not ready (all reasons, joined), for contexts with any."""
        reasons: dict[str, list[str]] = {}
        for w in self.workers:
            if w.stopping:
                continue
            reason = w.reason
            if reason is not None:
                reasons.setdefault(w.context, []).append(reason)
        return {context: "; ".join(found) for context, found in reasons.items()}

    def request_stop(self, kinds: set[str] | None = None) -> list[Worker]:
        """Asks the workers of these kinds (all by default) to stop; returns them."""
        chosen = [w for w in self.workers if kinds is None or w.kind in kinds]
        for w in chosen:
            w.stopping = True
            w.wake.set()
            if w.stop is not None and w.state == "running":
                w.stop()
            elif w.task is not None:
                w.task.cancel()
        return chosen

    async def join(self, workers: list[Worker] | None = None, grace: float | None = None) -> None:
        """Waits for these workers' tasks (all by default) to end; cancels what is left after `grace`
        seconds."""
        tasks = [w.task for w in (self.workers if workers is None else workers) if w.task is not None]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:  # bounded: a worker that swallows its cancellation must not hang the shutdown
            _, stuck = await asyncio.wait(pending, timeout=5)
            for task in stuck:
                log.error("worker did not stop when cancelled", extra={"worker": task.get_name()})


def lease_key(name: str) -> int:
    """The advisory-lock key of a singleton work item: a stable signed 64-bit hash of its name."""
    digest = hashlib.sha256(f"learnflow.singleton:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class SingletonLease:
    """At most one replica runs `work` at a time: the one whose dedicated PostgreSQL session holds the
    session advisory lock `lease_key(name)`. The others try again every `retry` seconds. The holder
    checks its session every `check` seconds; when the session is gone (database restarted, connection
    cut, backend terminated) it cancels the work at once, since another replica may already hold the
    lock. A replica that dies closes its connection, PostgreSQL drops the lock with the session, and
    another takes over within `retry` seconds. TCP keepalives (set for the session) bound how long a
    vanished host's session lingers on the server."""

    def __init__(self, name: str, dsn: str, *, retry: float = 2.0, check: float = 1.0):
        self.name = name
        self.dsn = dsn
        self.key = lease_key(name)
        self.retry = retry
        self.check = check
        self.held = False
        self.backend_pid: int | None = None  # the lock-holding session's pid, for operators and tests

    async def run(self, work: Run) -> None:
        """Forever: take the lease, run `work` while holding it. `work` raising ends this (the
        supervisor restarts it); losing the lease only cancels the work and goes back to waiting."""
        while True:
            try:
                await self._hold_and_run(work)
            except (OSError, psycopg.Error, TimeoutError) as exc:
                if self.held:
                    log.warning("singleton lease lost", extra={"work": self.name, "error": repr(exc)})
                else:
                    log.debug("singleton lease unavailable: %r", exc)
            finally:
                if self.held:
                    self.held = False
                    metrics.SINGLETON_LEADER.labels(self.name).set(0)
            await asyncio.sleep(self.retry)

    async def _hold_and_run(self, work: Run) -> None:
        conn = await psycopg.AsyncConnection.connect(
            self.dsn,
            autocommit=True,
            connect_timeout=5,
            # Server side: a holder whose host vanished is noticed in ~15 s and its lock dropped.
            options="-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=5",
        )
        async with conn:
            self.backend_pid = conn.info.backend_pid
            while not await self._try_lock(conn):  # noqa: ASYNC110 (polling the database, not a local event)
                await asyncio.sleep(self.retry)
            self.held = True
            metrics.SINGLETON_LEADER.labels(self.name).set(1)
            log.info("singleton lease acquired", extra={"work": self.name, "backend_pid": self.backend_pid})
            task = asyncio.ensure_future(work())
            try:
                while True:
                    done, _ = await asyncio.wait({task}, timeout=self.check)
                    if done:
                        task.result()  # raises what the work raised
                        raise RuntimeError(f"singleton work {self.name} returned")
                    async with asyncio.timeout(self.check * 5):
                        await conn.execute("SELECT 1")
            finally:
                # Not `await task` under suppress(CancelledError): that would also swallow a
                # cancellation of this task arriving meanwhile, and the lease loop would go on.
                task.cancel()
                await asyncio.wait({task})
                if not task.cancelled() and task.exception() is not None:
                    log.warning(
                        "singleton work failed", extra={"work": self.name, "error": repr(task.exception())}
                    )

    async def _try_lock(self, conn: psycopg.AsyncConnection[tuple[bool]]) -> bool:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can lose a cancellation that arrives
        # as the query completes, and a cancelled lease would keep polling forever.
        async with asyncio.timeout(self.check * 5):
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,))
            row = await cur.fetchone()
        return bool(row and row[0])
