"""sandbox: exercises (with their test cases), executions, event tables; row-level security.

Revision ID: sandbox_0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from services.runtime.migration_ops import create_event_tables, enable_tenant_rls, grant_app_access

revision = "sandbox_0001"
down_revision = None
branch_labels = ("sandbox",)
depends_on = None

S = "sandbox"


def upgrade() -> None:
    op.create_table(
        "exercises",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("prompt", sa.Text, nullable=False, server_default=""),
        sa.Column("topic", sa.Text, nullable=False, server_default=""),
        sa.Column("test_cases", postgresql.JSONB, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        schema=S,
    )
    enable_tenant_rls(S, "exercises")
    # One row per run: what progress and tutoring need later, not the code or its output.
    op.create_table(
        "executions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("exercise_id", sa.Uuid, nullable=True),
        sa.Column("verdict", sa.Text, nullable=False),
        sa.Column("exception_type", sa.Text, nullable=False, server_default=""),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        schema=S,
    )
    op.create_index(
        "ix_executions_user_created", "executions", ["tenant_id", "user_id", "created_at"], schema=S
    )
    enable_tenant_rls(S, "executions")
    create_event_tables(S)
    grant_app_access(S)


def downgrade() -> None:
    op.execute(f"DROP SCHEMA {S} CASCADE")
