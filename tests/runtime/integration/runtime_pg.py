"""An embedded PostgreSQL with some contexts' migrations applied, for the runtime's database pieces
(jobs, rate limits) tested without the rest of the mesh: services/runtime/testing.py's
`migrated_postgres`, plus psycopg helpers."""

from __future__ import annotations

import psycopg

from services.runtime.local.postgres import EmbeddedPostgres
from services.runtime.testing import migrated_postgres

__all__ = ["migrated_postgres", "plain", "superuser"]


def plain(url: str) -> str:
    """A SQLAlchemy URL as a libpq one (for psycopg directly)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def superuser(pg: EmbeddedPostgres) -> psycopg.Connection:
    return psycopg.connect(plain(pg.superuser_url), autocommit=True)
