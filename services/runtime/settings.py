"""Settings read from the environment once, at start, validated, and passed down.

Every setting is declared as data: a field of a frozen dataclass whose metadata says its environment
variable, its default, what it means and its bounds (`text`, `integer`, `number`, `flag`, `url`, `addr`,
`custom`, `group` below). `read` fills such a class from the environment with `EnvReader`, which collects
every problem before failing; `load` reads the runtime's own `Settings` and the declared settings of every
selected context in one pass, so a bad value anywhere is reported together with all others and the process
refuses to start (exit status 2). Because the settings are data, `catalogue()` lists all of them
(`learnflow settings`, docs/settings.md) and the tests check the manifests against that list.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from services.runtime.contexts import ContextSpec

T = TypeVar("T")


class SettingsError(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("invalid settings:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class EnvReader:
    """Reads typed values from an environment mapping, collecting every problem before failing."""

    def __init__(self, env: Mapping[str, str] | None = None):
        self.env = os.environ if env is None else env
        self.problems: list[str] = []

    def string(self, name: str, default: str | None = None, *, choices: tuple[str, ...] = ()) -> str:
        value = self.env.get(name)
        if value is None or value == "":
            if default is None:
                self.problems.append(f"{name}: is required")
                return ""
            value = default
        if choices and value not in choices:
            self.problems.append(f"{name}={value!r}: must be one of {', '.join(choices)}")
        return value

    def integer(self, name: str, default: int, *, min: int | None = None, max: int | None = None) -> int:
        raw = self.env.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            self.problems.append(f"{name}={raw!r}: must be a whole number")
            return default
        if (min is not None and value < min) or (max is not None and value > max):
            self.problems.append(f"{name}={raw!r}: must be between {min} and {max}")
        return value

    def number(self, name: str, default: float, *, min: float = 0.0, max: float = 3600.0) -> float:
        raw = self.env.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            self.problems.append(f"{name}={raw!r}: must be a number")
            return default
        if not min <= value <= max:
            self.problems.append(f"{name}={raw!r}: must be between {min} and {max}")
        return value

    def boolean(self, name: str, default: bool = False) -> bool:
        raw = self.env.get(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        self.problems.append(f"{name}={raw!r}: must be true or false")
        return default

    def url(self, name: str, schemes: tuple[str, ...], default: str | None = None) -> str:
        value = self.string(name, default)
        if value:
            parts = urlsplit(value)
            # A host, or (libpq style) ?host=/socket/dir for a Unix socket.
            host = parts.hostname or parse_qs(parts.query).get("host", [""])[0]
            if parts.scheme not in schemes or not host:
                self.problems.append(
                    f"{name}={_redact(value)!r}: must be a URL like {schemes[0]}://host:port/..."
                )
        return value

    def addr(self, name: str, default: str) -> str:
        value = self.string(name, default)
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            self.problems.append(f"{name}={value!r}: must be host:port, e.g. 127.0.0.1:50051")
        return value

    def check(self) -> None:
        if self.problems:
            raise SettingsError(self.problems)


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


# --- settings declared as data ------------------------------------------------------------------------

SETTING = "learnflow.setting"  # the dataclass field metadata key that holds a field's `Setting`
# custom(parse=...): reads the setting with the reader, seeing the values of the class's plain settings.
Parse = Callable[[EnvReader, "Setting", Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Setting:
    """One environment variable: how it is read and what it means. Built by the helpers below."""

    env: str
    doc: str
    kind: str  # text, integer, number, flag, url, addr, custom, group
    default: Any = None  # None: required (text, url); a callable: computed at start
    default_text: str | None = None  # how a computed default is described (docs, `learnflow settings`)
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    schemes: tuple[str, ...] = ()
    # Never printed with its value; in Kubernetes it comes from a Secret.
    secret: bool = False
    parse: Parse | None = None
    group: type | None = None  # kind "group": a nested settings class, read in the same pass
    bounds: str = ""  # what a custom setting accepts, in words
    # For local development only: no manifest may set it (deploy/k8s/generate.py refuses).
    local_only: bool = False

    @property
    def required(self) -> bool:
        return self.default is None and self.kind in ("text", "url")

    def describe_default(self) -> str:
        if self.default_text is not None:
            return self.default_text
        if self.required:
            return "(required)"
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        if self.secret and self.default:
            return "***"
        return "" if self.default is None else str(self.default)

    def describe_bounds(self) -> str:
        if self.bounds:
            return self.bounds
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.schemes:
            return "URL: " + " or ".join(f"{s}://" for s in self.schemes)
        if self.min is not None or self.max is not None:
            return f"{_fmt(self.min)} to {_fmt(self.max)}"
        return {"flag": "true or false", "addr": "host:port", "integer": "whole number"}.get(self.kind, "")

    def read(self, r: EnvReader, values: Mapping[str, Any]) -> Any:
        default = self.default() if callable(self.default) else self.default
        if self.kind == "text":
            return r.string(self.env, default, choices=self.choices)
        if self.kind == "integer":
            return r.integer(self.env, default, min=_int(self.min), max=_int(self.max))
        if self.kind == "number":
            return r.number(self.env, default, min=self.min or 0.0, max=self.max or 3600.0)
        if self.kind == "flag":
            return r.boolean(self.env, bool(default))
        if self.kind == "url":
            return r.url(self.env, self.schemes, default)
        if self.kind == "addr":
            return r.addr(self.env, default)
        if self.kind == "group":
            assert self.group is not None
            return read_into(self.group, r)
        assert self.parse is not None, f"{self.env}: a custom setting needs parse="
        return self.parse(r, self, values)


def _fmt(bound: float | None) -> str:
    if bound is None:
        return "any"
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def _int(bound: float | None) -> int | None:
    return None if bound is None else int(bound)


def _field(setting: Setting) -> Any:
    """A dataclass field carrying `setting`. Its default lets tests build the class directly."""
    if setting.kind == "group":
        assert setting.group is not None
        return field(default_factory=setting.group, metadata={SETTING: setting})
    default = setting.default
    if callable(default):
        return field(default_factory=default, metadata={SETTING: setting})
    if isinstance(default, Mapping):
        frozen = MappingProxyType(dict(default))
        return field(default_factory=lambda: frozen, metadata={SETTING: setting})
    # A required setting's field default ("") only lets the class be built by hand (tests); `read`
    # reports the variable as missing.
    return field(default="" if setting.required else default, metadata={SETTING: setting})


def text(
    env: str, default: str | None, doc: str, *, choices: tuple[str, ...] = (), secret: bool = False
) -> Any:
    """A string; default None makes it required."""
    return _field(Setting(env, doc, "text", default, choices=choices, secret=secret))


def integer(
    env: str,
    default: int | Callable[[], int],
    doc: str,
    *,
    min: int,
    max: int,
    default_text: str | None = None,
) -> Any:
    return _field(Setting(env, doc, "integer", default, default_text, min=min, max=max))


def number(env: str, default: float, doc: str, *, min: float, max: float) -> Any:
    return _field(Setting(env, doc, "number", default, min=min, max=max))


def flag(env: str, default: bool, doc: str, *, local_only: bool = False) -> Any:
    return _field(Setting(env, doc, "flag", default, local_only=local_only))


def url(env: str, default: str | None, doc: str, *, schemes: tuple[str, ...], secret: bool = False) -> Any:
    return _field(Setting(env, doc, "url", default, schemes=schemes, secret=secret))


def addr(env: str, default: str, doc: str) -> Any:
    return _field(Setting(env, doc, "addr", default))


def custom(
    env: str,
    default: Any,
    doc: str,
    parse: Parse,
    *,
    default_text: str | None = None,
    secret: bool = False,
    bounds: str = "",
) -> Any:
    """A setting with its own parser (a list, a table); `parse` reports its problems on the reader."""
    return _field(
        Setting(env, doc, "custom", default, default_text, secret=secret, parse=parse, bounds=bounds)
    )


def group(cls: type) -> Any:
    """A nested settings class (e.g. tutoring's model provider), read and listed with its owner's."""
    return _field(Setting("", "", "group", group=cls))


def declared(cls: type) -> list[Setting]:
    """The settings of a class, nested groups flattened, in declaration order."""
    found: list[Setting] = []
    for f in dataclasses.fields(cls):
        setting = f.metadata.get(SETTING)
        if setting is None:
            continue
        if setting.kind == "group":
            assert setting.group is not None
            found.extend(declared(setting.group))
        else:
            found.append(setting)
    return found


def read_values(cls: type, r: EnvReader) -> dict[str, Any]:
    """The declared fields' values: plain settings first, then custom ones (which may use them)."""
    values: dict[str, Any] = {}
    settings = [(f.name, f.metadata[SETTING]) for f in dataclasses.fields(cls) if SETTING in f.metadata]
    for name, setting in settings:
        if setting.kind != "custom":
            values[name] = setting.read(r, values)
    for name, setting in settings:
        if setting.kind == "custom":
            values[name] = setting.read(r, MappingProxyType(values))
    return values


def read_into(cls: type[T], r: EnvReader) -> T:
    """Reads cls from r's environment, adding problems to r. Where a value was refused the class's
    value stands in, so reading goes on and every problem is found; r.check() then refuses to start."""
    before = len(r.problems)
    values = read_values(cls, r)
    try:
        return cls(**values)
    except ValueError as exc:  # the class's own check (__post_init__)
        if len(r.problems) == before:  # else it only repeats a refused value
            r.problems.append(f"{cls.__name__}: {exc}")
        return cast(T, None)  # never used: the caller's r.check() raises


def read(cls: type[T], env: Mapping[str, str] | None = None) -> T:
    """Reads one settings class from the environment; every problem is reported together (SettingsError)."""
    r = EnvReader(env)
    value = read_into(cls, r)
    r.check()
    return value


# --- the runtime's own settings ---------------------------------------------------------------------------

DB_SCHEMES = ("postgresql+psycopg", "postgresql")


def _contexts(r: EnvReader, setting: Setting, values: Mapping[str, Any]) -> tuple[str, ...]:
    from services.runtime.contexts import available_contexts

    known = available_contexts()
    raw = r.string(setting.env, "all")
    if raw.strip() == "all":
        return tuple(known)
    selected = tuple(c.strip() for c in raw.split(",") if c.strip())
    unknown = [c for c in selected if c not in known]
    if unknown or not selected:
        r.problems.append(
            f"contexts={raw!r}: unknown {', '.join(unknown) or '(none)'}; "
            f"choose 'all' or a comma list of {', '.join(known)}"
        )
    return tuple(c for c in selected if c in known)


def _database_url(r: EnvReader, setting: Setting, values: Mapping[str, Any]) -> str:
    return _psycopg(r.url(setting.env, DB_SCHEMES))


def _migration_url(r: EnvReader, setting: Setting, values: Mapping[str, Any]) -> str:
    return _psycopg(r.url(setting.env, DB_SCHEMES, values.get("database_url") or "postgresql://x/"))


def _self_addr(grpc_addr: str) -> str:
    host, _, port = grpc_addr.rpartition(":")
    return f"{'127.0.0.1' if host in ('0.0.0.0', '[::]', '') else host}:{port}"  # noqa: S104


def _identity_addr(r: EnvReader, setting: Setting, values: Mapping[str, Any]) -> str:
    return r.addr(setting.env, _self_addr(values.get("grpc_addr", "")))


SELF_ADDR_TEXT = "this process's own gRPC address (every context in one process)"


@dataclass(frozen=True)
class Settings:
    """The process's settings (every context's too: `config`, read in the same pass by `load`)."""

    contexts: tuple[str, ...] = custom(
        "LEARNFLOW_CONTEXTS", (), "contexts this process serves (`--contexts` wins)", _contexts,
        default_text="all", bounds="all, or a comma list of contexts",
    )  # fmt: skip
    grpc_addr: str = addr("LEARNFLOW_GRPC_ADDR", "127.0.0.1:50051", "gRPC listen address")
    metrics_addr: str = addr("LEARNFLOW_METRICS_ADDR", "127.0.0.1:9464", "Prometheus /metrics listen address")
    database_url: str = custom(
        "DATABASE_URL", "", "PostgreSQL URL of the application role (row-level security applies)",
        _database_url, default_text="(required)", secret=True,
    )  # fmt: skip
    migration_database_url: str = custom(
        "MIGRATION_DATABASE_URL", "", "PostgreSQL URL of the schema owner, for migrations",
        _migration_url, default_text="DATABASE_URL", secret=True,
    )  # fmt: skip
    migrate_on_start: bool = flag("LEARNFLOW_MIGRATE_ON_START", True, "run the migrations before serving")
    db_pool_size: int = integer(
        "LEARNFLOW_DB_POOL_SIZE", 10, "database connections per process", min=1, max=200
    )
    db_job_pool_size: int = integer(
        "LEARNFLOW_DB_JOB_POOL_SIZE",
        8,
        "database connections per process held by running jobs (as many again in overflow), apart from "
        "the others so that a job's own work never waits on them",
        min=1,
        max=200,
    )
    nats_url: str = url("NATS_URL", None, "NATS JetStream URL", schemes=("nats", "tls"))
    identity_addr: str = custom(
        "IDENTITY_SERVICE_ADDR", "", "where identity is called (JWKS, workload tokens)", _identity_addr,
        default_text=SELF_ADDR_TEXT,
    )  # fmt: skip
    jwt_issuer: str = text("LEARNFLOW_JWT_ISSUER", "learnflow", "issuer of the access tokens (iss)")
    jwt_audience: str = text("LEARNFLOW_JWT_AUDIENCE", "learnflow", "audience of the access tokens (aud)")
    log_level: str = text("LOG_LEVEL", "INFO", "log level", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    traces_exporter: str = text(
        "OTEL_TRACES_EXPORTER", "none", "where traces go", choices=("none", "console", "otlp")
    )
    shutdown_grace: float = number(
        "LEARNFLOW_SHUTDOWN_GRACE_SECONDS", 20.0, "time in-flight calls get at shutdown", min=0.0, max=600.0
    )
    registry_ttl: float = number(
        "LEARNFLOW_REGISTRY_TTL_SECONDS",
        10.0,
        "a context's registration in the capability registry lives this long without a heartbeat "
        "(heartbeats every half of it)",
        min=0.5,
        max=3600.0,
    )
    health_interval: float = number(
        "LEARNFLOW_HEALTH_INTERVAL_SECONDS", 2.0, "how often readiness is re-checked", min=0.1, max=60.0
    )
    streams_per_caller: int = integer(
        "LEARNFLOW_STREAMS_PER_CALLER",
        8,
        "server streams (a conversation's answers, a run's progress) one caller may hold open at once "
        "in one process; one more is RESOURCE_EXHAUSTED (429)",
        min=1,
        max=10_000,
    )
    worker_stall_seconds: float = number(
        "LEARNFLOW_WORKER_STALL_SECONDS",
        60.0,
        "pending work (a consumer's messages, outbox rows) with no progress this long makes the context "
        "NOT_SERVING",
        min=0.5,
        max=86_400.0,
    )
    worker_restart_max_seconds: float = number(
        "LEARNFLOW_WORKER_RESTART_MAX_SECONDS",
        30.0,
        "the longest wait before a crashed worker is restarted (0.5 s doubling, with jitter)",
        min=0.1,
        max=3600.0,
    )
    singleton_retry_seconds: float = number(
        "LEARNFLOW_SINGLETON_RETRY_SECONDS",
        2.0,
        "how often a replica without a singleton's lease tries to take it (the takeover time)",
        min=0.05,
        max=600.0,
    )
    embedded: bool = flag("LEARNFLOW_EMBEDDED", False, "set by `learnflow up` (local mesh)")
    seed_demo: bool = flag("LEARNFLOW_SEED_DEMO", False, "seed the demo tenant (embedded mesh only)")
    # Not settings of their own: what `load` derives.
    env: Mapping[str, str] = field(default_factory=dict)
    # Each selected context's declared settings, by class (ContextSpec.settings), read in the same pass.
    config: Mapping[type, Any] = field(default_factory=dict)
    # Where this process calls each context that a selected context calls (<CONTEXT>_SERVICE_ADDR).
    addresses: Mapping[str, str] = field(default_factory=dict)

    @property
    def self_addr(self) -> str:
        """This process's own gRPC address: the default address of every other context (all in one)."""
        return _self_addr(self.grpc_addr)


def service_addr_env(context: str) -> str:
    """The variable that says where another context is: SANDBOX_SERVICE_ADDR for sandbox."""
    return f"{context.upper()}_SERVICE_ADDR"


def workload_secret_env(context: str) -> str:
    """A context's workload secret, with which it calls other contexts (services/runtime/workload.py)."""
    return f"{context.upper()}_WORKLOAD_SECRET"


def address_setting(caller: str, callee: str) -> Setting:
    return Setting(
        service_addr_env(callee),
        f"where {callee} is called (host:port), by {caller} and any other context calling it",
        "addr",
        default_text=SELF_ADDR_TEXT,
    )


def workload_secret_setting(context: str) -> Setting:
    return Setting(
        workload_secret_env(context),
        f"{context}'s workload secret, to call other contexts outside a user's request (ADR 0005)",
        "text",
        "",
        default_text="(none: calls that need it are refused)",
        secret=True,
    )


def load(env: Mapping[str, str] | None = None, *, contexts: str | None = None) -> Settings:
    """Reads and validates the process settings and the declared settings of every selected context, all
    in one pass: every problem is reported together. `contexts` (--contexts) wins over LEARNFLOW_CONTEXTS."""
    from services.runtime.contexts import load_contexts

    source = os.environ if env is None else env
    r = EnvReader(source if contexts is None else {**source, "LEARNFLOW_CONTEXTS": contexts})
    values = read_values(Settings, r)
    if values["seed_demo"] and not values["embedded"]:
        r.problems.append(
            "LEARNFLOW_SEED_DEMO=true: the demo tenant is only seeded in the embedded local mesh"
        )
    self_addr = _self_addr(values["grpc_addr"])
    config: dict[type, Any] = {}
    addresses: dict[str, str] = {}
    for spec in load_contexts(values["contexts"]):
        if spec.settings is not None:
            config[spec.settings] = read_into(spec.settings, r)
        for callee in spec.calls:
            if callee not in addresses:
                addresses[callee] = (
                    values["identity_addr"]
                    if callee == "identity"
                    else r.addr(service_addr_env(callee), self_addr)
                )
    r.check()
    return Settings(
        **values,
        env=dict(source),
        config=MappingProxyType(config),
        addresses=MappingProxyType(addresses),
    )


def _psycopg(url: str) -> str:
    """SQLAlchemy needs the driver named; accept plain postgresql:// URLs as users paste them."""
    return (
        "postgresql+psycopg://" + url.removeprefix("postgresql://")
        if url.startswith("postgresql://")
        else url
    )


# --- the list of every setting ------------------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    owner: str  # "runtime" or a context's name
    setting: Setting


def catalogue(specs: list[ContextSpec] | None = None) -> list[Listed]:
    """Every setting the runtime and the contexts read: the runtime's, then each context's declared
    settings, the addresses of the contexts it calls and its workload secret."""
    from services.runtime.contexts import available_contexts, load_contexts

    listed = [Listed("runtime", s) for s in declared(Settings)]
    # Where a context is called is one variable however many contexts call it: listed under the
    # first caller (alphabetically), once.
    addressed: set[str] = set()
    for spec in specs if specs is not None else load_contexts(available_contexts()):
        own = declared(spec.settings) if spec.settings is not None else []
        listed.extend(Listed(spec.name, s) for s in own)
        for called in spec.calls:
            if called != "identity" and called not in addressed:
                addressed.add(called)
                listed.append(Listed(spec.name, address_setting(spec.name, called)))
        listed.append(Listed(spec.name, workload_secret_setting(spec.name)))
    return listed


def describe(listed: list[Listed], fmt: str = "text") -> str:
    """The catalogue as text (one line a setting) or Markdown (docs/settings.md). Never a value: only
    defaults, and a secret's default is not shown."""
    if fmt == "markdown":
        lines = [
            "# Settings",
            "",
            "Generated by `learnflow settings --format markdown > docs/settings.md` from the declared",
            "settings (services/runtime/settings.py and each context's `ContextSpec.settings`); do not edit.",
            "Every problem is reported together at start, and the process exits with status 2.",
        ]
        owner = None
        for item in listed:
            if item.owner != owner:
                owner = item.owner
                lines += [
                    "",
                    f"## {owner}",
                    "",
                    "| Variable | Default | Values | Meaning |",
                    "|---|---|---|---|",
                ]
            s = item.setting
            default = s.describe_default()
            lines.append(
                f"| `{s.env}`{' (secret)' if s.secret else ''} | {_cell(f'`{default}`' if default else '')} "
                f"| {_cell(s.describe_bounds())} | {_cell(s.doc)} |"
            )
        return "\n".join(lines) + "\n"
    width = max(len(item.setting.env) for item in listed)
    empty = '""'
    out = []
    for item in listed:
        s = item.setting
        bounds = f" [{s.describe_bounds()}]" if s.describe_bounds() else ""
        secret = " (secret)" if s.secret else ""
        out.append(
            f"{item.owner:<9} {s.env:<{width}} = {s.describe_default() or empty}{bounds}{secret}  # {s.doc}"
        )
    return "\n".join(out) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
