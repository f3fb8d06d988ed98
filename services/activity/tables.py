"""activity's tables: the one declaration of its schema. The queries (store.py) use these tables and
the schema check (tests/runtime/integration/test_schema.py) holds the migrations in db/activity/ to
them. Row-level security and grants are in the migrations only.

`cursors`, `attempts` and `monitor` are the monitor's own state per LMS (no tenant: one LMS feeds one
tenant, LMS_TENANT_ID); `events` and `notifications` are the tenant's (FORCEd row-level security)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from services.runtime.db import metadata

md = metadata("activity")

# The monitor's position in each LMS table: every row at or before (updated_at, id) has been read.
cursors = sa.Table(
    "cursors",
    md,
    sa.Column("lms", sa.Text, primary_key=True),
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("id", sa.BigInteger, nullable=False, server_default="0"),
)

# One row per LMS attempt ever read: the state machine's position (`state`, the highest state emitted,
# "" none) and the LMS's state and change time as last read (what the completeness audit compares).
# `rejected` says why a bad row (unknown state, missing student) produced nothing.
attempts = sa.Table(
    "attempts",
    md,
    sa.Column("lms", sa.Text, primary_key=True),
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("attempt_id", sa.BigInteger, primary_key=True),
    sa.Column("state", sa.Text, nullable=False, server_default=""),
    sa.Column("lms_state", sa.Text, nullable=False),
    sa.Column("lms_updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("rejected", sa.Text, nullable=False, server_default=""),
    # The audit's buckets: per LMS table, by the LMS's change time.
    sa.Index("ix_attempts_lms_updated", "lms", "source", "lms_updated_at"),
)

# The monitor's last poll per LMS (GetMonitorStatus reads it on any replica).
monitor = sa.Table(
    "monitor",
    md,
    sa.Column("lms", sa.Text, primary_key=True),
    sa.Column("last_poll_at", sa.DateTime(timezone=True), nullable=True),
    # Everything the LMS committed before this was read (the lower of the tables' poll bounds).
    sa.Column("watermark", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_error", sa.Text, nullable=False, server_default=""),
    sa.Column("late_commit_guard", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("skipped", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("rejected", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("unmatched", JSONB, nullable=False, server_default="[]"),
)

# The standard events (seed step 1's LMSActivityEvent, plus the xAPI statement). `sequence` is the
# order of storage: replay and the AI export go by it. A lease (lease_id, lease_expires_at) hands an
# unprocessed batch to one export consumer until it acknowledges (processed_for_ai) or the lease ends.
events = sa.Table(
    "events",
    md,
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
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    # ListActivityEvents: a student's history, or one type, in time order.
    sa.Index("ix_events_student", "tenant_id", "student_id", "occurred_at", "sequence"),
    sa.Index("ix_events_type", "tenant_id", "event_type", "occurred_at", "sequence"),
    # The AI export queue: unprocessed events in storage order.
    sa.Index(
        "ix_events_unprocessed", "tenant_id", "sequence", postgresql_where=sa.text("NOT processed_for_ai")
    ),
)

# The notification log per event and mentor (seed step 1's LMSEventLog).
notifications = sa.Table(
    "notifications",
    md,
    sa.Column("event_id", sa.Uuid, primary_key=True),
    sa.Column("mentor_id", sa.BigInteger, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("sent", sa.Boolean, nullable=False),
    sa.Column("message_id", sa.Text, nullable=False, server_default=""),
    sa.Column("error", sa.Text, nullable=False, server_default=""),
    sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)
