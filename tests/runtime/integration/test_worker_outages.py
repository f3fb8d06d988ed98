"""`learnflow serve` on a mesh of its own while its dependencies go away under load, without ever
restarting serve: PostgreSQL down for longer than the old delivery budget (~8 s) while
sandbox.executed events flow to progress, NATS down while identity's outbox fills, and a consumer
stuck on a lock. Every event accepted before, during and after is applied exactly once, none is
dead-lettered, no worker crashes, and health says NOT_SERVING (with the reason, for a stall) exactly
while the context cannot do its work. Last, a second replica of progress takes the singleton
periodic work over when the replica holding its lease is killed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator

import grpc
import nats
import psycopg
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from learnflow.auth.v1 import auth_pb2
from learnflow.identity.v1 import events_pb2 as identity_events
from learnflow.identity.v1 import identity_service_pb2 as id_pb
from learnflow.identity.v1 import identity_service_pb2_grpc as id_grpc
from learnflow.identity.v1 import resources_pb2
from learnflow.sandbox.v1 import events_pb2 as sandbox_events

from services.progress.app import SERVICE as PROGRESS_SERVICE
from services.runtime.events.envelope import build_headers
from services.runtime.local.mesh import grpc_serving
from services.runtime.local.procs import free_port, spawn, terminate, wait_until
from services.runtime.testing import bearer, login, mesh_dir, new_mesh

log = logging.getLogger(__name__)
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
CONSUMER = "progress-sandbox-executed"


@pytest.fixture(scope="module")
def own_mesh():
    root = mesh_dir("learnflow-outages-")
    m = new_mesh(
        root,
        LEARNFLOW_WORKER_STALL_SECONDS="3",
        LEARNFLOW_SINGLETON_RETRY_SECONDS="0.5",
        LEARNFLOW_WORKER_RESTART_MAX_SECONDS="2",
    )
    try:
        m.start_infra()
        m.start_server()
        yield m
    finally:
        m.stop()
        if not os.environ.get("LEARNFLOW_KEEP_TEST_DATA"):
            shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def _down(part) -> Iterator[None]:
    """`part` (the mesh's PostgreSQL or nats-server) stopped inside the block and started again
    however the block ends, so a failed test leaves the module's mesh whole for the next."""
    part.stop()
    try:
        yield
    finally:
        part.start()


def _status(addr: str, service: str = "") -> int:
    try:
        with grpc.insecure_channel(addr) as ch:
            request = health_pb2.HealthCheckRequest(service=service)
            return health_pb2_grpc.HealthStub(ch).Check(request, timeout=2).status
    except grpc.RpcError:
        return -1


def _wait_status(m, want: int, timeout: float = 20, service: str = "") -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if _status(m.grpc_addr, service) == want:
            return time.monotonic() - began
        time.sleep(0.1)
    raise AssertionError(
        f"health of {service!r} never became {want}; last {_status(m.grpc_addr, service)}{_why(m)}"
    )


def _why(m) -> str:
    """For an assertion's message: the serving process's last reasons for not serving, its worker
    lines, and what JetStream holds for each consumer."""
    lines: list[str] = []
    if m.serve_output.exists():
        text = m.serve_output.read_text().splitlines()
        lines = [ln for ln in text if '"context not ready"' in ln or "worker" in ln][-8:]
    return "\n" + "\n".join(lines + _jetstream_state(m))


def _jetstream_state(m) -> list[str]:
    async def read() -> list[str]:
        nc = await nats.connect(m.nats_url)
        try:
            js = nc.jetstream()
            found: list[str] = []
            for stream in await js.streams_info():
                for info in await js.consumers_info(stream.config.name):
                    if info.num_pending or info.num_ack_pending or info.num_redelivered:
                        found.append(
                            f"jetstream {info.name}: {info.num_pending} pending, {info.num_ack_pending} "
                            f"unacknowledged, {info.num_redelivered} redelivered, {info.num_waiting} pulls "
                            f"waiting, delivered {info.delivered.stream_seq}, ack floor "
                            f"{info.ack_floor.stream_seq}"
                        )
            return found
        finally:
            await nc.close()

    try:
        return asyncio.run(read())
    except Exception as exc:
        return [f"jetstream unreadable: {exc!r}"]


def _sql(m, query: str, *args):
    dsn = m.migration_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(query, args).fetchall()


def _metric(m, name: str, **labels: str) -> float | None:
    return _metric_at(m.ports.metrics, name, **labels)


def _metric_at(port: int, name: str, **labels: str) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())  # in the metric's label order
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} ") or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    return None


def _inbox(m, consumer: str) -> dict[str, int]:
    rows = _sql(m, "SELECT event_id, count(*) FROM progress.inbox WHERE consumer = %s GROUP BY 1", consumer)
    return {event_id: count for event_id, count in rows}


def _wait_inbox(m, consumer: str, ids: set[str], timeout: float = 30) -> dict[str, int]:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        inbox = _inbox(m, consumer)
        if ids <= inbox.keys():
            return inbox
        time.sleep(0.2)
    missing = ids - _inbox(m, consumer).keys()
    raise AssertionError(f"{len(missing)} of {len(ids)} events never applied by {consumer}{_why(m)}")


def _dead_letters(m, consumer: str) -> list[tuple[str, str]]:
    return _sql(m, "SELECT event_id, reason FROM progress.dead_letters WHERE consumer = %s", consumer)


class Publisher:
    """Publishes sandbox.executed events for one student to JetStream, one every `every` seconds, on
    its own thread, as the sandbox's relay would; keeps the ids JetStream acknowledged."""

    def __init__(self, nats_url: str, tenant: str, student: str, every: float = 0.05):
        self.nats_url, self.tenant, self.student, self.every = nats_url, tenant, student, every
        self.ids: list[str] = []
        self.executions: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        nc = await nats.connect(self.nats_url)
        js = nc.jetstream()
        try:
            while not self._stop.is_set():
                occur = Timestamp()
                occur.GetCurrentTime()
                event = sandbox_events.SandboxExecuted(
                    execution_id=str(uuid.uuid4()), user_id=self.student, duration_ms=5, occur_time=occur
                )
                headers = build_headers(event, source="sandbox", tenant_id=self.tenant)
                await js.publish("sandbox.executed", event.SerializeToString(), headers=headers, timeout=5)
                self.ids.append(headers["ce-id"])
                self.executions.append(event.execution_id)
                await asyncio.sleep(self.every)
        finally:
            await nc.close()

    def start(self) -> Publisher:
        self._thread.start()
        return self

    def stop(self) -> set[str]:
        self._stop.set()
        self._thread.join(10)
        return set(self.ids)


def _demo_student(m) -> tuple[str, str]:
    rows = _sql(
        m,
        "SELECT u.tenant_id, u.id FROM identity.users u JOIN identity.tenants t ON t.id = u.tenant_id "
        "WHERE t.slug = 'demo' AND u.email = 'student@demo.test'",
    )
    return str(rows[0][0]), str(rows[0][1])


def _no_crash(m) -> None:
    """serve is the same process, no worker restarted, nothing died unobserved."""
    assert m.server.poll() is None
    log = m.serve_output.read_text()
    assert "Task exception was never retrieved" not in log
    assert "worker crashed" not in log and "worker ended unexpectedly" not in log


def test_postgres_restart_while_events_flow_applies_each_once_without_dead_letters(own_mesh):
    m = own_mesh
    addr = m.grpc_addr
    pid = m.server.pid
    _wait_status(m, SERVING)
    tenant, student = _demo_student(m)
    publisher = Publisher(m.nats_url, tenant, student).start()
    try:
        time.sleep(1.0)  # events before the outage, applied as they come
        before = set(publisher.ids)
        _wait_inbox(m, CONSUMER, before)
        with _down(m.postgres):
            _wait_status(m, NOT_SERVING, timeout=10)
            down = time.monotonic()
            while time.monotonic() - down < 10:  # longer than the old budget of 5 deliveries (~8 s)
                assert _status(addr) == NOT_SERVING
                time.sleep(0.5)
            during = set(publisher.ids) - before
        back = _wait_status(m, SERVING, timeout=30)
        time.sleep(1.0)  # events after the outage
    finally:
        ids = publisher.stop()
    assert len(during) > 50 and len(ids) > len(before) + len(during)
    inbox = _wait_inbox(m, CONSUMER, ids)
    assert all(inbox[i] == 1 for i in ids)
    assert _dead_letters(m, CONSUMER) == []
    recorded = _sql(
        m,
        "SELECT count(*) FROM progress.activities WHERE id = ANY(%s)",
        [f"sandbox.executed:{e}" for e in publisher.executions],
    )
    assert recorded[0][0] == len(ids)  # each run recorded in progress's own tables
    assert m.server.pid == pid
    _no_crash(m)
    serve_log = m.serve_output.read_text()
    held = f'"msg": "database down; holding events without spending a delivery", "consumer": "{CONSUMER}"'
    assert held in serve_log
    assert f'"msg": "event handling failed; will retry", "consumer": "{CONSUMER}"' not in serve_log
    assert (
        _metric(m, "learnflow_worker_restarts_total", worker=f"consumer-{CONSUMER}", context="progress") or 0
    ) == 0
    # progress's periodic checks are a singleton: this replica holds the lease again after the outage.
    deadline = time.monotonic() + 10
    while _metric(m, "learnflow_singleton_leader", work="progress-checks") != 1:
        assert time.monotonic() < deadline, "the progress-checks lease was not taken again"
        time.sleep(0.2)
    assert _status(addr) == SERVING
    log.info("serving again %.1f s after PostgreSQL came back; %d events", back, len(ids))


def _create_user(m, admin: str, email: str) -> str:
    with grpc.insecure_channel(m.grpc_addr) as ch:
        reply = id_grpc.IdentityServiceStub(ch).CreateUser(
            id_pb.CreateUserRequest(
                user=resources_pb2.User(email=email, roles=[auth_pb2.ROLE_STUDENT]),
                password="a-long-password",
            ),
            metadata=bearer(admin),
            timeout=10,
        )
    return str(reply.id)


def _user_created_events(m) -> dict[str, list[str]]:
    """email -> the ce-ids of the identity.user.created messages in the IDENTITY stream for it."""

    async def read() -> dict[str, list[str]]:
        nc = await nats.connect(m.nats_url)
        js = nc.jetstream()
        found: dict[str, list[str]] = {}
        try:
            info = await js.stream_info("IDENTITY")
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                msg = await js.get_msg("IDENTITY", seq)
                if msg.subject != "identity.user.created":
                    continue
                email = identity_events.UserCreated.FromString(msg.data).user.email
                found.setdefault(email, []).append(msg.headers["ce-id"])
        finally:
            await nc.close()
        return found

    return asyncio.run(read())


def test_nats_restart_while_the_outbox_fills_publishes_each_once(own_mesh):
    m = own_mesh
    addr = m.grpc_addr
    pid = m.server.pid
    _wait_status(m, SERVING)
    admin = login(m, "admin@demo.test")
    tag = uuid.uuid4().hex[:6]
    emails = [f"nats-{phase}{i}-{tag}@demo.test" for phase in ("before", "during", "after") for i in range(4)]
    for email in emails[:4]:
        _create_user(m, admin, email)
    with _down(m.nats):
        _wait_status(m, NOT_SERVING, timeout=10)
        for email in emails[4:8]:  # accepted while NATS is away: they wait in the outbox
            _create_user(m, admin, email)
        waiting = _sql(m, "SELECT count(*) FROM identity.outbox")[0][0]
        assert waiting >= 4
        deadline = time.monotonic() + 5
        while (_metric(m, "learnflow_outbox_pending", context="identity") or 0) < 4:
            assert time.monotonic() < deadline, "learnflow_outbox_pending never showed the waiting rows"
            time.sleep(0.2)
        time.sleep(4)  # longer than the stall threshold: the outbox's age shows too
        assert (_metric(m, "learnflow_outbox_oldest_age_seconds", context="identity") or 0) >= 3
        assert _status(addr) == NOT_SERVING
    _wait_status(m, SERVING, timeout=30)
    for email in emails[8:]:
        _create_user(m, admin, email)

    deadline = time.monotonic() + 30
    while _sql(m, "SELECT count(*) FROM identity.outbox")[0][0]:
        assert time.monotonic() < deadline, "the outbox was not emptied after NATS came back"
        time.sleep(0.2)
    events = _user_created_events(m)
    assert all(len(events.get(e, [])) == 1 for e in emails), {e: events.get(e) for e in emails}
    ids = {events[e][0] for e in emails}
    inbox = _wait_inbox(m, "progress-identity-users", ids)
    assert all(inbox[i] == 1 for i in ids)
    assert _dead_letters(m, "progress-identity-users") == []
    assert m.server.pid == pid
    _no_crash(m)
    assert _status(addr) == SERVING


def test_a_consumer_stuck_on_a_lock_makes_its_context_not_serving_with_the_reason(own_mesh):
    m = own_mesh
    addr = m.grpc_addr
    identity = id_pb.DESCRIPTOR.services_by_name["IdentityService"].full_name
    _wait_status(m, SERVING)
    tenant, student = _demo_student(m)
    dsn = m.migration_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn) as locker:
        # Whoever holds this lock (a long migration, a stuck transaction) stops the intake cold.
        locker.execute("LOCK TABLE progress.activities IN ACCESS EXCLUSIVE MODE")
        publisher = Publisher(m.nats_url, tenant, student, every=0.02).start()
        time.sleep(0.5)
        publisher.stop()
        took = _wait_status(m, NOT_SERVING, timeout=15, service=PROGRESS_SERVICE)
        assert _status(addr, identity) == SERVING  # other contexts keep serving
        serve_log = m.serve_output.read_text()
        assert f"consumer {CONSUMER}: " in serve_log and "no progress for" in serve_log
        locker.rollback()
    _wait_status(m, SERVING, timeout=15, service=PROGRESS_SERVICE)
    inbox = _wait_inbox(m, CONSUMER, set(publisher.ids))
    assert all(inbox[i] == 1 for i in publisher.ids)
    assert _status(addr) == SERVING, _why(m)
    log.info("stall reported %.1f s after the lock", took)


def test_singleton_periodic_work_runs_on_one_replica_and_moves_when_it_dies(own_mesh):
    """progress's checks are singleton: with a second replica of progress against the same database,
    only the lease holder runs them; SIGKILL the holder and the other takes over within seconds."""
    m = own_mesh
    _wait_status(m, SERVING)
    grpc_port, metrics_port = free_port(), free_port()
    env = m.server_env(
        LEARNFLOW_GRPC_ADDR=f"127.0.0.1:{grpc_port}",
        LEARNFLOW_METRICS_ADDR=f"127.0.0.1:{metrics_port}",
        IDENTITY_SERVICE_ADDR=m.grpc_addr,
    )
    second_log = m.data_dir / "serve-2.log"
    argv = [sys.executable, "-m", "services.runtime.cli", "serve", "--contexts", "progress"]
    second = spawn(argv, second_log, env=env)
    try:
        wait_until(lambda: grpc_serving(f"127.0.0.1:{grpc_port}"), 60, "second replica", second, second_log)

        def leaders() -> tuple[float, float]:
            first = _metric(m, "learnflow_singleton_leader", work="progress-checks") if m.server else None
            other = _metric_at(metrics_port, "learnflow_singleton_leader", work="progress-checks")
            return first or 0.0, other or 0.0

        time.sleep(2)  # four rounds of the second replica trying the lease (every 0.5 s)
        assert leaders() == (1.0, 0.0)
        os.kill(m.server.pid, signal.SIGKILL)  # the holder dies without a word
        m.server.wait(10)
        m.server = None
        died = time.monotonic()
        while leaders() != (0.0, 1.0):
            assert time.monotonic() - died < 5, "the other replica did not take the lease over"
            time.sleep(0.1)
        log.info("lease taken over %.1f s after the holder died", time.monotonic() - died)
        assert '"msg": "singleton lease acquired", "work": "progress-checks"' in second_log.read_text()
    finally:
        terminate(second)
        if m.server is None or m.server.poll() is not None:
            m.start_server()  # the module's mesh whole again
