"""Settings read from the environment once, at start, validated, and passed down.

Every problem is reported together, naming the variable, the bad value and what is expected, and the
process refuses to start (exit status 2). Contexts read their own variables with the same `EnvReader`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit


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


@dataclass(frozen=True)
class Settings:
    contexts: tuple[str, ...]
    grpc_addr: str
    metrics_addr: str
    database_url: str
    migration_database_url: str
    migrate_on_start: bool
    db_pool_size: int
    nats_url: str
    identity_addr: str
    # This process's own gRPC address: the default address of every other context (all in one).
    self_addr: str
    jwt_issuer: str
    jwt_audience: str
    log_level: str
    traces_exporter: str
    shutdown_grace: float
    health_interval: float
    embedded: bool
    seed_demo: bool
    env: Mapping[str, str]


def load(env: Mapping[str, str] | None = None, *, contexts: str | None = None) -> Settings:
    """Reads and validates the process settings. `contexts` (from --contexts) wins over LEARNFLOW_CONTEXTS."""
    from services.runtime.contexts import available_contexts

    r = EnvReader(env)
    known = available_contexts()
    raw_contexts = contexts if contexts is not None else r.string("LEARNFLOW_CONTEXTS", "all")
    if raw_contexts.strip() == "all":
        selected = tuple(known)
    else:
        selected = tuple(c.strip() for c in raw_contexts.split(",") if c.strip())
        unknown = [c for c in selected if c not in known]
        if unknown or not selected:
            r.problems.append(
                f"contexts={raw_contexts!r}: unknown {', '.join(unknown) or '(none)'}; "
                f"choose 'all' or a comma list of {', '.join(known)}"
            )
    grpc_addr = r.addr("LEARNFLOW_GRPC_ADDR", "127.0.0.1:50051")
    database_url = r.url("DATABASE_URL", ("postgresql+psycopg", "postgresql"))
    embedded = r.boolean("LEARNFLOW_EMBEDDED", False)
    seed_demo = r.boolean("LEARNFLOW_SEED_DEMO", False)
    if seed_demo and not embedded:
        r.problems.append(
            "LEARNFLOW_SEED_DEMO=true: the demo tenant is only seeded in the embedded local mesh"
        )
    host, _, port = grpc_addr.rpartition(":")
    self_addr = f"{'127.0.0.1' if host in ('0.0.0.0', '[::]', '') else host}:{port}"  # noqa: S104
    settings = Settings(
        contexts=selected,
        grpc_addr=grpc_addr,
        metrics_addr=r.string("LEARNFLOW_METRICS_ADDR", "127.0.0.1:9464"),
        database_url=_psycopg(database_url),
        migration_database_url=_psycopg(
            r.url(
                "MIGRATION_DATABASE_URL",
                ("postgresql+psycopg", "postgresql"),
                database_url or "postgresql://x/",
            )
        ),
        migrate_on_start=r.boolean("LEARNFLOW_MIGRATE_ON_START", True),
        db_pool_size=r.integer("LEARNFLOW_DB_POOL_SIZE", 10, min=1, max=200),
        nats_url=r.url("NATS_URL", ("nats", "tls")),
        identity_addr=r.addr("IDENTITY_SERVICE_ADDR", self_addr),
        self_addr=self_addr,
        jwt_issuer=r.string("LEARNFLOW_JWT_ISSUER", "learnflow"),
        jwt_audience=r.string("LEARNFLOW_JWT_AUDIENCE", "learnflow"),
        log_level=r.string("LOG_LEVEL", "INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR")),
        traces_exporter=r.string("OTEL_TRACES_EXPORTER", "none", choices=("none", "console", "otlp")),
        shutdown_grace=r.number("LEARNFLOW_SHUTDOWN_GRACE_SECONDS", 20.0, min=0.0, max=600.0),
        health_interval=r.number("LEARNFLOW_HEALTH_INTERVAL_SECONDS", 2.0, min=0.1, max=60.0),
        embedded=embedded,
        seed_demo=seed_demo,
        env=dict(r.env),
    )
    if settings.metrics_addr:
        r.addr("LEARNFLOW_METRICS_ADDR", settings.metrics_addr)
    r.check()
    return settings


def _psycopg(url: str) -> str:
    """SQLAlchemy needs the driver named; accept plain postgresql:// URLs as users paste them."""
    return (
        "postgresql+psycopg://" + url.removeprefix("postgresql://")
        if url.startswith("postgresql://")
        else url
    )
