"""Fixtures for the ops alerting tests: a PostgreSQL with notify's schema (the receiver's limits and
records live there), started per module, or per test where a test stops it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from services.runtime import migrations
from services.runtime.contexts import load_contexts
from services.runtime.local.postgres import APP_ROLE, EmbeddedPostgres
from services.runtime.local.procs import free_port
from services.runtime.testing import mesh_dir


def _postgres() -> Iterator[EmbeddedPostgres]:
    root = mesh_dir("learnflow-alerts-")
    pg = EmbeddedPostgres(root / "postgres", free_port())
    try:
        pg.start()
        migrations.run(pg.superuser_url, APP_ROLE, load_contexts(["notify"]))
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres() -> Iterator[EmbeddedPostgres]:
    yield from _postgres()


@pytest.fixture
def own_postgres() -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL this test may stop."""
    yield from _postgres()
