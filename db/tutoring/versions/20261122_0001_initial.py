"""tutoring: conversations and their messages (the seed's ChatMessage), the hint ladder per student
and problem, the next exercise variation per student, LLM token usage per tenant; event tables; RLS.

Revision ID: tutoring_0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from services.runtime.migration_ops import create_event_tables, enable_tenant_rls, grant_app_access

revision = "tutoring_0001"
down_revision = None
branch_labels = ("tutoring",)
depends_on = None

S = "tutoring"


def _now() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("student_id", sa.Text, nullable=False),
        # Messages are numbered 1, 2, 3... under this row's lock.
        sa.Column("last_sequence", sa.BigInteger, nullable=False, server_default="0"),
        _now(),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        schema=S,
    )
    op.create_index(
        "ix_conversations_student", "conversations", ["tenant_id", "student_id", "updated_at"], schema=S
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("conversation_id", sa.Uuid, sa.ForeignKey(f"{S}.conversations.id"), nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("author", sa.Text, nullable=False),
        sa.Column("route", sa.Text, nullable=False, server_default=""),
        sa.Column("agent", sa.Text, nullable=False, server_default=""),
        sa.Column("provider", sa.Text, nullable=False, server_default=""),
        sa.Column("in_reply_to", sa.Uuid, nullable=True),
        # The whole ChatMessage in proto JSON (text, code, triage, sources, hint, review, exercise).
        sa.Column("body", postgresql.JSONB, nullable=False),
        _now(),
        sa.UniqueConstraint("conversation_id", "sequence", name="uq_messages_sequence"),
        schema=S,
    )
    op.create_table(
        "hint_ladders",
        sa.Column("tenant_id", sa.Uuid, primary_key=True),
        sa.Column("student_id", sa.Text, primary_key=True),
        sa.Column("problem_key", sa.Text, primary_key=True),
        sa.Column("rung", sa.Integer, nullable=False),
        sa.Column("cause", sa.Text, nullable=False),
        _now(),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )
    op.create_table(
        "exercise_variations",
        sa.Column("tenant_id", sa.Uuid, primary_key=True),
        sa.Column("student_id", sa.Text, primary_key=True),
        sa.Column("topic", sa.Text, primary_key=True),
        sa.Column("difficulty", sa.Text, primary_key=True),
        sa.Column("next_variation", sa.Integer, nullable=False),
        schema=S,
    )
    op.create_table(
        "llm_usage",
        sa.Column("tenant_id", sa.Uuid, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("agent", sa.Text, primary_key=True),
        sa.Column("model", sa.Text, primary_key=True),
        sa.Column("calls", sa.Integer, nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False),
        schema=S,
    )
    for table in ("conversations", "messages", "hint_ladders", "exercise_variations", "llm_usage"):
        enable_tenant_rls(S, table)
    create_event_tables(S)
    grant_app_access(S)


def downgrade() -> None:
    op.execute(f"DROP SCHEMA {S} CASCADE")
