"""notify's tables: the one declaration of its schema. The queries (store.py) use these tables and
the schema check (tests/runtime/integration/test_schema.py) holds the migrations in db/notify/ to
them. Row-level security and grants are in the migrations only."""

from __future__ import annotations

import sqlalchemy as sa

from services.runtime.db import metadata

md = metadata("notify")

# Tenant-owned: FORCEd row-level security on tenant_id (db/notify's first migration).
items = sa.Table(
    "items",
    md,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    # ListItems walks a tenant's items in (created_at, id) order.
    sa.Index("ix_items_tenant_created", "tenant_id", "created_at", "id"),
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
