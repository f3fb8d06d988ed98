"""pytest fixtures on real parts: PostgreSQL, nats-server and Envoy started once per test session,
and `learnflow serve` as a real process on free ports. Registered by tests/conftest.py.

Helpers speak to the mesh the way its users do: gRPC stubs, REST through Envoy, NATS.

Service-layer tests, where a whole mesh is not the point, run a context's service in-process against
`context_pg` (one PostgreSQL with every context's schema, started once per session) through
`service_database`, each test on a tenant of its own (`Caller`): row-level security keeps tests
apart without a schema or a rolled-back transaction per test, and the service commits its own
transactions exactly as it does in production. docs/testing.md says which to choose.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import shutil
import socket
import tempfile
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
import pytest
from learnflow.identity.v1 import identity_service_pb2 as id_pb
from learnflow.identity.v1 import identity_service_pb2_grpc as id_grpc

from services.runtime import migrations
from services.runtime.contexts import available_contexts, load_contexts
from services.runtime.db import Database
from services.runtime.local.mesh import LocalMesh, Ports
from services.runtime.local.postgres import APP_ROLE, EmbeddedPostgres
from services.runtime.local.procs import free_port
from services.runtime.request_context import Principal

DEMO_PASSWORD = "learnflow-demo"
# Generated per test session, so a log line holding it can only have come from this run.
STUDENT_PASSWORD = "student-" + secrets.token_urlsafe(12)
# Credentials that must never appear in any log a mesh writes (serve, Envoy, PostgreSQL, NATS):
# checked when every test mesh stops (`running_mesh`), so the whole suite is the test.
NEVER_LOGGED = (DEMO_PASSWORD, STUDENT_PASSWORD)
# Variables that would point the test mesh at someone else's servers.
_FOREIGN = (
    "DATABASE_URL",
    "MIGRATION_DATABASE_URL",
    "NATS_URL",
    "LEARNFLOW_CONTEXTS",
    "IDENTITY_SERVICE_ADDR",
)


def free_ports() -> Ports:
    return Ports(
        http=free_port(),
        grpc=free_port(),
        envoy_admin=free_port(),
        postgres=free_port(),
        nats=free_port(),
        nats_monitor=free_port(),
        metrics=free_port(),
        providers_http=free_port(),
        providers_smtp=free_port(),
        console=free_port(),
    )


def mesh_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN}
    env.update(
        LOG_LEVEL="INFO", LEARNFLOW_HEALTH_INTERVAL_SECONDS="0.5", LEARNFLOW_SHUTDOWN_GRACE_SECONDS="10"
    )
    # The local provider servers only where a test asks: running_mesh(LEARNFLOW_LOCAL_PROVIDERS="true")
    # (then mesh.providers.url is their JSON API: services/notify/fakes/client.py). The session's
    # `mesh` asks for them.
    env["LEARNFLOW_LOCAL_PROVIDERS"] = "false"
    # The web console (a build and a static server) only where a test asks; the session's `mesh` does,
    # for the browser tests in tests/console.
    env["LEARNFLOW_CONSOLE"] = "false"
    env.update(overrides)
    return env


def new_mesh(root: Path, **env: str) -> LocalMesh:
    return LocalMesh(root, free_ports(), env=mesh_env(**env), serve_output=root / "serve.log")


def mesh_dir(prefix: str = "learnflow-mesh-") -> Path:
    """A scratch folder PostgreSQL's unprivileged user can reach (pytest's own tmp root is 0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


@contextlib.contextmanager
def running_mesh(*, contexts: str = "", **env: str) -> Iterator[LocalMesh]:
    """A whole mesh (embedded Postgres, NATS, every context, Envoy) with these settings, removed after
    (kept with LEARNFLOW_KEEP_TEST_DATA set, to read its logs). With `contexts` ("identity,tutoring"),
    only those contexts behind Envoy: no providers, console or demo class."""
    root = mesh_dir()
    m = new_mesh(root, **env)
    try:
        if contexts:
            m.start_infra()
            m.start_server(contexts=contexts)
            m.start_envoy()
        else:
            m.start()
        yield m
    finally:
        m.stop()
        leaks = secrets_in_logs(root)
        if not os.environ.get("LEARNFLOW_KEEP_TEST_DATA"):
            shutil.rmtree(root, ignore_errors=True)
    assert not leaks, f"secrets written to the mesh's logs: {leaks}"


def secrets_in_logs(root: Path, secrets_: tuple[str, ...] = NEVER_LOGGED) -> list[str]:
    """`file: secret` for every known credential found in a log file under `root`."""
    found = []
    for path in root.rglob("*.log"):
        data = path.read_bytes()
        found += [f"{path.relative_to(root)}: {s!r}" for s in secrets_ if s.encode() in data]
    return found


@contextlib.contextmanager
def migrated_postgres(*contexts: str) -> Iterator[EmbeddedPostgres]:
    """An embedded PostgreSQL with these contexts' migrations applied (the runtime's own tables come
    with each), removed after."""
    root = mesh_dir("learnflow-pg-")
    pg = EmbeddedPostgres(root / "postgres", free_port())
    try:
        pg.start()
        migrations.run(pg.superuser_url, APP_ROLE, load_contexts(contexts))
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def context_pg() -> Iterator[EmbeddedPostgres]:
    """One PostgreSQL with every context's schema for in-process service tests, shared by the session
    (about two seconds to start; only sessions that ask for it pay)."""
    with migrated_postgres(*available_contexts()) as pg:
        yield pg


@contextlib.asynccontextmanager
async def service_database(pg: EmbeddedPostgres) -> AsyncIterator[Database]:
    """The application role's connection (row-level security applies, as in `learnflow serve`),
    for one test's event loop."""
    db = Database(pg.app_url, pool_size=2)
    try:
        await db.check_role()
        yield db
    finally:
        await db.dispose()


@dataclass(frozen=True)
class Caller:
    """People of one fresh tenant, as the principals a verified token would give: a test that takes a
    new Caller() sees nothing any other test wrote."""

    tenant_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def as_(self, *roles: str, subject: str | None = None) -> Principal:
        subject = subject or str(uuid.uuid4())
        return Principal(subject=subject, tenant_id=self.tenant_id, roles=frozenset(roles))


@pytest.fixture(scope="session")
def mesh() -> Iterator[LocalMesh]:
    """The whole mesh on default settings, shared by the session, with the local provider servers
    (Moodle, Zulip, Slack, PagerDuty, SMTP) that notify's channels deliver to."""
    with running_mesh(LEARNFLOW_LOCAL_PROVIDERS="true", LEARNFLOW_CONSOLE="true") as m:
        yield m


@dataclass
class RestResponse:
    status: int
    body: Any
    headers: dict[str, str]


def rest(
    mesh: LocalMesh,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> RestResponse:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(mesh.rest_url + path, data=data, method=method)  # noqa: S310 (loopback)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    try:
        # 30 s: a loaded 2-core machine running the suite in parallel workers can be slow to answer.
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 (our own loopback URL)
            status, payload, hdrs = resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        status, payload, hdrs = err.code, err.read(), dict(err.headers)
    return RestResponse(status, _parsed(payload), {k.lower(): v for k, v in hdrs.items()})


def _parsed(payload: bytes) -> Any:
    """A reply body as JSON, or as text when it is not JSON (Envoy's own pages, a proxy's)."""
    try:
        return json.loads(payload) if payload else None
    except json.JSONDecodeError:
        return payload.decode(errors="replace")


def upload(url: str, body: bytes, headers: dict[str, str] | None = None, timeout: float = 10) -> RestResponse:
    """POST `body` to `url` while already reading the reply, as curl and browsers do. A gateway that
    refuses a body part-way (413) answers and closes the connection before the upload ends; a client
    that reads only after sending everything (urllib) sees the connection reset instead of the reply."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"POST {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=timeout) as sock:

        def send() -> None:
            with contextlib.suppress(OSError):  # the reset after the reply: the reply is what counts
                sock.sendall(request)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        reply = http.client.HTTPResponse(sock)
        reply.begin()
        payload = reply.read()
        sender.join(timeout)
    return RestResponse(reply.status, _parsed(payload), {k.lower(): v for k, v in reply.getheaders()})


def login(mesh: LocalMesh, email: str, password: str = DEMO_PASSWORD, tenant: str = "demo") -> str:
    with grpc.insecure_channel(mesh.grpc_addr) as channel:
        reply = id_grpc.IdentityServiceStub(channel).Login(
            id_pb.LoginRequest(tenant=tenant, email=email, password=password), timeout=10
        )
    return str(reply.tokens.access_token)


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def new_student(mesh: LocalMesh, *, admin_token: str | None = None, tenant: str = "demo") -> dict[str, str]:
    """A fresh student (so other tests' activity does not count), made by the tenant's admin (the demo
    admin by default) and logged in: `id`, `email`, `tenant` (its id) and `token`."""
    admin = admin_token or login(mesh, "admin@demo.test")
    email = f"student-{uuid.uuid4().hex[:8]}@demo.test"
    made = rest(
        mesh,
        "POST",
        "/v1/users",
        {"user": {"email": email, "roles": ["ROLE_STUDENT"]}, "password": STUDENT_PASSWORD},
        token=admin,
    )
    if made.status != 200:
        raise AssertionError(f"could not create a student: {made.status} {made.body}")
    token = login(mesh, email, STUDENT_PASSWORD, tenant=tenant)
    return {"id": made.body["id"], "email": email, "tenant": made.body["tenantId"], "token": token}
