"""`learnflow serve`: one grpc.aio server hosting any subset of contexts on one port.

Start-up: settings -> logs/tracing -> migrations (advisory lock) -> database (role check) -> NATS and
streams -> contexts built -> gRPC server (interceptor, health, reflection) -> relays, consumers,
periodic work, metrics.
Shutdown on SIGTERM/SIGINT: health NOT_SERVING -> consumers and periodic work stop -> in-flight RPCs
finish (grace period) -> consumers finish their message -> relays flush -> NATS drains -> pool closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass, field

import grpc
import nats
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from learnflow.ops.v1 import operations_service_pb2, operations_service_pb2_grpc
from nats.aio.client import Client as NATS

from services.runtime import logs, metrics, migrations, tracing
from services.runtime.authz import TokenVerifier, rules_for
from services.runtime.contexts import ContextSpec, Dependencies, Hosted, Periodic, load_contexts
from services.runtime.db import Database
from services.runtime.events.consumer import ConsumerRunner
from services.runtime.events.outbox import Outbox, OutboxRelay
from services.runtime.events.streams import ensure_streams
from services.runtime.interceptors import MeshInterceptor
from services.runtime.jobs import JobRunner
from services.runtime.ops import OperationsServicer
from services.runtime.settings import Settings
from services.runtime.workload import WorkloadIdentity

log = logging.getLogger("learnflow.server")

# Health names: "" and each hosted service follow readiness (dependencies up, not draining);
# "liveness" answers SERVING while the process's event loop runs (Kubernetes liveness/startup probes),
# so an outage of Postgres or NATS takes pods out of rotation without restarting them.
LIVENESS = "liveness"
OPS_SERVICE = operations_service_pb2.DESCRIPTOR.services_by_name["OperationsService"].full_name


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
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    periodic_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    hosted: list[tuple[ContextSpec, Hosted]] = field(default_factory=list)
    workloads: list[WorkloadIdentity] = field(default_factory=list)
    draining: bool = False
    port: int = 0
    reasons: dict[str, str] = field(default_factory=dict)

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
    if settings.migrate_on_start:
        await asyncio.to_thread(
            migrations.run,
            settings.migration_database_url,
            migrations.app_role_of(settings.database_url),
            specs,
        )
    db = Database(settings.database_url, pool_size=settings.db_pool_size)
    await db.check_role()
    nc = await _connect_nats(settings.nats_url, f"learnflow:{','.join(settings.contexts)}")
    js = nc.jetstream()
    await ensure_streams(js, [s for spec in specs for s in spec.streams])

    service_names = [name for spec in specs for name in spec.services] + [OPS_SERVICE]
    verifier = TokenVerifier(
        settings.identity_addr, issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    server = grpc.aio.server(
        interceptors=[MeshInterceptor(rules_for(service_names), verifier)],
        options=[("grpc.so_reuseport", 1), ("grpc.max_receive_message_length", 8 * 1024 * 1024)],
    )
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    mesh = Mesh(settings, specs, db, nc, server, health_servicer, verifier, service_names)
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
            add(servicer, server)
        mesh.relays.append(OutboxRelay(outbox, db, js, listen_dsn))
        for consumer in result.consumers:
            runner = ConsumerRunner(consumer, schema=spec.schema, db=db, js=js)
            try:
                await runner.ensure()
            except Exception as exc:  # another context's stream may not exist yet: run() keeps trying
                log.warning("consumer will bind later", extra={"consumer": consumer.name, "error": repr(exc)})
            mesh.consumers.append(runner)
        if result.jobs:
            mesh.job_runners.append(
                JobRunner(spec.name, db, result.jobs, schema=spec.schema, listen_dsn=listen_dsn)
            )
    operations_service_pb2_grpc.add_OperationsServiceServicer_to_server(
        OperationsServicer(db, [s.name for s in specs]), server
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    mesh.port = server.add_insecure_port(settings.grpc_addr)
    if mesh.port == 0:
        raise RuntimeError(f"could not listen on {settings.grpc_addr}")
    await server.start()
    health_servicer.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)
    if settings.metrics_addr:
        metrics.serve(settings.metrics_addr)

    for relay in mesh.relays:
        mesh.tasks.append(asyncio.create_task(relay.run(), name=f"relay-{relay.outbox.context}"))
    for runner in mesh.consumers:
        mesh.tasks.append(asyncio.create_task(runner.run(), name=f"consumer-{runner.spec.name}"))
    for jobs in mesh.job_runners:
        mesh.tasks.append(asyncio.create_task(jobs.run(), name=f"jobs-{jobs.context}"))
    for _spec, result in hosted:
        for hook in result.on_start:
            await hook()
        for work in result.periodic:
            mesh.periodic_tasks.append(asyncio.create_task(_every(work), name=f"periodic-{work.name}"))
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
    for spec, result in mesh.hosted:
        for check in result.health_checks:
            reason = await check()
            if reason is not None:
                not_ready.add(spec.name)
                if mesh.reasons.get(spec.name) != reason:
                    log.error("context not ready", extra={"context": spec.name, "reason": reason})
                mesh.reasons[spec.name] = reason
                break
        else:
            if mesh.reasons.pop(spec.name, None) is not None:
                log.info("context ready again", extra={"context": spec.name})
    serving = db_up and nats_up and not mesh.draining
    mesh.set_health(serving, not_ready)
    return serving and not not_ready


async def _monitor(mesh: Mesh) -> None:
    was = True
    while not mesh.draining:
        await asyncio.sleep(mesh.settings.health_interval)
        if mesh.draining:
            return
        now = await _check_dependencies(mesh)
        if now != was:
            log.warning("health changed", extra={"serving": now})
            was = now


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
    for runner in mesh.consumers:
        runner.stop()
    for jobs in mesh.job_runners:  # claims nothing more; the jobs in hand finish within the grace
        jobs.stop()
    for task in mesh.periodic_tasks:  # a run cut short rolls its transaction back; the next one redoes it
        task.cancel()
    await asyncio.gather(*mesh.periodic_tasks, return_exceptions=True)
    await mesh.server.stop(mesh.settings.shutdown_grace)
    for relay in mesh.relays:
        relay.stop()
    if mesh.tasks:
        _, pending = await asyncio.wait(mesh.tasks, timeout=mesh.settings.shutdown_grace)
        for task in pending:
            task.cancel()
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
    await stop_requested.wait()
    await stop(mesh)
