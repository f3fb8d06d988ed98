"""How a bounded context plugs into the runtime.

A context is a package `services/<name>/` whose `app.py` defines `CONTEXT = ContextSpec(...)`. Adding a
context is that package plus its proto folder, migration folder and manifest folder; the server, the
gateway generator and the Kubernetes generator discover it from here.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.runtime.db import Database
    from services.runtime.events.consumer import ConsumerSpec
    from services.runtime.events.outbox import Outbox
    from services.runtime.settings import Settings
    from services.runtime.workload import WorkloadIdentity

SERVICES_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = SERVICES_DIR.parent
NOT_CONTEXTS = {"runtime", "buildtools"}


@dataclass(frozen=True)
class StreamSpec:
    """A JetStream stream a context owns. Created or updated idempotently at start-up."""

    name: str
    subjects: tuple[str, ...]
    max_age_seconds: int = 7 * 24 * 3600
    duplicate_window_seconds: int = 120
    replicas: int = 1


@dataclass
class Dependencies:
    """What the runtime hands a context's composition root."""

    settings: Settings
    db: Database
    outbox: Outbox
    # The NATS connection, for core (non-durable) subscriptions such as live-update fan-out.
    nats: Any = None
    # This context as a caller of other contexts (<CONTEXT>_WORKLOAD_SECRET; runtime/workload.py).
    workload: WorkloadIdentity | None = None


@dataclass(frozen=True)
class Periodic:
    """Background work a context runs on a timer (e.g. a check no request or event triggers): `run`
    is called at start and then `interval_seconds` after each run ends, until shutdown. A run that
    raises is logged and the next one comes on time. By default every replica runs it: make `run`
    safe to overlap with another replica's (idempotent writes, row locks). With `singleton`, only the
    replica holding a PostgreSQL advisory-lock lease named after the work runs it, and another takes
    over within seconds when that replica dies (services/runtime/supervisor.py, SingletonLease)."""

    name: str
    interval_seconds: float
    run: Callable[[], Awaitable[None]]
    singleton: bool = False


@dataclass
class Hosted:
    """What a context's build() returns: servicers to register, consumers and periodic work to run."""

    servicers: list[tuple[Callable[[Any, Any], None], object]]
    consumers: list[ConsumerSpec] = field(default_factory=list)
    on_start: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Run at shutdown after the server and consumers have stopped (close clients, sessions).
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Context-specific readiness, checked with the database and NATS: each returns None when ready,
    # else a reason (logged when it changes). While any returns a reason, this context's services
    # (and the overall "" status) are NOT_SERVING.
    health_checks: list[Callable[[], Awaitable[str | None]]] = field(default_factory=list)
    periodic: list[Periodic] = field(default_factory=list)


@dataclass(frozen=True)
class ContextSpec:
    name: str
    # Fully qualified gRPC service names this context serves (health status is kept per name).
    services: tuple[str, ...]
    build: Callable[[Dependencies], Awaitable[Hosted]]
    streams: tuple[StreamSpec, ...] = ()

    @property
    def schema(self) -> str:
        return self.name

    @property
    def migrations_dir(self) -> Path:
        return REPO_ROOT / "db" / self.name / "versions"


def available_contexts() -> list[str]:
    return sorted(p.parent.name for p in SERVICES_DIR.glob("*/app.py") if p.parent.name not in NOT_CONTEXTS)


def load_context(name: str) -> ContextSpec:
    module = importlib.import_module(f"services.{name}.app")
    spec = module.CONTEXT
    if not isinstance(spec, ContextSpec) or spec.name != name:
        raise RuntimeError(f"services/{name}/app.py must define CONTEXT = ContextSpec(name={name!r}, ...)")
    return spec


def load_contexts(names: Sequence[str]) -> list[ContextSpec]:
    return [load_context(n) for n in names]
