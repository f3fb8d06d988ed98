"""The sandbox's tables: the one declaration of its schema. The queries (store.py) use these tables
and the schema check (tests/runtime/integration/test_schema.py) holds the migrations in db/sandbox/
to them. Row-level security is in the migrations only."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from services.runtime.db import metadata

md = metadata("sandbox")

exercises = sa.Table(
    "exercises",
    md,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("prompt", sa.Text, nullable=False, server_default=""),
    sa.Column("topic", sa.Text, nullable=False, server_default=""),
    sa.Column("test_cases", postgresql.JSONB, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)
# One row per run: what progress and tutoring need later, not the code or its output.
executions = sa.Table(
    "executions",
    md,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("exercise_id", sa.Uuid, nullable=True),
    sa.Column("verdict", sa.Text, nullable=False),
    sa.Column("exception_type", sa.Text, nullable=False, server_default=""),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("ix_executions_user_created", "tenant_id", "user_id", "created_at"),
)
