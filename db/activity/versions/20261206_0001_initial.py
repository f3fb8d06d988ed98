"""activity: the LMS monitor's state (cursors, attempts, monitor), the standard events and the
notification log (tenant-owned, row-level security), and the runtime's tables every context schema
has: events (outbox, inbox, dead letters), durable jobs and shared rate limits.

Revision ID: activity_0001
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

revision = "activity_0001"
down_revision = None
branch_labels = ("activity",)
depends_on = None

S = "activity"


def upgrade() -> None:
    # As declared in services/activity/tables.py (tests/runtime/integration/test_schema.py compares them).
    op.create_table(
        "cursors",
        sa.Column("lms", sa.Text, primary_key=True),
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.BigInteger, nullable=False, server_default="0"),
        schema=S,
    )
    op.create_table(
        "attempts",
        sa.Column("lms", sa.Text, primary_key=True),
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("attempt_id", sa.BigInteger, primary_key=True),
        sa.Column("state", sa.Text, nullable=False, server_default=""),
        sa.Column("lms_state", sa.Text, nullable=False),
        sa.Column("lms_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rejected", sa.Text, nullable=False, server_default=""),
        schema=S,
    )
    op.create_index("ix_attempts_lms_updated", "attempts", ["lms", "source", "lms_updated_at"], schema=S)
    op.create_table(
        "monitor",
        sa.Column("lms", sa.Text, primary_key=True),
        sa.Column("last_poll_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
        sa.Column("late_commit_guard", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("skipped", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("rejected", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("unmatched", JSONB, nullable=False, server_default="[]"),
        schema=S,
    )
    op.create_table(
        "events",
        sa.Column("event_id", sa.Uuid, primary_key=True),
        sa.Column("sequence", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("attempt_id", sa.BigInteger, nullable=False),
        sa.Column("student_id", sa.BigInteger, nullable=False),
        sa.Column("student_name", sa.Text, nullable=False),
        sa.Column("student_email", sa.Text, nullable=False, server_default=""),
        sa.Column("activity_id", sa.BigInteger, nullable=False),
        sa.Column("activity_title", sa.Text, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mentors", JSONB, nullable=False, server_default="[]"),
        sa.Column("metadata", JSONB, nullable=False, server_default="{}"),
        sa.Column("statement", JSONB, nullable=False, server_default="{}"),
        sa.Column("user_id", sa.Text, nullable=False, server_default=""),
        sa.Column("processed_for_ai", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("lease_id", sa.Uuid, nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_holder", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        schema=S,
    )
    op.create_index(
        "ix_events_student", "events", ["tenant_id", "student_id", "occurred_at", "sequence"], schema=S
    )
    op.create_index(
        "ix_events_type", "events", ["tenant_id", "event_type", "occurred_at", "sequence"], schema=S
    )
    op.create_index(
        "ix_events_unprocessed",
        "events",
        ["tenant_id", "sequence"],
        schema=S,
        postgresql_where=sa.text("NOT processed_for_ai"),
    )
    enable_tenant_rls(S, "events")
    op.create_table(
        "notifications",
        sa.Column("event_id", sa.Uuid, primary_key=True),
        sa.Column("mentor_id", sa.BigInteger, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("sent", sa.Boolean, nullable=False),
        sa.Column("message_id", sa.Text, nullable=False, server_default=""),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("processed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        schema=S,
    )
    enable_tenant_rls(S, "notifications")
    create_event_tables(S)
    create_job_tables(S)
    create_rate_limit_tables(S)
    grant_app_access(S)


def downgrade() -> None:
    op.execute(f"DROP SCHEMA {S} CASCADE")
