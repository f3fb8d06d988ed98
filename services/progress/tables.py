"""progress's tables: the one declaration of its schema. The queries (store.py) use these tables and
the schema check (tests/runtime/integration/test_schema.py) holds the migrations in db/progress/ to
them. The domain's O(1) states (mastery, streak, struggle) are kept whole as JSONB beside the columns
that queries sort and filter by. Row-level security and the trigger that fills `tenants` are in the
migrations only."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from services.runtime.db import metadata

md = metadata("progress")


def _created_at() -> sa.Column[object]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


activities = sa.Table(
    "activities",
    md,
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
    _created_at(),
    sa.Index("ix_activities_student_time", "tenant_id", "student_id", "occurred_at"),
)
mastery = sa.Table(
    "mastery",
    md,
    sa.Column("tenant_id", sa.Uuid, primary_key=True),
    sa.Column("student_id", sa.Text, primary_key=True),
    sa.Column("topic", sa.Text, primary_key=True),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("evidence", sa.Float, nullable=False),
    sa.Column("level", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("state", postgresql.JSONB, nullable=False),  # the domain's O(1) state, whole
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
# One row per student: the streak and struggle state, and the summary a class list sorts by.
students = sa.Table(
    "students",
    md,
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
)
classes = sa.Table(
    "classes",
    md,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("teacher_ids", postgresql.ARRAY(sa.Text), nullable=False),
    _created_at(),
)
class_members = sa.Table(
    "class_members",
    md,
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("class_id", sa.Uuid, sa.ForeignKey(classes.c.id, ondelete="CASCADE"), primary_key=True),
    sa.Column("student_id", sa.Text, primary_key=True),
    sa.Index("ix_class_members_student", "tenant_id", "student_id"),
)
alerts = sa.Table(
    "struggle_alerts",
    md,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("student_id", sa.Text, nullable=False),
    sa.Column("rule", sa.Text, nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("explanation", sa.Text, nullable=False),
    sa.Column("severity", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    _created_at(),
    sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("acknowledged_by", sa.Text, nullable=True),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("resolved_by", sa.Text, nullable=True),
    # Why the alert was resolved (store.BY_*); NULL while it is not.
    sa.Column("resolution", sa.Text, nullable=True),
    # The episode rule, enforced by the database: one alert not yet resolved per student/rule/key.
    sa.Index(
        "uq_struggle_alerts_open_episode",
        "tenant_id",
        "student_id",
        "rule",
        "key",
        unique=True,
        postgresql_where=sa.text("state <> 'resolved'"),
    ),
    sa.Index("ix_struggle_alerts_tenant_created", "tenant_id", "created_at"),
)
# Tenant ids only, no row-level security: where the periodic checks find the tenants to visit
# (filled by a trigger on `students`, db/progress/versions/20261123_0002).
tenants = sa.Table("tenants", md, sa.Column("tenant_id", sa.Uuid, primary_key=True))
