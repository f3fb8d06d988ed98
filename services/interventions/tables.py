"""interventions's tables: the one declaration of its schema. The queries (store.py) use these tables and
the schema check (tests/runtime/integration/test_schema.py) holds the migrations in db/interventions/ to
them. Row-level security and grants are in the migrations only. Every table is tenant-owned."""

from __future__ import annotations

import sqlalchemy as sa

from services.runtime.db import metadata

md = metadata("interventions")

# Every version of every policy of a tenant (seed: policy_versions). One per (tenant, policy) has no
# deactivated_at: the one in force.
policy_versions = sa.Table(
    "policy_versions",
    md,
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
)

# Every signal evaluated, kept losslessly: the `repeated` conditions count them and BacktestPolicy
# replays them.
signals = sa.Table(
    "signals",
    md,
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
    # A producer's signal id (an event id) is evaluated once.
    sa.UniqueConstraint("tenant_id", "source", name="uq_signals_source"),
    sa.Index("ix_signals_student_kind", "tenant_id", "student_id", "kind", "occurred_at"),
    sa.Index("ix_signals_tenant_time", "tenant_id", "occurred_at"),
)

# What happened to each policy a signal satisfied (seed: intervention_execution).
decisions = sa.Table(
    "decisions",
    md,
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
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("ix_decisions_student", "tenant_id", "student_id", "created_at", "id"),
    sa.Index("ix_decisions_tenant_created", "tenant_id", "created_at", "id"),
    sa.Index("ix_decisions_signal", "tenant_id", "signal_id"),
)

# One row per student and local day: the row locked while deciding, so the daily cap is exact even
# when many signals for one student arrive at once.
student_days = sa.Table(
    "student_days",
    md,
    sa.Column("tenant_id", sa.Uuid, primary_key=True),
    sa.Column("student_id", sa.Text, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("sent", sa.Integer, nullable=False, server_default="0"),
)

# What identity's user events say about a student: the time zone of the daily cap and {student_name}.
students = sa.Table(
    "students",
    md,
    sa.Column("tenant_id", sa.Uuid, primary_key=True),
    sa.Column("student_id", sa.Text, primary_key=True),
    sa.Column("time_zone", sa.Text, nullable=False, server_default="UTC"),
    sa.Column("display_name", sa.Text, nullable=False, server_default=""),
)

# Each student's current stretch of uninterrupted work, from the activity events consumed (a gap of
# more than INTERVENTIONS_SESSION_GAP_MINUTES starts a new one, with a new session_id): the producer of
# work.session signals. `signalled` lists the thresholds (minutes) already signalled for this session,
# so each is signalled once; the row is locked while a batch updates it.
work_sessions = sa.Table(
    "work_sessions",
    md,
    sa.Column("tenant_id", sa.Uuid, primary_key=True),
    sa.Column("student_id", sa.Text, primary_key=True),
    sa.Column("session_id", sa.Uuid, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("signalled", sa.JSON, nullable=False),
)

TENANT_TABLES = ("policy_versions", "signals", "decisions", "student_days", "students", "work_sessions")
