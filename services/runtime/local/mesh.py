"""The whole mesh on this machine: embedded PostgreSQL and nats-server (unless DATABASE_URL / NATS_URL
point elsewhere), `learnflow serve --contexts all`, and Envoy in front. `learnflow up` and the test
fixtures both use this class."""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.runtime.contexts import available_contexts
from services.runtime.local.envoyd import EnvoyProxy
from services.runtime.local.natsd import NatsServer
from services.runtime.local.postgres import EmbeddedPostgres
from services.runtime.local.procs import free_port, spawn, terminate, wait_until
from services.runtime.local.providersd import LocalProviders
from services.runtime.local.providersd import wanted as providers_wanted
from services.runtime.local.temporald import TemporalServer
from services.runtime.settings import SettingsError, service_addr_env

log = logging.getLogger(__name__)


@dataclass
class Ports:
    http: int = 8080
    grpc: int = 50051
    envoy_admin: int = 9901
    postgres: int = 55432
    nats: int = 4222
    nats_monitor: int = 8222
    metrics: int = 9464
    providers_http: int = 8026  # the local provider servers (local/providersd.py): inbox page and HTTP APIs
    providers_smtp: int = 1026  # one above Mailpit's 8025 and 1025, so both can run
    console: int = 8090  # the web console's static server (Envoy serves it on the http port at /)


# The variable that moves each port of `learnflow up` (README.md lists them: a second mesh on the same
# machine needs every one moved). The CLI reads LEARNFLOW_GRPC_PORT from here too, so a command finds
# the mesh that the same shell started.
PORT_VARIABLES = {
    "http": "LEARNFLOW_HTTP_PORT",
    "grpc": "LEARNFLOW_GRPC_PORT",
    "envoy_admin": "LEARNFLOW_ENVOY_ADMIN_PORT",
    "postgres": "LEARNFLOW_PG_PORT",
    "nats": "LEARNFLOW_NATS_PORT",
    "nats_monitor": "LEARNFLOW_NATS_MONITOR_PORT",
    "metrics": "LEARNFLOW_METRICS_PORT",
    "providers_http": "LEARNFLOW_PROVIDERS_HTTP_PORT",
    "providers_smtp": "LEARNFLOW_PROVIDERS_SMTP_PORT",
    "console": "LEARNFLOW_CONSOLE_PORT",
}
_TRUE = {"1", "true", "yes", "on"}


def ports_from_env(env: Mapping[str, str]) -> Ports:
    """The ports `learnflow up` uses: the defaults of Ports, each moved by its PORT_VARIABLES entry.
    A value that is not a port is refused with the variable's name (SettingsError: one line, exit 2)."""
    chosen: dict[str, int] = {}
    problems = []
    for f in fields(Ports):
        variable = PORT_VARIABLES[f.name]
        raw = env.get(variable, "").strip()
        if not raw:
            continue
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            problems.append(f"{variable}={raw!r}: expected a port number (1-65535)")
        else:
            chosen[f.name] = int(raw)
    if problems:
        raise SettingsError(problems)
    return Ports(**chosen)


def grpc_serving(addr: str, service: str = "") -> bool:
    try:
        with grpc.insecure_channel(addr) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=1
            )
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    except grpc.RpcError:
        return False


def _tee(proc: subprocess.Popen[bytes], path: Path) -> None:
    """Copies the process's output to this terminal and appends it to `path`, on a daemon thread."""
    import threading

    def copy() -> None:
        assert proc.stdout is not None
        with path.open("ab") as out:
            for line in proc.stdout:
                sys.stdout.buffer.write(line)
                sys.stdout.buffer.flush()
                out.write(line)
                out.flush()

    threading.Thread(target=copy, name="serve-log", daemon=True).start()


@dataclass
class LocalMesh:
    data_dir: Path
    ports: Ports = field(default_factory=Ports)
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    workload_secrets: dict[str, str] = field(
        default_factory=lambda: {c: secrets.token_urlsafe(24) for c in available_contexts()}
    )
    serve_output: Path | None = None  # None: inherit the terminal
    serve_tee: Path | None = None  # with serve_output None: the terminal and this file (learnflow up)
    postgres: EmbeddedPostgres | None = None
    nats: NatsServer | None = None
    envoy: EnvoyProxy | None = None
    temporal: TemporalServer | None = None
    # The Temporal Web UI's port for `learnflow up` (0: headless, as in tests).
    temporal_ui_port: int = 0
    providers: LocalProviders | None = None
    console: subprocess.Popen[bytes] | None = None  # the web console's static server (docs/console.md)
    server: subprocess.Popen[bytes] | None = None
    # More `learnflow serve` processes, each serving some contexts as another replica (start_replica).
    replicas: list[subprocess.Popen[bytes]] = field(default_factory=list)
    database_url: str = ""
    migration_url: str = ""
    nats_url: str = ""
    demo_class_created: bool = False  # this start made the demo class (local/demo.py)
    demo_lms: Any = None  # local/lms.py LmsUrls when the demo LMS runs (LEARNFLOW_DEMO_LMS)
    # Prometheus and Alertmanager (local/alerting.py) for `learnflow up`, when they are installed.
    with_monitoring: bool = False
    monitoring: Any = None  # alerting.Monitoring
    alert_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def grpc_addr(self) -> str:
        return f"127.0.0.1:{self.ports.grpc}"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.http}"

    @property
    def embedded(self) -> bool:
        return self.postgres is not None

    def start_infra(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.database_url = self.env.get("DATABASE_URL", "")
        self.migration_url = self.env.get("MIGRATION_DATABASE_URL", self.database_url)
        if not self.database_url:
            self.postgres = EmbeddedPostgres(self.data_dir / "postgres", self.ports.postgres)
            self.postgres.start()
            self.database_url, self.migration_url = self.postgres.app_url, self.postgres.superuser_url
        self.nats_url = self.env.get("NATS_URL", "")
        if not self.nats_url:
            self.nats = NatsServer(self.data_dir / "nats", self.ports.nats, self.ports.nats_monitor)
            self.nats.start()
            self.nats_url = self.nats.url

    def start_providers(self) -> None:
        """The local Moodle, Zulip, Slack, PagerDuty and SMTP servers, unless LEARNFLOW_LOCAL_PROVIDERS
        is false or every provider is configured for real; notify's channels are pointed at them."""
        if not providers_wanted(self.env):
            return
        self.providers = LocalProviders(
            self.data_dir / "providers", self.ports.providers_http, self.ports.providers_smtp
        )
        self.providers.start(self.env)

    def server_env(self, **extra: str) -> dict[str, str]:
        env = dict(self.env)
        for name, value in (self.providers.channel_env if self.providers else {}).items():
            env.setdefault(name, value)
        env.update(
            DATABASE_URL=self.database_url,
            MIGRATION_DATABASE_URL=self.migration_url,
            NATS_URL=self.nats_url,
            LEARNFLOW_GRPC_ADDR=self.grpc_addr,
            LEARNFLOW_METRICS_ADDR=f"127.0.0.1:{self.ports.metrics}",
        )
        if self.embedded:
            env.setdefault("LEARNFLOW_EMBEDDED", "true")
            env.setdefault("LEARNFLOW_SEED_DEMO", "true")
            # Every context in one process shares one pool: twice a pod's 10, so that the overflow
            # (connections opened and closed again, a PostgreSQL backend each) is the exception.
            env.setdefault("LEARNFLOW_DB_POOL_SIZE", "20")
        # Every context may call others as a workload (runtime/workload.py): one secret each, made
        # up per mesh, known to identity too.
        for context, secret in self.workload_secrets.items():
            env.setdefault(f"{context.upper()}_WORKLOAD_SECRET", secret)
        env.setdefault(
            "IDENTITY_WORKLOAD_SECRETS", ",".join(f"{c}={s}" for c, s in self.workload_secrets.items())
        )
        if self.with_monitoring:
            from services.runtime.local import alerting

            for key, value in alerting.receiver_env(self.env, self.alert_token).items():
                env.setdefault(key, value)
        env.update(extra)
        return env

    def start_temporal(self, contexts: str) -> None:
        """The Temporal dev server, when the workflows context is served here and TEMPORAL_ADDRESS does
        not name another cluster (once per mesh: a restarted server finds the same one)."""
        names = available_contexts() if contexts == "all" else [c.strip() for c in contexts.split(",")]
        if "workflows" not in names or self.env.get("TEMPORAL_ADDRESS") or self.temporal is not None:
            return
        for attempt in range(3):
            # The dev server also binds ports of its own choosing for its internal services: a port
            # taken meanwhile by another process fails the start, so another free port is tried.
            self.temporal = TemporalServer(self.data_dir / "temporal", free_port(), self.temporal_ui_port)
            try:
                self.temporal.start()
                return
            except RuntimeError:
                self.temporal.stop()
                self.temporal = None
                if attempt == 2:
                    raise
                log.warning("temporal server did not start; trying another port")

    def start_server(self, contexts: str = "all", timeout: float = 60, **extra_env: str) -> None:
        argv = [sys.executable, "-m", "services.runtime.cli", "serve", "--contexts", contexts]
        self.start_temporal(contexts)
        if self.temporal is not None:
            extra_env.setdefault("TEMPORAL_ADDRESS", self.temporal.address)
        env = self.server_env(**extra_env)
        if self.serve_output is None and self.serve_tee is not None:
            self.server = subprocess.Popen(
                argv, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            _tee(self.server, self.serve_tee)
        elif self.serve_output is None:
            self.server = subprocess.Popen(argv, env=env, start_new_session=True)
        else:
            self.server = spawn(argv, self.serve_output, env=env)
        wait_until(
            lambda: grpc_serving(self.grpc_addr), timeout, "learnflow serve", self.server, self.serve_output
        )

    def stop_server(self, timeout: float = 30) -> None:
        for replica in self.replicas:
            terminate(replica, timeout)
        self.replicas.clear()
        terminate(self.server, timeout)
        self.server = None

    def start_replica(self, contexts: str, timeout: float = 60) -> str:
        """Another `learnflow serve` process for these contexts (a comma list) beside the main one, as
        another replica of each: it shares their consumers, jobs and outbox through NATS and
        PostgreSQL exactly as a second pod would, and calls every other context at the main
        process. Envoy keeps routing to the main process. Returns its gRPC address; stopped with the
        server. For benches of how a context scales out on one machine (bench/interventions_pipeline)."""
        names = [c.strip() for c in contexts.split(",") if c.strip()]
        unknown = sorted(set(names) - set(available_contexts()))
        if not names or unknown:
            raise ValueError(f"start_replica: unknown contexts {unknown or contexts!r}")
        addr = f"127.0.0.1:{free_port()}"
        others = {service_addr_env(c): self.grpc_addr for c in available_contexts() if c not in names}
        env = self.server_env(
            **others,
            LEARNFLOW_GRPC_ADDR=addr,
            LEARNFLOW_METRICS_ADDR=f"127.0.0.1:{free_port()}",
            LEARNFLOW_SEED_DEMO="false",
            **({"TEMPORAL_ADDRESS": self.temporal.address} if self.temporal is not None else {}),
        )
        argv = [sys.executable, "-m", "services.runtime.cli", "serve", "--contexts", ",".join(names)]
        log_path = self.data_dir / f"replica-{len(self.replicas) + 1}.log"
        proc = spawn(argv, log_path, env=env)
        self.replicas.append(proc)
        wait_until(lambda: grpc_serving(addr), timeout, f"replica of {contexts}", proc, log_path)
        return addr

    @property
    def console_url(self) -> str:
        """The web console, through Envoy on the API's origin."""
        return f"{self.rest_url}/"

    def start_console(self) -> None:
        """The web console (docs/console.md): built from console/ with Node from PyPI when its sources
        changed, then served by `learnflow console serve`; Envoy routes / to it. Off with
        LEARNFLOW_CONSOLE=false (the test meshes, but the session's, leave it off)."""
        if self.env.get("LEARNFLOW_CONSOLE", "true").strip().lower() not in _TRUE:
            return
        from services.runtime.local import node
        from services.runtime.local.procs import http_ok

        node.build_console(progress=lambda line: log.info("%s", line))
        log_path = self.data_dir / "console.log"
        listen = f"127.0.0.1:{self.ports.console}"
        argv = [sys.executable, "-m", "services.runtime.console", "serve", "--listen", listen]
        self.console = spawn(argv, log_path, env=self.env)
        wait_until(lambda: http_ok(f"http://{listen}/healthz"), 20, "console", self.console, log_path)

    def stop_console(self) -> None:
        terminate(self.console)
        self.console = None

    def start_envoy(self, **render_options: Any) -> None:
        from gateway.generate import DESCRIPTOR, render, write_config

        config = render(
            DESCRIPTOR,
            listen_host="127.0.0.1",
            listen_port=self.ports.http,
            admin_port=self.ports.envoy_admin,
            upstreams=None,
            grpc_upstream=("127.0.0.1", self.ports.grpc),
            cors_origins=[
                o for o in self.env.get("LEARNFLOW_CORS_ORIGINS", "http://localhost:3000").split(",") if o
            ],
            console_upstream=("127.0.0.1", self.ports.console) if self.console is not None else None,
            **render_options,
        )
        path = self.data_dir / "envoy.yaml"
        write_config(config, path)
        jwks = render_options.get("jwks")
        self.envoy = EnvoyProxy(
            path, self.ports.envoy_admin, fetches_jwks=jwks is None or jwks.inline_jwks is None
        )
        self.envoy.start()

    @property
    def seeds_demo(self) -> bool:
        """Whether the server seeds the demo tenant (the embedded mesh does unless told not to)."""
        return self.server_env().get("LEARNFLOW_SEED_DEMO", "").strip().lower() in _TRUE

    def seed_demo_class(self) -> None:
        """The demo class (the demo teacher teaching the demo student), through progress's public API:
        identity seeds the tenant and users as the server starts; a class belongs to progress, and the
        runtime imports no context, so it is made here as the demo admin once everything serves."""
        from services.runtime.local.demo import seed_demo_class

        self.demo_class_created = seed_demo_class(self.grpc_addr)

    def start(self) -> float:
        began = time.monotonic()
        self.start_infra()
        self.start_providers()
        self.start_server()
        if self.seeds_demo:
            self.seed_demo_class()
            from services.runtime.local import lms

            # By default with `learnflow up` and its local providers (the DMs need the local Zulip).
            if self.embedded and lms.wanted(
                self.env, default=self.with_monitoring and self.providers is not None
            ):
                self.demo_lms = lms.start_demo_lms(self)  # the activity context's demo (docs/activity.md)
        self.start_console()
        self.start_envoy()
        if self.with_monitoring:
            from services.runtime.local import alerting

            self.monitoring = alerting.for_mesh(self.data_dir, self.ports.metrics, self.env, self.alert_token)
            if self.monitoring is not None:
                self.monitoring.start()
        return time.monotonic() - began

    def stop(self) -> None:
        """Stops every part, front to back. A part that fails to stop does not leave the others
        running (orphans would hold ports and CPU long after a test run); the first error is raised
        once everything else was stopped."""
        steps = [
            self.monitoring.stop if self.monitoring is not None else None,
            self.envoy.stop if self.envoy else None,
            self.stop_console,
            self.stop_server,
            self.temporal.stop if self.temporal else None,
            self.providers.stop if self.providers else None,
            self.nats.stop if self.nats else None,
            self.postgres.stop if self.postgres else None,
        ]
        failed: list[BaseException] = []
        for step in steps:
            if step is None:
                continue
            try:
                step()
            except Exception as exc:
                log.error("could not stop a part of the mesh: %r", exc)
                failed.append(exc)
        if failed:
            raise failed[0]
