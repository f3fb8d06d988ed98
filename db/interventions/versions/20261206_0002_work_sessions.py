"""interventions: work_sessions, one row per student — the stretch of uninterrupted work the consumed
activity events (sandbox runs, hints, unclear questions, struggles) add up to, and the work.session
thresholds already signalled for it (calm_break's signal; docs/interventions.md, "Work sessions").
Tenant-owned, row-level security; the default privileges of 0001 grant the application role access.

Revision ID: interventions_0002
Revises: interventions_0001
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from services.runtime.migration_ops import enable_tenant_rls

revision = "interventions_0002"
down_revision = "interventions_0001"
branch_labels = None
depends_on = None

S = "interventions"


def upgrade() -> None:
    # As declared in services/interventions/tables.py (test_schema.py compares them).
    op.create_table(
        "work_sessions",
        sa.Column("tenant_id", sa.Uuid, primary_key=True),
        sa.Column("student_id", sa.Text, primary_key=True),
        sa.Column("session_id", sa.Uuid, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signalled", sa.JSON, nullable=False),
        schema=S,
    )
    enable_tenant_rls(S, "work_sessions")


def downgrade() -> None:
    op.drop_table("work_sessions", schema=S)
