"""mtss's tables: the one declaration of its schema. The queries (store.py) use these tables and
the schema check (tests/runtime/integration/test_schema.py) holds the migrations in db/mtss/ to
them. Row-level security and grants are in the migrations only. Every table is tenant-owned."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from services.runtime.db import metadata

md = metadata("mtss")

# Ed-Fi Intervention. The parts Ed-Fi has no columns for (objectives, goal, schedule, facilitators,
# exit criteria) are one JSON document, `config`, decoded by the store into domain objects.
interventions = sa.Table(
    "interventions",
    md,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("owner_id", sa.Text, nullable=False),
    sa.Column("template_key", sa.Text, nullable=False),
    sa.Column("template_version", sa.Integer, nullable=False),
    sa.Column("begin_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date, nullable=False),
    sa.Column("config", JSONB, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("tenant_id", "code", name="uq_interventions_tenant_code"),
)

# One meeting of an intervention: what conflict detection and attendance are about.
sessions = sa.Table(
    "sessions",
    md,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("intervention_id", sa.Uuid, sa.ForeignKey("mtss.interventions.id"), nullable=False),
    sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("local_date", sa.Date, nullable=False),
    sa.Column("room", sa.Text, nullable=False),
    sa.Column("facilitator_id", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    # Rooms compare without case ("Library" is "library"). Stored, not an index on lower(room):
    # under row-level security a condition on lower(), which is not leakproof, is never an index
    # condition; equality on a column is (db/mtss/versions/20261206_0002_room_key.py).
    sa.Column("room_key", sa.Text, sa.Computed("lower(room)", persisted=True), nullable=False),
    # Conflict checks read a tenant's sessions overlapping a time window: all of them (a scan, by
    # ends_at: the window's sessions end in (start, end + the longest session)), or those of one room
    # or one facilitator (a probe per window, by starts_at). Not (tenant_id, starts_at): before
    # PostgreSQL has statistics (a table filled since the last ANALYZE) its cost ties with the
    # facilitator's index for a probe, and the planner took it, reading every room's sessions of
    # each window (docs/performance.md, issue 14's creation figure).
    sa.Index("ix_sessions_tenant_end", "tenant_id", "ends_at"),
    sa.Index("ix_sessions_intervention_start", "intervention_id", "starts_at"),
    sa.Index("ix_sessions_facilitator_start", "tenant_id", "facilitator_id", "starts_at"),
    sa.Index("ix_sessions_room_key_start", "tenant_id", "room_key", "starts_at"),
)

# Ed-Fi StudentInterventionAssociation, with source, actor, time and effective dates.
enrollments = sa.Table(
    "enrollments",
    md,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("intervention_id", sa.Uuid, sa.ForeignKey("mtss.interventions.id"), nullable=False),
    sa.Column("student_id", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("enrolled_by", sa.Text, nullable=False),
    sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("begin_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date, nullable=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("exit_confirmed_by", sa.Text, nullable=False, server_default=""),
    sa.Column("exit_confirmed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("exit_reason", sa.Text, nullable=False, server_default=""),
    sa.UniqueConstraint("intervention_id", "student_id", name="uq_enrollments_intervention_student"),
    sa.Index("ix_enrollments_tenant_student", "tenant_id", "student_id"),
)

# Ed-Fi StudentInterventionAttendanceEvent keyed by session, not date: two sessions a day each count.
attendance = sa.Table(
    "attendance",
    md,
    sa.Column("session_id", sa.Uuid, sa.ForeignKey("mtss.sessions.id"), primary_key=True),
    sa.Column("student_id", sa.Text, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("intervention_id", sa.Uuid, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("minutes", sa.Integer, nullable=False),
    sa.Column("reason_code", sa.Text, nullable=False, server_default=""),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("recorded_by", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("ix_attendance_intervention_student", "intervention_id", "student_id"),
)

progress_entries = sa.Table(
    "progress_entries",
    md,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("intervention_id", sa.Uuid, sa.ForeignKey("mtss.interventions.id"), nullable=False),
    sa.Column("student_id", sa.Text, nullable=False),
    sa.Column("on_date", sa.Date, nullable=False),
    sa.Column("score", sa.Float, nullable=True),
    sa.Column("rating", sa.Integer, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("session_id", sa.Text, nullable=False, server_default=""),
    sa.Column("recorded_by", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("ix_progress_intervention_student", "intervention_id", "student_id", "on_date"),
)

# Which caregiver may read which student's summary and receives their communications. The link is
# mtss's (identity knows roles, not families); admins set it with LinkCaregiver.
caregiver_links = sa.Table(
    "caregiver_links",
    md,
    sa.Column("caregiver_id", sa.Text, primary_key=True),
    sa.Column("student_id", sa.Text, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

# The student's communication log: one row per caregiver message, with its delivery status.
communications = sa.Table(
    "communications",
    md,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("student_id", sa.Text, nullable=False),
    sa.Column("caregiver_id", sa.Text, nullable=False),
    sa.Column("intervention_id", sa.Uuid, nullable=False),
    sa.Column("template", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Column("sent_by", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("ix_communications_student", "tenant_id", "student_id", "created_at"),
)
