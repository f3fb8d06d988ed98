"""mtss: interventions, sessions, enrollments, attendance, progress entries, caregiver links and the
communication log (all tenant-owned, row-level security), and the runtime's tables every context
schema has: events (outbox, inbox, dead letters), durable jobs and shared rate limits.

Revision ID: mtss_0001
Revises:
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from services.runtime.migration_ops import (
    create_event_tables,
    create_job_tables,
    create_rate_limit_tables,
    enable_tenant_rls,
    grant_app_access,
)

revision = "mtss_0001"
down_revision = None
branch_labels = ("mtss",)
depends_on = None

S = "mtss"
NOW = sa.func.now()


def upgrade() -> None:
    # As declared in services/mtss/tables.py (tests/runtime/integration/test_schema.py compares them).
    op.create_table(
        "interventions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("owner_id", sa.Text, nullable=False),
        sa.Column("template_key", sa.Text, nullable=False),
        sa.Column("template_version", sa.Integer, nullable=False),
        sa.Column("begin_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date, nullable=False),
        sa.Column("config", postgresql.JSONB, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.UniqueConstraint("tenant_id", "code", name="uq_interventions_tenant_code"),
        schema=S,
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("intervention_id", sa.Uuid, sa.ForeignKey(f"{S}.interventions.id"), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("local_date", sa.Date, nullable=False),
        sa.Column("room", sa.Text, nullable=False),
        sa.Column("facilitator_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        schema=S,
    )
    op.create_index("ix_sessions_tenant_start", "sessions", ["tenant_id", "starts_at"], schema=S)
    op.create_index("ix_sessions_intervention_start", "sessions", ["intervention_id", "starts_at"], schema=S)
    op.create_index(
        "ix_sessions_room_start", "sessions", ["tenant_id", sa.text("lower(room)"), "starts_at"], schema=S
    )
    op.create_index(
        "ix_sessions_facilitator_start", "sessions", ["tenant_id", "facilitator_id", "starts_at"], schema=S
    )
    op.create_table(
        "enrollments",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("intervention_id", sa.Uuid, sa.ForeignKey(f"{S}.interventions.id"), nullable=False),
        sa.Column("student_id", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("enrolled_by", sa.Text, nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("begin_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date, nullable=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("exit_confirmed_by", sa.Text, nullable=False, server_default=""),
        sa.Column("exit_confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exit_reason", sa.Text, nullable=False, server_default=""),
        sa.UniqueConstraint("intervention_id", "student_id", name="uq_enrollments_intervention_student"),
        schema=S,
    )
    op.create_index("ix_enrollments_tenant_student", "enrollments", ["tenant_id", "student_id"], schema=S)
    op.create_table(
        "attendance",
        sa.Column("session_id", sa.Uuid, sa.ForeignKey(f"{S}.sessions.id"), primary_key=True),
        sa.Column("student_id", sa.Text, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("intervention_id", sa.Uuid, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("minutes", sa.Integer, nullable=False),
        sa.Column("reason_code", sa.Text, nullable=False, server_default=""),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("recorded_by", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        schema=S,
    )
    op.create_index(
        "ix_attendance_intervention_student", "attendance", ["intervention_id", "student_id"], schema=S
    )
    op.create_table(
        "progress_entries",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("intervention_id", sa.Uuid, sa.ForeignKey(f"{S}.interventions.id"), nullable=False),
        sa.Column("student_id", sa.Text, nullable=False),
        sa.Column("on_date", sa.Date, nullable=False),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("rating", sa.Integer, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("session_id", sa.Text, nullable=False, server_default=""),
        sa.Column("recorded_by", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        schema=S,
    )
    op.create_index(
        "ix_progress_intervention_student",
        "progress_entries",
        ["intervention_id", "student_id", "on_date"],
        schema=S,
    )
    op.create_table(
        "caregiver_links",
        sa.Column("caregiver_id", sa.Text, primary_key=True),
        sa.Column("student_id", sa.Text, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        schema=S,
    )
    op.create_table(
        "communications",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("student_id", sa.Text, nullable=False),
        sa.Column("caregiver_id", sa.Text, nullable=False),
        sa.Column("intervention_id", sa.Uuid, nullable=False),
        sa.Column("template", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("sent_by", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        schema=S,
    )
    op.create_index(
        "ix_communications_student", "communications", ["tenant_id", "student_id", "created_at"], schema=S
    )
    for table in (
        "interventions",
        "sessions",
        "enrollments",
        "attendance",
        "progress_entries",
        "caregiver_links",
        "communications",
    ):
        enable_tenant_rls(S, table)
    create_event_tables(S)
    create_job_tables(S)
    create_rate_limit_tables(S)
    grant_app_access(S)


def downgrade() -> None:
    op.execute(f"DROP SCHEMA {S} CASCADE")
