"""Every context's migrations create the jobs and rate_limits tables exactly as work_tables.py
declares them (Alembic's autogenerate comparison: columns, types, nullability, server defaults,
unique constraints, indexes), with the partial indexes' predicates and the enqueue trigger."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from runtime_pg import migrated_postgres

from services.runtime.contexts import available_contexts
from services.runtime.db import metadata
from services.runtime.work_tables import define_jobs_table, define_rate_limits_table

CONTEXTS = available_contexts()
TABLES = {"jobs", "rate_limits"}


@pytest.fixture(scope="module")
def engine():
    with migrated_postgres(*CONTEXTS) as pg:
        eng = sa.create_engine(pg.superuser_url)
        try:
            yield eng
        finally:
            eng.dispose()


@pytest.mark.parametrize("context", CONTEXTS)
def test_the_migrations_create_the_declared_tables(engine, context):
    md = metadata(context)
    define_jobs_table(md)
    define_rate_limits_table(md)

    def include_name(name, type_, parent_names):
        return name == context if type_ == "schema" else (type_ != "table" or name in TABLES)

    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "include_schemas": True,
                "include_name": include_name,
                "compare_type": True,
                "compare_server_default": True,
            },
        )
        diffs = compare_metadata(ctx, md)
        indexes = dict(
            conn.execute(
                sa.text(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = :s AND tablename = 'jobs'"
                ),
                {"s": context},
            ).all()
        )
        trigger = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :s AND c.relname = 'jobs' AND t.tgname = 'jobs_notify'"
            ),
            {"s": context},
        ).scalar()
    assert diffs == []
    assert "WHERE (state = 'queued'::text)" in indexes["ix_jobs_due"]
    assert "WHERE (state = 'running'::text)" in indexes["ix_jobs_lease"]
    assert "WHERE (state = 'dead'::text)" in indexes["ix_jobs_dead"]
    assert trigger == 1


def test_the_comparison_sees_a_difference(engine):
    """The check can fail: a declaration with one more column differs from what was migrated."""
    md = metadata("progress")
    jobs = define_jobs_table(md)
    jobs.append_column(sa.Column("priority", sa.Integer, nullable=False))
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "include_schemas": True,
                "include_name": lambda n, t, p: (
                    n == "progress" if t == "schema" else (t != "table" or n == "jobs")
                ),
            },
        )
        diffs = compare_metadata(ctx, md)
    assert [d[0] for d in diffs] == ["add_column"] and diffs[0][3].name == "priority"
