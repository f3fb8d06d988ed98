"""How a bounded context plugs into the runtime.

A context is a package `services/<name>/` whose `app.py` defines `CONTEXT = ContextSpec(...)`. Adding a
context is that package plus its proto folder and migration folder; the server, the gateway generator
and the Kubernetes generator (deploy/k8s/generate.py) discover it from here. The spec says everything
the generators need to know about it (whom it calls, its settings, the hosts it reaches, its secrets, how
it is deployed), so no generator knows any context by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from nats.aio.client import Client as Nats

    from services.runtime.db import Database
    from services.runtime.events.consumer import ConsumerSpec
    from services.runtime.events.outbox import Outbox
    from services.runtime.jobs import JobKind
    from services.runtime.registry import CapabilitySpec
    from services.runtime.settings import Settings
    from services.runtime.workload import WorkloadIdentity

SERVICES_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = SERVICES_DIR.parent
NOT_CONTEXTS = {"runtime", "buildtools"}
# Every context calls identity (JWKS, workload tokens): implied, never listed in ContextSpec.calls.
IDENTITY = "identity"
T = TypeVar("T")


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
    nats: Nats | None = None
    # This context as a caller of other contexts (<CONTEXT>_WORKLOAD_SECRET; runtime/workload.py).
    workload: WorkloadIdentity | None = None

    def settings_for(self, cls: type[T]) -> T:
        """The context's declared settings (ContextSpec.settings), as read at start with everyone else's.
        Read here from `settings.env` only when the runtime did not (a test building a context alone)."""
        from services.runtime.settings import read

        config = getattr(self.settings, "config", None) or {}
        found = config.get(cls)
        return found if isinstance(found, cls) else read(cls, self.settings.env)

    def address_of(self, context: str) -> str:
        """Where to call another context (one of ContextSpec.calls): <CONTEXT>_SERVICE_ADDR, by default
        this process's own address (every context in one process)."""
        from services.runtime.settings import EnvReader, service_addr_env

        addresses = getattr(self.settings, "addresses", None) or {}
        if context in addresses:
            return str(addresses[context])
        r = EnvReader(self.settings.env)
        value = r.addr(service_addr_env(context), self.settings.self_addr)
        r.check()
        return value


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
    # Kinds of durable job this context runs (services/runtime/jobs.py): one JobRunner per context.
    jobs: list[JobKind] = field(default_factory=list)


@dataclass(frozen=True)
class Egress:
    """A host outside the cluster the context reaches (a model provider, say): `host` and `port`, or
    `setting`, the URL setting whose default says both (the generator reads it), so the URL is written
    once. Kubernetes NetworkPolicies cannot name hosts: the generator opens `port` to addresses outside
    the cluster's private ranges and records the host in an annotation (for FQDN-aware CNIs)."""

    host: str = ""
    port: int = 443
    setting: str = ""
    why: str = ""


@dataclass(frozen=True)
class SecretEnv:
    """A setting whose value comes from a Kubernetes Secret (never a ConfigMap): `env` from `secret`'s
    key `key` (default: the variable's name). Optional: the pod starts without it."""

    env: str
    secret: str
    key: str = ""
    optional: bool = True


@dataclass(frozen=True)
class SeccompProfile:
    """A Localhost seccomp profile: the path the pod names (relative to the kubelet's seccomp root) and
    the OCI runtime-spec JSON the generator writes next to the context's manifests for the nodes."""

    localhost: str
    profile: Mapping[str, Any]

    @property
    def filename(self) -> str:
        return PurePosixPath(self.localhost).name


@dataclass(frozen=True)
class FolderMount:
    """A folder of the repository a context reads while it runs (interventions' policies), shipped in
    Kubernetes as a ConfigMap of its files mounted into the pods (deploy/k8s/generate.py), so an
    operator changes them with kubectl or a kustomize overlay, without a new image. `setting` (a
    declared setting of the context) is set to `mount_path` in the context's ConfigMap. A ConfigMap
    volume is updated in place (a symlink swap): a context that watches the folder sees the change
    without a restart."""

    folder: str  # relative to the repository's root, e.g. "policies"
    setting: str
    mount_path: str
    patterns: tuple[str, ...] = ("*",)  # the files shipped (globs, not recursive)
    exclude: tuple[str, ...] = ()  # globs of files left out (e.g. "README*")
    why: str = ""


@dataclass(frozen=True)
class DeployTraits:
    """How the context is deployed where it differs from the template (deploy/k8s/generate.py).
    Empty fields keep the template's choice."""

    # Pods run only on nodes labelled learnflow.dev/pool=<pool>, and tolerate that pool's NoSchedule taint.
    node_pool: str = ""
    # {"requests": {"cpu": ..., "memory": ...}, "limits": {...}}; None: the template's sizes.
    resources: Mapping[str, Mapping[str, str]] | None = None
    replicas: int | None = None
    seccomp: SeccompProfile | None = None  # None: the runtime's default profile (RuntimeDefault)
    # Settings added to the context's ConfigMap (each must be a declared setting of the context).
    config: Mapping[str, str] = field(default_factory=dict)
    # A setting set to the container's CPU limit (whole CPUs): os.cpu_count() in a pod is the node's.
    cpu_limit_env: str = ""
    # What the node must provide, as Deployment annotations (learnflow.dev/<key>).
    node_requirements: Mapping[str, str] = field(default_factory=dict)
    # Comment lines on top of the generated deployment.yaml (what an operator must know).
    notes: tuple[str, ...] = ()
    # Further manifests, kept in the context's folder (paths relative to services/<ctx>/), copied next
    # to the generated ones and added to the context's kustomization.
    extra_manifests: tuple[str, ...] = ()
    # Repository folders shipped as ConfigMaps mounted into the pods (FolderMount).
    folders: tuple[FolderMount, ...] = ()


@dataclass(frozen=True)
class ContextSpec:
    name: str
    # Fully qualified gRPC service names this context serves (health status is kept per name).
    services: tuple[str, ...]
    build: Callable[[Dependencies], Awaitable[Hosted]]
    streams: tuple[StreamSpec, ...] = ()
    # Contexts it calls over gRPC (identity is implied for everyone: JWKS). Gives <CONTEXT>_SERVICE_ADDR
    # (Dependencies.address_of) and the NetworkPolicies (ingress of the callee, egress of the caller).
    calls: tuple[str, ...] = ()
    # Its settings: a frozen dataclass declared with services/runtime/settings.py's helpers, read at start
    # with every other context's (Dependencies.settings_for) and listed by `learnflow settings`.
    settings: type | None = None
    # Hosts outside the cluster it reaches.
    egress: tuple[Egress, ...] = ()
    # Settings that come from a Kubernetes Secret.
    secrets: tuple[SecretEnv, ...] = ()
    deploy: DeployTraits = field(default_factory=DeployTraits)
    # Capabilities it registers in the registry besides its own name (services/runtime/registry.py).
    capabilities: tuple[CapabilitySpec, ...] = ()

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
    unknown = [c for c in spec.calls if c in (name, IDENTITY) or c not in available_contexts()]
    if unknown:
        raise RuntimeError(
            f"services/{name}/app.py: ContextSpec.calls names {unknown}: list other contexts only "
            "(identity is implied)"
        )
    return spec


def load_contexts(names: Sequence[str]) -> list[ContextSpec]:
    return [load_context(n) for n in names]
