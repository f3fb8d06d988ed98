import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from services.runtime.contexts import available_contexts
from services.runtime.settings import (
    EnvReader,
    Listed,
    Setting,
    SettingsError,
    catalogue,
    custom,
    declared,
    describe,
    flag,
    group,
    integer,
    load,
    number,
    read,
    text,
)

GOOD = {"DATABASE_URL": "postgresql://app@db:5432/learnflow", "NATS_URL": "nats://nats:4222"}


def test_defaults_and_driver_normalised():
    s = load(GOOD)
    assert s.contexts == ("identity",) or "identity" in s.contexts
    assert s.grpc_addr == "127.0.0.1:50051"
    assert s.database_url.startswith("postgresql+psycopg://")
    assert s.identity_addr == "127.0.0.1:50051"
    assert s.migration_database_url == s.database_url


def test_every_problem_is_reported_together():
    with pytest.raises(SettingsError) as err:
        load(
            {
                "DATABASE_URL": "mysql://x",
                "LEARNFLOW_DB_POOL_SIZE": "lots",
                "LEARNFLOW_GRPC_ADDR": "nowhere",
                "LOG_LEVEL": "LOUD",
            }
        )
    text = str(err.value)
    for name in (
        "DATABASE_URL",
        "NATS_URL: is required",
        "LEARNFLOW_DB_POOL_SIZE",
        "LEARNFLOW_GRPC_ADDR",
        "LOG_LEVEL",
    ):
        assert name in text


def test_unknown_context_is_refused():
    with pytest.raises(SettingsError, match="unknown nope"):
        load(GOOD, contexts="identity,nope")


def test_demo_seed_only_in_embedded_mode():
    with pytest.raises(SettingsError, match="LEARNFLOW_SEED_DEMO"):
        load({**GOOD, "LEARNFLOW_SEED_DEMO": "true"})
    assert load({**GOOD, "LEARNFLOW_SEED_DEMO": "true", "LEARNFLOW_EMBEDDED": "true"}).seed_demo


def test_password_is_not_echoed():
    with pytest.raises(SettingsError) as err:
        load({"DATABASE_URL": "ftp://u:s3cret@h/db", "NATS_URL": "nats://n:4222"})
    assert "s3cret" not in str(err.value)


def test_serve_with_bad_settings_exits_2_with_a_clear_message():
    proc = subprocess.run(
        [sys.executable, "-m", "services.runtime.cli", "serve"],
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": "mysql://x", "LEARNFLOW_SHUTDOWN_GRACE_SECONDS": "-1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "invalid settings" in proc.stderr
    assert "DATABASE_URL" in proc.stderr and "NATS_URL: is required" in proc.stderr
    assert "LEARNFLOW_SHUTDOWN_GRACE_SECONDS" in proc.stderr
    assert "Traceback" not in proc.stderr


# --- settings declared as data ---------------------------------------------------------------------


def test_a_bad_value_in_any_context_is_reported_with_all_the_others():
    """One pass at start: the runtime's problems and every selected context's, together."""
    with pytest.raises(SettingsError) as err:
        load(
            {
                "DATABASE_URL": "mysql://x",
                "NATS_URL": "nats://n:4222",
                "IDENTITY_ACCESS_TOKEN_TTL_SECONDS": "5",
                "PROGRESS_FAILED_QUIZ_BELOW": "2",
                "SANDBOX_QUEUE": "lots",
                "TUTORING_AGENTS": "triage,chatty",
                "SANDBOX_SERVICE_ADDR": "nowhere",
            }
        )
    text = str(err.value)
    for name in (
        "DATABASE_URL",
        "IDENTITY_ACCESS_TOKEN_TTL_SECONDS='5'",
        "PROGRESS_FAILED_QUIZ_BELOW='2'",
        "SANDBOX_QUEUE='lots'",
        "TUTORING_AGENTS='triage,chatty': unknown chatty",
        "SANDBOX_SERVICE_ADDR='nowhere'",  # derived from tutoring's ContextSpec.calls
    ):
        assert name in text
    # Seven: MIGRATION_DATABASE_URL defaults to the refused DATABASE_URL and is reported too.
    assert len(err.value.problems) == 7, err.value.problems


def test_only_the_selected_contexts_settings_are_read():
    s = load({**GOOD, "SANDBOX_QUEUE": "lots"}, contexts="identity,progress")
    assert {cls.__name__ for cls in s.config} == {"IdentityConfig", "ProgressConfig"}
    assert s.addresses == {}  # neither calls another context


def test_context_settings_are_read_once_and_handed_to_build():
    from services.progress.settings import ProgressConfig
    from services.runtime.contexts import Dependencies
    from services.tutoring.settings import TutoringConfig

    s = load({**GOOD, "PROGRESS_CHECK_INTERVAL_SECONDS": "7", "PROGRESS_SERVICE_ADDR": "progress:50051"})
    deps = Dependencies(settings=s, db=None, outbox=None)  # type: ignore[arg-type]
    assert deps.settings_for(ProgressConfig) is s.config[ProgressConfig]
    assert deps.settings_for(ProgressConfig).check_interval == 7.0
    assert deps.settings_for(TutoringConfig).llm.base_url == "https://api.openai.com/v1"
    # Where tutoring calls the contexts of its ContextSpec.calls: the variable, else this process.
    assert deps.address_of("progress") == "progress:50051"
    assert deps.address_of("sandbox") == s.self_addr == "127.0.0.1:50051"


@dataclass(frozen=True)
class Inner:
    depth: int = integer("X_DEPTH", 2, "how deep", min=1, max=5)


def _pair(r: EnvReader, setting: Setting, values: Mapping[str, Any]) -> tuple[str, str]:
    left, sep, right = r.string(setting.env, "a:b").partition(":")
    if not sep:
        r.problems.append(f"{setting.env}: must be <left>:<right> (mode is {values['mode']})")
    return left, right


@dataclass(frozen=True)
class Made:
    name: str = text("X_NAME", None, "required")
    mode: str = text("X_MODE", "fast", "how", choices=("fast", "slow"))
    token: str = text("X_TOKEN", "", "a secret", secret=True)
    ratio: float = number("X_RATIO", 0.5, "a share", min=0.0, max=1.0)
    on: bool = flag("X_ON", True, "switch")
    pair: tuple[str, str] = custom("X_PAIR", ("a", "b"), "two parts", _pair, bounds="<left>:<right>")
    inner: Inner = group(Inner)  # noqa: RUF009


def test_a_declared_class_is_read_with_every_problem_reported():
    made = read(Made, {"X_NAME": "n", "X_MODE": "slow", "X_PAIR": "l:r", "X_DEPTH": "4"})
    assert made == Made(name="n", mode="slow", pair=("l", "r"), inner=Inner(depth=4))
    with pytest.raises(SettingsError) as err:
        read(Made, {"X_MODE": "loud", "X_RATIO": "2", "X_ON": "maybe", "X_PAIR": "lr", "X_DEPTH": "9"})
    assert [p.split(":")[0].split("=")[0] for p in err.value.problems] == [
        "X_NAME",
        "X_MODE",
        "X_RATIO",
        "X_ON",
        "X_DEPTH",
        "X_PAIR",  # custom settings last: they see the plain ones (mode is loud)
    ]
    assert "mode is loud" in str(err.value)
    assert [s.env for s in declared(Made)] == [
        "X_NAME", "X_MODE", "X_TOKEN", "X_RATIO", "X_ON", "X_PAIR", "X_DEPTH"
    ]  # fmt: skip


def test_the_catalogue_lists_every_declared_setting_once_and_no_secret_value():
    listed = catalogue()
    names = [item.setting.env for item in listed]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    owners = {item.owner for item in listed}
    # Every context's settings and the runtime's, and nobody else's.
    assert {"runtime", "identity", "progress", "sandbox", "tutoring"} <= owners
    assert owners <= {"runtime", *available_contexts()}
    for expected in (
        "DATABASE_URL",
        "IDENTITY_WORKLOAD_SECRETS",
        "PROGRESS_CHECK_INTERVAL_SECONDS",
        "SANDBOX_WORKERS",
        "TUTORING_AGENTS",
        "OPENAI_BASE_URL",
        "SANDBOX_SERVICE_ADDR",
        "TUTORING_WORKLOAD_SECRET",
    ):
        assert expected in names
    secrets = {item.setting.env for item in listed if item.setting.secret}
    assert {
        "DATABASE_URL",
        "OPENAI_API_KEY",
        "IDENTITY_WORKLOAD_SECRETS",
        "TUTORING_WORKLOAD_SECRET",
    } <= secrets
    secret = Setting("X_KEY", "a key", "text", "sk-live-123", secret=True)
    assert "sk-live-123" not in describe([Listed("x", secret)])
    assert "sk-live-123" not in describe([Listed("x", secret)], "markdown")


def test_docs_settings_md_is_up_to_date():
    docs = Path(__file__).resolve().parents[3] / "docs" / "settings.md"
    assert docs.read_text() == describe(catalogue(), "markdown"), (
        "run: .venv/bin/learnflow settings --format markdown > docs/settings.md"
    )


def test_learnflow_settings_prints_every_setting():
    proc = subprocess.run(
        [sys.executable, "-m", "services.runtime.cli", "settings"],
        env={"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": "sk-should-not-show"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == len(catalogue())
    assert any(line.split()[:2] == ["tutoring", "TUTORING_AGENTS"] for line in lines)
    assert "sk-should-not-show" not in proc.stdout
