"""notify's tables: the one declaration of its schema. The queries (store.py) use these tables and
the schema check (tests/runtime/integration/test_schema.py) holds the migrations in db/notify/ to
them. Row-level security and grants are in the migrations only. Every table is tenant-owned
(FORCEd row-level security on tenant_id); platform messages use the nil tenant (service.SYSTEM_TENANT)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from services.runtime.db import metadata

md = metadata("notify")

# The delivery log: one row per message to one recipient on one channel, updated by every attempt.
deliveries = sa.Table(
    "deliveries",
    md,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("requested_channel", sa.Text, nullable=False),
    sa.Column("recipient_id", sa.Text, nullable=False, server_default=""),
    sa.Column("address", sa.Text, nullable=False, server_default=""),
    sa.Column("template", sa.Text, nullable=False, server_default=""),
    sa.Column("template_version", sa.Integer, nullable=False, server_default="0"),
    # Kept so a fallback or an escalation can render the template again for another channel's format.
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
    # A send in flight (migration notify_0002): the attempt that claimed the delivery, committed
    # BEFORE the provider call, and until when that claim holds. Both NULL when no send is in flight.
    # A claim found after its lease is a send whose outcome nobody recorded (service.py, "claims").
    sa.Column("claim_id", sa.Uuid, nullable=True),
    sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
    # SendMessage's idempotency key: NULLs (no key) are distinct, a key is taken once per tenant.
    sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_deliveries_idempotency"),
    # ListDeliveries walks a tenant's log newest first.
    sa.Index("ix_deliveries_tenant_created", "tenant_id", "created_at", "id"),
    # The in-app inbox and quiet-hours digests: one recipient's deliveries on one channel by status.
    sa.Index("ix_deliveries_recipient", "tenant_id", "recipient_id", "channel", "status"),
)

# Template versions of a tenant: saving under an existing name adds the next version.
templates = sa.Table(
    "templates",
    md,
    sa.Column("tenant_id", sa.Uuid, primary_key=True),
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("subject", sa.Text, nullable=False, server_default=""),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

# A LearnFlow user's address on a channel, found by email through channel.resolve and cached here.
# address NULL: no account there (the fallback channel is used), asked again after the cache time.
addresses = sa.Table(
    "addresses",
    md,
    sa.Column("tenant_id", sa.Uuid, primary_key=True),
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("channel", sa.Text, primary_key=True),
    sa.Column("address", sa.Text, nullable=True),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

# A recipient's quiet hours (wall-clock window in their time zone).
quiet_hours = sa.Table(
    "quiet_hours",
    md,
    sa.Column("tenant_id", sa.Uuid, primary_key=True),
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("start_time", sa.Time, nullable=False),
    sa.Column("end_time", sa.Time, nullable=False),
    sa.Column("time_zone", sa.Text, nullable=False, server_default=""),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

# Ops alerting (services/notify/alerts.py): every alert notification Alertmanager hands to notify, and
# what became of it on its channel: sent, held back by the hourly limit (then summarised in the next
# message), or recorded from a replica's local spool after PostgreSQL came back. Platform-level (no
# tenant, no row-level security): ops alerts concern the whole installation.
ops_alerts = sa.Table(
    "ops_alerts",
    md,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("channel", sa.Text, nullable=False),
    # "alert" (one Alertmanager alert), "summary" (what was held back, sent on its own), "digest".
    sa.Column("kind", sa.Text, nullable=False, server_default="alert"),
    sa.Column("alertname", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.Text, nullable=False, server_default=""),  # firing | resolved
    sa.Column("severity", sa.Text, nullable=False, server_default=""),
    sa.Column("fingerprint", sa.Text, nullable=False, server_default=""),
    sa.Column("summary", sa.Text, nullable=False, server_default=""),
    # sent | held | summarised | failed
    sa.Column("outcome", sa.Text, nullable=False),
    # delivery_log (through the engine) | direct (PostgreSQL was down: straight to the channel)
    sa.Column("path", sa.Text, nullable=False, server_default="delivery_log"),
    sa.Column("summarised_in", sa.Uuid, nullable=True),  # the message that carried a held alert
    sa.Column("detail", sa.Text, nullable=False, server_default=""),  # the error, for failed
    # The digest's day ("digest:2026-12-05") and spool entries' ids: written once.
    sa.Column("dedup_key", sa.Text, nullable=True, unique=True),
    sa.Index("ix_ops_alerts_channel_outcome", "channel", "outcome", "received_at"),
    sa.Index("ix_ops_alerts_received", "received_at"),
)
