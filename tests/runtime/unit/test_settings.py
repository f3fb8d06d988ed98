import subprocess
import sys

import pytest

from services.runtime.settings import SettingsError, load

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
