"""An embedded PostgreSQL with some contexts' migrations applied, for the runtime's database pieces
(jobs, rate limits) tested without the rest of the mesh."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator

import psycopg

from services.runtime import migrations
from services.runtime.contexts import load_contexts
from services.runtime.local.postgres import APP_ROLE, EmbeddedPostgres
from services.runtime.local.procs import free_port
from services.runtime.testing import mesh_dir


@contextlib.contextmanager
def migrated_postgres(*contexts: str) -> Iterator[EmbeddedPostgres]:
    root = mesh_dir("learnflow-runtime-pg-")
    pg = EmbeddedPostgres(root / "postgres", free_port())
    try:
        pg.start()
        migrations.run(pg.superuser_url, APP_ROLE, load_contexts(contexts))
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


def plain(url: str) -> str:
    """A SQLAlchemy URL as a libpq one (for psycopg directly)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def superuser(pg: EmbeddedPostgres) -> psycopg.Connection:
    return psycopg.connect(plain(pg.superuser_url), autocommit=True)
