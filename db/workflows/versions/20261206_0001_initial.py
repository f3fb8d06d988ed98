"""workflows: runs, their steps and the usage ledger (tenant-owned, row-level security), and the
runtime's tables every context schema has: events (outbox, inbox, dead letters), durable jobs and
shared rate limits.

Revision ID: workflows_0001
Revises:
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from services.runtime.migration_ops import (
    create_event_tables,
    create_job_tables,
    create_rate_limit_tables,
    enable_tenant_rls,
    grant_app_access,
)

revision = "workflows_0001"
down_revision = None
branch_labels = ("workflows",)
depends_on = None

S = "workflows"


def upgrade() -> None:
    # As declared in services/workflows/tables.py (tests/runtime/integration/test_schema.py compares them).
    op.create_table(
        "runs",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("template", sa.Text, nullable=False),
        sa.Column("template_version", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("input", JSONB, nullable=False),
        sa.Column("plan", JSONB, nullable=False),
        sa.Column("idempotency_key", sa.Text, nullable=True),
        sa.Column("created_by", sa.Text, nullable=False, server_default=""),
        sa.Column("correlation_id", sa.Text, nullable=False, server_default=""),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_runs_tenant_key"),
        schema=S,
    )
    op.create_index("ix_runs_tenant_created", "runs", ["tenant_id", "created_at", "id"], schema=S)
    op.create_table(
        "steps",
        sa.Column("run_id", sa.Uuid, sa.ForeignKey(f"{S}.runs.id", ondelete="CASCADE"), primary_key=True),
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
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        schema=S,
    )
    op.create_table(
        "usage",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("run_id", sa.Uuid, nullable=True),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("units", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        schema=S,
    )
    op.create_index("ix_usage_tenant_day", "usage", ["tenant_id", "day", "user_id"], schema=S)
    for table in ("runs", "steps", "usage"):
        enable_tenant_rls(S, table)
    create_event_tables(S)
    create_job_tables(S)
    create_rate_limit_tables(S)
    grant_app_access(S)


def downgrade() -> None:
    op.execute(f"DROP SCHEMA {S} CASCADE")
