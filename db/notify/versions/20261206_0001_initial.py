"""notify: the delivery log, templates, the address cache and quiet hours (tenant-owned, row-level
security), and the runtime's tables every context schema has: events (outbox, inbox, dead letters),
durable jobs (every delivery attempt is one) and shared rate limits (per channel and destination).

Revision ID: notify_0001
Revises:
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from services.runtime.migration_ops import (
    create_event_tables,
    create_job_tables,
    create_rate_limit_tables,
    enable_tenant_rls,
    grant_app_access,
)

revision = "notify_0001"
down_revision = None
branch_labels = ("notify",)
depends_on = None

S = "notify"


def upgrade() -> None:
    # As declared in services/notify/tables.py (tests/runtime/integration/test_schema.py compares them).
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("requested_channel", sa.Text, nullable=False),
        sa.Column("recipient_id", sa.Text, nullable=False, server_default=""),
        sa.Column("address", sa.Text, nullable=False, server_default=""),
        sa.Column("template", sa.Text, nullable=False, server_default=""),
        sa.Column("template_version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("variables", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("subject", sa.Text, nullable=False, server_default=""),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("body_format", sa.Text, nullable=False),
        sa.Column("urgency", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
        sa.Column("provider_message_id", sa.Text, nullable=False, server_default=""),
        sa.Column("idempotency_key", sa.Text, nullable=True),
        sa.Column("extra", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("escalation", JSONB, nullable=True),
        sa.Column("escalated_from", sa.Uuid, nullable=True),
        sa.Column("digest_id", sa.Uuid, nullable=True),
        sa.Column("created_by", sa.Text, nullable=False, server_default=""),
        sa.Column("notes", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_deliveries_idempotency"),
        schema=S,
    )
    op.create_index("ix_deliveries_tenant_created", "deliveries", ["tenant_id", "created_at", "id"], schema=S)
    op.create_index(
        "ix_deliveries_recipient", "deliveries", ["tenant_id", "recipient_id", "channel", "status"], schema=S
    )
    op.create_table(
        "templates",
        sa.Column("tenant_id", sa.Uuid, primary_key=True),
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("subject", sa.Text, nullable=False, server_default=""),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=S,
    )
    op.create_table(
        "addresses",
        sa.Column("tenant_id", sa.Uuid, primary_key=True),
        sa.Column("user_id", sa.Text, primary_key=True),
        sa.Column("channel", sa.Text, primary_key=True),
        sa.Column("address", sa.Text, nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=S,
    )
    op.create_table(
        "quiet_hours",
        sa.Column("tenant_id", sa.Uuid, primary_key=True),
        sa.Column("user_id", sa.Text, primary_key=True),
        sa.Column("start_time", sa.Time, nullable=False),
        sa.Column("end_time", sa.Time, nullable=False),
        sa.Column("time_zone", sa.Text, nullable=False, server_default=""),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=S,
    )
    for table in ("deliveries", "templates", "addresses", "quiet_hours"):
        enable_tenant_rls(S, table)
    create_event_tables(S)
    create_job_tables(S)
    create_rate_limit_tables(S)
    grant_app_access(S)


def downgrade() -> None:
    op.execute(f"DROP SCHEMA {S} CASCADE")
