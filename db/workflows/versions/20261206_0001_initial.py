"""workflows: items (tenant-owned, row-level security), and the runtime's tables every context schema
has: events (outbox, inbox, dead letters), durable jobs and shared rate limits.

Revision ID: workflows_0001
Revises:
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

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
        "items",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        schema=S,
    )
    op.create_index("ix_items_tenant_created", "items", ["tenant_id", "created_at", "id"], schema=S)
    enable_tenant_rls(S, "items")
    create_event_tables(S)
    create_job_tables(S)
    create_rate_limit_tables(S)
    grant_app_access(S)


def downgrade() -> None:
    op.execute(f"DROP SCHEMA {S} CASCADE")
