"""workflows's tables: the one declaration of its schema. The queries (store.py) use these tables and
the schema check (tests/runtime/integration/test_schema.py) holds the migrations in db/workflows/ to
them. Row-level security and grants are in the migrations only.

A run's durable state is Temporal's (its event history); these rows are what the API reads — each
step's status, output, error and timings, written by the activities as they go — and the usage ledger.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from services.runtime.db import metadata

md = metadata("workflows")

# Tenant-owned: FORCEd row-level security on tenant_id (db/workflows's first migration).
runs = sa.Table(
    "runs",
    md,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("template", sa.Text, nullable=False),
    sa.Column("template_version", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("input", JSONB, nullable=False),
    # The template's definition as the run started it (pinned: a deploy never changes a running run).
    sa.Column("plan", JSONB, nullable=False),
    sa.Column("idempotency_key", sa.Text, nullable=True),
    sa.Column("created_by", sa.Text, nullable=False, server_default=""),
    sa.Column("correlation_id", sa.Text, nullable=False, server_default=""),
    sa.Column("error", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    # A repeated key returns the first run (TriggerWorkflow).
    sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_runs_tenant_key"),
    # ListWorkflowRuns walks a tenant's runs newest first.
    sa.Index("ix_runs_tenant_created", "tenant_id", "created_at", "id"),
)

steps = sa.Table(
    "steps",
    md,
    sa.Column("run_id", sa.Uuid, sa.ForeignKey("workflows.runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("step_id", sa.Text, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("output", JSONB, nullable=True),
    sa.Column("error", sa.Text, nullable=False, server_default=""),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

# The usage ledger: one row per unit of use, each keyed so that a retried write records it once.
usage = sa.Table(
    "usage",
    md,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("run_id", sa.Uuid, nullable=True),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("units", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("ix_usage_tenant_day", "tenant_id", "day", "user_id"),
)
