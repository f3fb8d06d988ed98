"""progress: activities (idempotency + recent history), mastery per topic, per-student summary and
state, classes, struggle alerts (one open episode per student/rule/key), event tables; RLS.

Revision ID: progress_0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from services.runtime.migration_ops import create_event_tables, enable_tenant_rls, grant_app_access

revision = "progress_0001"
down_revision = None
branch_labels = ("progress",)
depends_on = None

S = "progress"


def _timestamps() -> list[sa.Column]:
    return [sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)]


def upgrade() -> None:
    op.create_table(
        "activities",
        sa.Column("tenant_id", sa.Uuid, primary_key=True),
        sa.Column("id", sa.Text, primary_key=True),  # the activity's id: recording it twice applies once
        sa.Column("student_id", sa.Text, nullable=False),
        sa.Column("topic", sa.Text, nullable=False, server_default=""),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("verdict", sa.Text, nullable=False, server_default=""),
        sa.Column("exception_type", sa.Text, nullable=False, server_default=""),
        sa.Column("quiz_id", sa.Text, nullable=False, server_default=""),
        sa.Column("exercise_id", sa.Text, nullable=False, server_default=""),
        sa.Column("duration_seconds", sa.Float, nullable=False, server_default="0"),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        *_timestamps(),
        schema=S,
    )
    op.create_index(
        "ix_activities_student_time", "activities", ["tenant_id", "student_id", "occurred_at"], schema=S
    )
    op.create_table(
        "mastery",
        sa.Column("tenant_id", sa.Uuid, primary_key=True),
        sa.Column("student_id", sa.Text, primary_key=True),
        sa.Column("topic", sa.Text, primary_key=True),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("evidence", sa.Float, nullable=False),
        sa.Column("level", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("state", postgresql.JSONB, nullable=False),  # the domain's O(1) state, whole
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )
    # One row per student: the streak and struggle state, and the summary a class list sorts by.
    op.create_table(
        "students",
        sa.Column("tenant_id", sa.Uuid, primary_key=True),
        sa.Column("student_id", sa.Text, primary_key=True),
        sa.Column("time_zone", sa.Text, nullable=False, server_default="UTC"),
        sa.Column("streak", postgresql.JSONB, nullable=False, server_default="{}"),
        sa.Column("struggle", postgresql.JSONB, nullable=False, server_default="{}"),
        sa.Column("topics", sa.Integer, nullable=False, server_default="0"),
        sa.Column("mastery_sum", sa.Float, nullable=False, server_default="0"),
        sa.Column("mean_mastery", sa.Float, nullable=False, server_default="0"),
        sa.Column("topics_mastered", sa.Integer, nullable=False, server_default="0"),
        sa.Column("open_alerts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("risk", sa.Float, nullable=False, server_default="0"),
        sa.Column("last_active_at", sa.DateTime(timezone=True), nullable=True),
        schema=S,
    )
    op.create_table(
        "classes",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("teacher_ids", postgresql.ARRAY(sa.Text), nullable=False),
        *_timestamps(),
        schema=S,
    )
    op.create_table(
        "class_members",
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column(
            "class_id", sa.Uuid, sa.ForeignKey(f"{S}.classes.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("student_id", sa.Text, primary_key=True),
        schema=S,
    )
    op.create_index("ix_class_members_student", "class_members", ["tenant_id", "student_id"], schema=S)
    op.create_table(
        "struggle_alerts",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("student_id", sa.Text, nullable=False),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("explanation", sa.Text, nullable=False),
        sa.Column("severity", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        *_timestamps(),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Text, nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Text, nullable=True),
        schema=S,
    )
    # The episode rule, enforced by the database: one alert not yet resolved per student/rule/key.
    op.create_index(
        "uq_struggle_alerts_open_episode",
        "struggle_alerts",
        ["tenant_id", "student_id", "rule", "key"],
        unique=True,
        postgresql_where=sa.text("state <> 'resolved'"),
        schema=S,
    )
    op.create_index(
        "ix_struggle_alerts_tenant_created", "struggle_alerts", ["tenant_id", "created_at"], schema=S
    )
    for table in ("activities", "mastery", "students", "classes", "class_members", "struggle_alerts"):
        enable_tenant_rls(S, table)
    create_event_tables(S)
    grant_app_access(S)


def downgrade() -> None:
    op.execute(f"DROP SCHEMA {S} CASCADE")
