"""`learnflow serve`: one grpc.aio server hosting any subset of contexts on one port.

Start-up: settings -> logs/tracing -> migrations (advisory lock) -> database (role check) -> NATS and
streams -> contexts built -> gRPC server (interceptor, health, reflection) -> metrics -> supervised
workers (relays, consumers, periodic work) -> health monitor.
Shutdown on SIGTERM/SIGINT: health NOT_SERVING -> consumers and jobs asked to stop, periodic work
cancelled -> in-flight RPCs finish (grace period) -> consumers finish their batch -> relays flush ->
NATS drains -> pool closes.

Every worker runs under the Supervisor (services/runtime/supervisor.py): a crash is logged once with
its traceback and the worker restarts with backoff; while a context's worker is restarting or stalled,
that context's services are NOT_SERVING with the reason (docs/architecture.md, "Supervised workers").
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc
import nats
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc
from learnflow.ops.v1 import operations_service_pb2, operations_service_pb2_grpc
from nats.aio.client import Client as NATS

from services.runtime import audit, logs, metrics, migrations, tracing
from services.runtime.authz import TokenVerifier, rules_for
from services.runtime.contexts import ContextSpec, Dependencies, Hosted, Periodic, load_contexts
from services.runtime.db import Database
from services.runtime.events.consumer import ConsumerRunner
from services.runtime.events.outbox import Outbox, OutboxRelay
from services.runtime.events.streams import ensure_streams
from services.runtime.interceptors import MeshInterceptor
from services.runtime.jobs import JobRunner
from services.runtime.ops import OperationsServicer
from services.runtime.registry import Registrar, advertised
from services.runtime.settings import Settings
from services.runtime.supervisor import Check, SingletonLease, Supervisor
from services.runtime.workload import WorkloadIdentity

log = logging.getLogger("learnflow.server")

# Health names: "" and each hosted service follow readiness (dependencies up, not draining);
# "liveness" answers SERVING while the process's event loop runs (Kubernetes liveness/startup probes),
# so an outage of Postgres or NATS takes pods out of rotation without restarting them.
LIVENESS = "liveness"
REASON_LOG_EVERY = 30.0
OPS_SERVICE = operations_service_pb2.DESCRIPTOR.services_by_name["OperationsService"].full_name


@dataclass(frozen=True)
class WorkerSettings:
    """The supervision knobs (declared with the runtime's Settings, so `learnflow settings` lists them)."""

    # Pending work with no progress for this long makes a context NOT_SERVING.
    stall_seconds: float = 60.0
    # The cap of the restart backoff (0.5 s doubling, with jitter).
    restart_max_seconds: float = 30.0
    # How often a replica without a singleton lease tries to take it (the takeover time).
    singleton_retry_seconds: float = 2.0

    @classmethod
    def read(cls, settings: Settings) -> WorkerSettings:
        return cls(
            stall_seconds=settings.worker_stall_seconds,
            restart_max_seconds=settings.worker_restart_max_seconds,
            singleton_retry_seconds=settings.singleton_retry_seconds,
        )


@dataclass
class Mesh:
    settings: Settings
    specs: list[ContextSpec]
    db: Database
    nc: NATS
    server: grpc.aio.Server
    health: health.HealthServicer
    verifier: TokenVerifier
    service_names: list[str]
    relays: list[OutboxRelay] = field(default_factory=list)
    consumers: list[ConsumerRunner] = field(default_factory=list)
    job_runners: list[JobRunner] = field(default_factory=list)
    # Every long-running worker (relays, consumers, periodic work, jobs): see supervisor.py.
    supervisor: Supervisor = field(default_factory=Supervisor)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)  # the health monitor
    hosted: list[tuple[ContextSpec, Hosted]] = field(default_factory=list)
    workloads: list[WorkloadIdentity] = field(default_factory=list)
    draining: bool = False
    port: int = 0
    reasons: dict[str, str] = field(default_factory=dict)
    # When each context's not-ready reason was last logged: a stall's reason changes every interval
    # (its counts and seconds), and is logged again at most every REASON_LOG_EVERY seconds.
    reason_logged: dict[str, float] = field(default_factory=dict)
    # The last dependency check: a stall probe that needs a dependency that is down is skipped.
    db_up: bool = True
    nats_up: bool = True

    def set_health(self, serving: bool, not_ready: set[str] | frozenset[str] = frozenset()) -> None:
        """Readiness for "" and each service; services of contexts in `not_ready` are NOT_SERVING."""
        serving_status = health_pb2.HealthCheckResponse.SERVING
        not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
        self.health.set("", serving_status if serving and not not_ready else not_serving)
        blocked = {name for spec, _ in self.hosted if spec.name in not_ready for name in spec.services}
        for name in self.service_names:
            self.health.set(name, serving_status if serving and name not in blocked else not_serving)


async def _connect_nats(url: str, name: str) -> NATS:
    async def on_disconnect() -> None:
        log.warning("NATS disconnected; reconnecting")

    async def on_reconnect() -> None:
        log.info("NATS reconnected")

    async def on_error(exc: Exception) -> None:
        log.debug("NATS error: %r", exc)

    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
        error_cb=on_error,
    )


async def start(settings: Settings) -> Mesh:
    specs = load_contexts(settings.contexts)
    worker_settings = WorkerSettings.read(settings)
    if settings.migrate_on_start:
        await asyncio.to_thread(
            migrations.run,
            settings.migration_database_url,
            migrations.app_role_of(settings.database_url),
            specs,
        )
    db = Database(
        settings.database_url, pool_size=settings.db_pool_size, job_pool_size=settings.db_job_pool_size
    )
    await db.check_role()
    nc = await _connect_nats(settings.nats_url, f"learnflow:{','.join(settings.contexts)}")
    js = nc.jetstream()
    # The runtime's AUDIT stream too, whatever is hosted: every outbox may record (runtime/audit.py).
    streams = {s.name: s for spec in specs for s in spec.streams} | {audit.STREAM.name: audit.STREAM}
    await ensure_streams(js, list(streams.values()))

    service_names = [name for spec in specs for name in spec.services] + [OPS_SERVICE]
    verifier = TokenVerifier(
        settings.identity_addr, issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    server = grpc.aio.server(
        options=[("grpc.so_reuseport", 1), ("grpc.max_receive_message_length", 8 * 1024 * 1024)],
    )
    # Every service registers with the interceptor, the server's one generic handler, not with the
    # server: see services/runtime/interceptors.py for the per-call cost this saves.
    handlers = MeshInterceptor(
        rules_for(service_names), verifier, streams_per_caller=settings.streams_per_caller
    )
    server.add_generic_rpc_handlers((handlers,))
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    mesh = Mesh(settings, specs, db, nc, server, health_servicer, verifier, service_names)
    mesh.supervisor = Supervisor(backoff_max=worker_settings.restart_max_seconds)
    supervisor = mesh.supervisor
    mesh.set_health(False)

    listen_dsn = settings.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    hosted = mesh.hosted
    for spec in specs:
        outbox = Outbox(spec.name, spec.schema)
        workload = WorkloadIdentity(
            settings.identity_addr, spec.name, settings.env.get(f"{spec.name.upper()}_WORKLOAD_SECRET", "")
        )
        mesh.workloads.append(workload)
        result = await spec.build(
            Dependencies(settings=settings, db=db, outbox=outbox, nats=nc, workload=workload)
        )
        hosted.append((spec, result))
        for add, servicer in result.servicers:
            add(servicer, handlers)
        relay = OutboxRelay(outbox, db, js, listen_dsn, stall_seconds=worker_settings.stall_seconds)
        mesh.relays.append(relay)
        supervisor.add(
            f"relay-{spec.name}",
            spec.name,
            relay.run,
            kind="relay",
            stop=relay.stop,
            check=_needs(mesh, "db_up", relay.check),  # the outbox's depth still shows while NATS is down
        )
        for consumer in result.consumers:
            runner = ConsumerRunner(
                consumer, schema=spec.schema, db=db, js=js, stall_seconds=worker_settings.stall_seconds
            )
            try:
                await runner.ensure()
            except Exception as exc:  # another context's stream may not exist yet: run() keeps trying
                log.warning("consumer will bind later", extra={"consumer": consumer.name, "error": repr(exc)})
            mesh.consumers.append(runner)
            supervisor.add(
                f"consumer-{consumer.name}",
                spec.name,
                runner.run,
                kind="consumer",
                stop=runner.stop,
                check=_needs(mesh, "nats_up", runner.check),
            )
        for work in result.periodic:
            supervisor.add(
                f"periodic-{work.name}",
                spec.name,
                _periodic(work, listen_dsn, worker_settings.singleton_retry_seconds),
                kind="periodic",
            )
        # The capability registry: this context's registration, renewed every TTL/2 (registry.py);
        # a "job" kind so that draining withdraws it first.
        registrar = Registrar(
            js,
            spec.name,
            advertised(settings.grpc_addr, settings.env),
            spec.capabilities,
            settings.registry_ttl,
        )
        supervisor.add(f"registry-{spec.name}", spec.name, registrar.run, kind="job", stop=registrar.stop)
        if result.jobs:
            jobs = JobRunner(spec.name, db, result.jobs, schema=spec.schema, listen_dsn=listen_dsn)
            mesh.job_runners.append(jobs)
            supervisor.add(f"jobs-{spec.name}", spec.name, jobs.run, kind="job", stop=jobs.stop)
    operations_service_pb2_grpc.add_OperationsServiceServicer_to_server(
        OperationsServicer(db, [s.name for s in specs]), handlers
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, handlers)
    # What reflection.enable_server_reflection does for a grpc.aio server (it picks the servicer by
    # the server's type, which `handlers` is not).
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
        reflection.aio.ReflectionServicer([*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME]),
        handlers,
    )
    mesh.port = server.add_insecure_port(settings.grpc_addr)
    if mesh.port == 0:
        raise RuntimeError(f"could not listen on {settings.grpc_addr}")
    await server.start()
    health_servicer.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)
    if settings.metrics_addr:
        metrics.serve(settings.metrics_addr)

    for _spec, result in hosted:
        for hook in result.on_start:
            await hook()
    supervisor.start()  # workers registered later (e.g. a jobs runner) start as they are added
    await _check_dependencies(mesh)
    mesh.tasks.append(asyncio.create_task(_monitor(mesh), name="health-monitor"))
    log.info(
        "serving",
        extra={
            "contexts": list(settings.contexts),
            "grpc": settings.grpc_addr,
            "metrics": settings.metrics_addr or "off",
        },
    )
    return mesh


async def _check_dependencies(mesh: Mesh) -> bool:
    db_up = await mesh.db.ping()
    nats_up = mesh.nc.is_connected
    metrics.HEALTH.labels("postgres").set(1 if db_up else 0)
    metrics.HEALTH.labels("nats").set(1 if nats_up else 0)
    not_ready: set[str] = set()
    mesh.db_up, mesh.nats_up = db_up, nats_up
    await mesh.supervisor.check()  # stall probes; they also set the consumer and outbox gauges
    workers = mesh.supervisor.not_ready()
    for spec, result in mesh.hosted:
        reason: str | None = None
        for check in result.health_checks:
            try:
                reason = await check()
            except Exception as exc:  # a check that cannot tell is not a pass
                reason = f"health check failed: {exc!r}"
            if reason is not None:
                break
        reason = reason or workers.get(spec.name)
        if reason is not None:
            not_ready.add(spec.name)
            now = asyncio.get_running_loop().time()
            previous = mesh.reasons.get(spec.name)
            if previous is None or (
                previous != reason and now - mesh.reason_logged.get(spec.name, 0.0) >= REASON_LOG_EVERY
            ):
                log.error("context not ready", extra={"context": spec.name, "reason": reason})
                mesh.reason_logged[spec.name] = now
            mesh.reasons[spec.name] = reason
        elif mesh.reasons.pop(spec.name, None) is not None:
            log.info("context ready again", extra={"context": spec.name})
    serving = db_up and nats_up and not mesh.draining
    mesh.set_health(serving, not_ready)
    for spec, _ in mesh.hosted:
        metrics.CONTEXT_SERVING.labels(spec.name).set(1 if serving and spec.name not in not_ready else 0)
    return serving and not not_ready


async def _monitor(mesh: Mesh) -> None:
    was = True
    while not mesh.draining:
        await asyncio.sleep(mesh.settings.health_interval)
        if mesh.draining:
            return
        try:
            now = await _check_dependencies(mesh)
        except Exception:  # the monitor must not die: health would freeze at its last answer
            log.exception("health check failed")
            mesh.set_health(False)
            now = False
        if now != was:
            log.warning("health changed", extra={"serving": now})
            was = now


def _needs(mesh: Mesh, dependency: str, check: Check) -> Check:
    """A stall probe run only while `dependency` (a Mesh flag) is up: otherwise it would only time out
    and hold up the health monitor; the supervisor keeps its previous answer."""

    async def probe() -> str | None:
        if not getattr(mesh, dependency):
            raise ConnectionError(f"{dependency.removesuffix('_up')} is down; probe skipped")
        return await check()

    return probe


def _periodic(work: Periodic, dsn: str, singleton_retry: float) -> Callable[[], Awaitable[None]]:
    """The worker for a periodic work item: every replica runs it, or with `singleton` only the one
    holding its lease."""
    if not work.singleton:
        return lambda: _every(work)
    lease = SingletonLease(work.name, dsn, retry=singleton_retry, check=min(1.0, singleton_retry))
    return lambda: lease.run(lambda: _every(work))


async def _every(work: Periodic) -> None:
    """Runs `work` now and then `interval_seconds` after each run, until cancelled at shutdown."""
    while True:
        try:
            await work.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("periodic work failed", extra={"work": work.name})
        await asyncio.sleep(work.interval_seconds)


async def stop(mesh: Mesh) -> None:
    mesh.draining = True
    log.info("draining")
    mesh.set_health(False)
    mesh.health.enter_graceful_shutdown()
    supervisor = mesh.supervisor
    supervisor.request_stop({"consumer", "job"})  # each finishes its batch / job step, then returns
    # A periodic run cut short rolls its transaction back; the next one (here or elsewhere) redoes it.
    await supervisor.join(supervisor.request_stop({"periodic"}), grace=mesh.settings.shutdown_grace)
    await mesh.server.stop(mesh.settings.shutdown_grace)
    supervisor.request_stop()  # relays last: they publish what the final RPCs committed
    for task in mesh.tasks:
        task.cancel()
    await supervisor.join(grace=mesh.settings.shutdown_grace)
    await asyncio.gather(*mesh.tasks, return_exceptions=True)
    for _spec, result in mesh.hosted:
        for hook in result.on_stop:
            with contextlib.suppress(Exception):
                await hook()
    with contextlib.suppress(Exception):
        await mesh.nc.drain()
    await mesh.verifier.close()
    for workload in mesh.workloads:
        await workload.close()
    await mesh.db.dispose()
    log.info("stopped")


async def serve(settings: Settings) -> None:
    logs.configure(settings.log_level)
    tracing.configure(settings.traces_exporter, "learnflow-" + "-".join(settings.contexts))
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_requested.set)
    mesh = await start(settings)
    # Everything made while starting (modules, descriptors, SQLAlchemy tables: ~330,000 objects with
    # every context) lives as long as the process: moved out of the collector's reach, a full
    # collection walks only what came after. Without it the first full collection under load held
    # the event loop for ~1 s (wall clock on the loaded machine, gc.callbacks during GetUser at c=32),
    # and each later one would again. Cyclic garbage left by start-up stays (a one-off, small).
    gc.freeze()
    await stop_requested.wait()
    await stop(mesh)
