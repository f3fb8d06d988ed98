"""interventions: policy versions, signals, decisions and the per-student-day counter (all tenant-owned,
row-level security), and the runtime's tables every context schema has: events (outbox, inbox, dead
letters), durable jobs and shared rate limits.

Revision ID: interventions_0001
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

revision = "interventions_0001"
down_revision = None
branch_labels = ("interventions",)
depends_on = None

S = "interventions"


def upgrade() -> None:
    # As declared in services/interventions/tables.py (test_schema.py compares them).
    op.create_table(
        "policy_versions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("policy_id", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("file", sa.Text, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("rules", sa.JSON, nullable=False),
        sa.Column("mode", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("author", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("tenant_id", "policy_id", "version", name="uq_policy_versions_version"),
        schema=S,
    )
    op.create_table(
        "signals",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("student_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("topic", sa.Text, nullable=False, server_default=""),
        sa.Column("key", sa.Text, nullable=False, server_default=""),
        sa.Column("rule", sa.Text, nullable=False, server_default=""),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("severity", sa.Text, nullable=False, server_default=""),
        sa.Column("verdict", sa.Text, nullable=False, server_default=""),
        sa.Column("minutes", sa.Float, nullable=False, server_default="0"),
        sa.Column("count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("explanation", sa.Text, nullable=False, server_default=""),
        sa.Column("teacher_ids", sa.JSON, nullable=False),
        sa.Column("time_zone", sa.Text, nullable=False, server_default="UTC"),
        sa.Column("student_name", sa.Text, nullable=False, server_default=""),
        sa.UniqueConstraint("tenant_id", "source", name="uq_signals_source"),
        schema=S,
    )
    op.create_index(
        "ix_signals_student_kind", "signals", ["tenant_id", "student_id", "kind", "occurred_at"], schema=S
    )
    op.create_index("ix_signals_tenant_time", "signals", ["tenant_id", "occurred_at"], schema=S)
    op.create_table(
        "decisions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("signal_id", sa.Uuid, nullable=False),
        sa.Column("student_id", sa.Text, nullable=False),
        sa.Column("policy_id", sa.Text, nullable=False),
        sa.Column("policy_version_id", sa.Uuid, nullable=False),
        sa.Column("policy_version", sa.Integer, nullable=False),
        sa.Column("intervention", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("urgency", sa.Integer, nullable=False),
        sa.Column("trace", sa.JSON, nullable=False),
        sa.Column("local_day", sa.Date, nullable=False),
        sa.Column("recipients", sa.JSON, nullable=False),
        sa.Column("subject", sa.Text, nullable=False, server_default=""),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("delivery_status", sa.Text, nullable=False),
        sa.Column("delivery_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("moodle_message_id", sa.Text, nullable=False, server_default=""),
        sa.Column("delivery_error", sa.Text, nullable=False, server_default=""),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signal_occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        schema=S,
    )
    op.create_index(
        "ix_decisions_student", "decisions", ["tenant_id", "student_id", "created_at", "id"], schema=S
    )
    op.create_index("ix_decisions_tenant_created", "decisions", ["tenant_id", "created_at", "id"], schema=S)
    op.create_index("ix_decisions_signal", "decisions", ["tenant_id", "signal_id"], schema=S)
    op.create_table(
        "student_days",
        sa.Column("tenant_id", sa.Uuid, primary_key=True),
        sa.Column("student_id", sa.Text, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("sent", sa.Integer, nullable=False, server_default="0"),
        schema=S,
    )
    op.create_table(
        "students",
        sa.Column("tenant_id", sa.Uuid, primary_key=True),
        sa.Column("student_id", sa.Text, primary_key=True),
        sa.Column("time_zone", sa.Text, nullable=False, server_default="UTC"),
        sa.Column("display_name", sa.Text, nullable=False, server_default=""),
        schema=S,
    )
    for table in ("policy_versions", "signals", "decisions", "student_days", "students"):
        enable_tenant_rls(S, table)
    create_event_tables(S)
    create_job_tables(S)
    create_rate_limit_tables(S)
    grant_app_access(S)


def downgrade() -> None:
    op.execute(f"DROP SCHEMA {S} CASCADE")
