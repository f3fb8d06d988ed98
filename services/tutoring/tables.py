"""tutoring's tables: the one declaration of its schema. The queries (store.py) use these tables and
the schema check (tests/runtime/integration/test_schema.py) holds the migrations in db/tutoring/ to
them. A message is kept whole as proto JSON in `body`, beside the columns queries filter and order by.
Row-level security is in the migrations only."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from services.runtime.db import metadata

md = metadata("tutoring")


def _created_at() -> sa.Column[object]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


conversations = sa.Table(
    "conversations",
    md,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("student_id", sa.Text, nullable=False),
    # Messages are numbered 1, 2, 3... under this row's lock.
    sa.Column("last_sequence", sa.BigInteger, nullable=False, server_default="0"),
    _created_at(),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("ix_conversations_student", "tenant_id", "student_id", "updated_at"),
)
messages = sa.Table(
    "messages",
    md,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("conversation_id", sa.Uuid, sa.ForeignKey(conversations.c.id), nullable=False),
    sa.Column("sequence", sa.BigInteger, nullable=False),
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("route", sa.Text, nullable=False, server_default=""),
    sa.Column("agent", sa.Text, nullable=False, server_default=""),
    sa.Column("provider", sa.Text, nullable=False, server_default=""),
    sa.Column("in_reply_to", sa.Uuid, nullable=True),
    # The whole ChatMessage in proto JSON (text, code, triage, sources, hint, review, exercise).
    sa.Column("body", postgresql.JSONB, nullable=False),
    _created_at(),
    sa.UniqueConstraint("conversation_id", "sequence", name="uq_messages_sequence"),
)
hint_ladders = sa.Table(
    "hint_ladders",
    md,
    sa.Column("tenant_id", sa.Uuid, primary_key=True),
    sa.Column("student_id", sa.Text, primary_key=True),
    sa.Column("problem_key", sa.Text, primary_key=True),
    sa.Column("rung", sa.Integer, nullable=False),
    sa.Column("cause", sa.Text, nullable=False),
    _created_at(),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
exercise_variations = sa.Table(
    "exercise_variations",
    md,
    sa.Column("tenant_id", sa.Uuid, primary_key=True),
    sa.Column("student_id", sa.Text, primary_key=True),
    sa.Column("topic", sa.Text, primary_key=True),
    sa.Column("difficulty", sa.Text, primary_key=True),
    sa.Column("next_variation", sa.Integer, nullable=False),
)
# LLM calls and tokens per tenant, day, agent and model.
llm_usage = sa.Table(
    "llm_usage",
    md,
    sa.Column("tenant_id", sa.Uuid, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("agent", sa.Text, primary_key=True),
    sa.Column("model", sa.Text, primary_key=True),
    sa.Column("calls", sa.Integer, nullable=False),
    sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
    sa.Column("completion_tokens", sa.BigInteger, nullable=False),
)
