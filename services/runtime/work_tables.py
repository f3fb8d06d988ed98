"""The runtime's tables for work beyond one message, in a context schema: durable jobs
(services/runtime/jobs.py) and shared rate-limit buckets (services/runtime/ratelimit.py).

Declared once, here, as functions that add them to a schema's MetaData (like events/tables.py's
event tables); migration_ops.create_job_tables / create_rate_limit_tables create exactly these
tables from these definitions (Table.create), so a migration cannot drift from the declaration.
Triggers are not part of a MetaData: the jobs table's NOTIFY trigger is in create_job_tables only.
"""

from __future__ import annotations

import functools

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from services.runtime.db import metadata

JOB_STATES = ("queued", "running", "done", "dead")


def define_jobs_table(md: sa.MetaData) -> sa.Table:
    """`jobs`: one row per unit of deferred work. No row-level security (like the outbox): the runner
    claims across tenants, and runs each handler in a transaction scoped to the job's tenant_id."""
    ts = sa.DateTime(timezone=True)
    return sa.Table(
        "jobs",
        md,
        sa.Column("id", sa.Uuid, primary_key=True),
        # NULL: work of no tenant (the handler's transaction then sees no tenant rows).
        sa.Column("tenant_id", sa.Uuid, nullable=True),
        sa.Column("kind", sa.Text, nullable=False),
        # Enqueueing the same (kind, key) twice makes one job; NULL keys never collide.
        sa.Column("key", sa.Text, nullable=True),
        sa.Column("payload", postgresql.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("state", sa.Text, nullable=False, server_default="queued"),
        sa.Column("run_at", ts, nullable=False, server_default=sa.func.now()),
        # Claims so far (a claim counts even if the worker then dies).
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("lease_until", ts, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", ts, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", ts, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("state IN ('queued', 'running', 'done', 'dead')", name="state"),
        sa.CheckConstraint("max_attempts >= 1", name="max_attempts"),
        sa.UniqueConstraint("kind", "key", name="uq_jobs_kind_key"),
        # The claim walks the first (due order), the reaper the second, ListDeadJobs the third.
        sa.Index("ix_jobs_due", "run_at", postgresql_where=sa.text("state = 'queued'")),
        sa.Index("ix_jobs_lease", "lease_until", postgresql_where=sa.text("state = 'running'")),
        sa.Index("ix_jobs_dead", "updated_at", "id", postgresql_where=sa.text("state = 'dead'")),
    )


def define_rate_limits_table(md: sa.MetaData) -> sa.Table:
    """`rate_limits`: one token bucket per key the caller chose (tenant, user, channel, destination).
    The rate and burst are the caller's policy, passed with each take; only the state lives here. No
    tenant_id and no row-level security: keys are not tenant rows, and a take runs outside any
    tenant transaction."""
    ts = sa.DateTime(timezone=True)
    return sa.Table(
        "rate_limits",
        md,
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("tokens", sa.Float, nullable=False),
        sa.Column("updated_at", ts, nullable=False),
        # Set by penalize() (a provider's Retry-After): nothing is allowed before it.
        sa.Column("blocked_until", ts, nullable=True),
    )


@functools.cache
def jobs_table(schema: str) -> sa.Table:
    """The jobs table of one context schema (for queries), on a MetaData of its own."""
    return define_jobs_table(metadata(schema))


@functools.cache
def rate_limits_table(schema: str) -> sa.Table:
    return define_rate_limits_table(metadata(schema))
