"""Runs the migrations of the hosted contexts, once, under a PostgreSQL advisory lock."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from services.runtime.contexts import REPO_ROOT, ContextSpec

log = logging.getLogger(__name__)

# pg_advisory_lock key: the bytes "LFMIGRAT" as a bigint, so no other lock user collides by accident.
LOCK_KEY = int.from_bytes(b"LFMIGRAT", "big") & 0x7FFF_FFFF_FFFF_FFFF


def app_role_of(database_url: str) -> str:
    return make_url(database_url).username or "postgres"


def run(migration_url: str, app_role: str, contexts: Sequence[ContextSpec]) -> None:
    engine = create_engine(migration_url, poolclass=None, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_KEY})
            conn.commit()
            try:
                for ctx in contexts:
                    conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{ctx.schema}"'))
                    conn.commit()
                    cfg = Config()
                    cfg.set_main_option("script_location", str(REPO_ROOT / "db"))
                    cfg.set_main_option("version_locations", str(ctx.migrations_dir))
                    # one folder per context: no list to split (and no deprecation warning about how)
                    cfg.set_main_option("path_separator", "os")
                    cfg.attributes.update(connection=conn, schema=ctx.schema, app_role=app_role)
                    command.upgrade(cfg, "heads")
                    conn.commit()
                    log.info("migrations applied", extra={"context": ctx.name})
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                conn.commit()
    finally:
        engine.dispose()
