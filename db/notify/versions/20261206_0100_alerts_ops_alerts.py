"""notify: ops_alerts, the record of ops alerts received from Alertmanager and what became of each
(services/notify/alerts.py). Platform-level: no tenant column, no row-level security.

Its own branch after the scaffold's initial revision (the delivery engine adds its revisions on
another); migrations.run upgrades to "heads", so both apply.

Revision ID: notify_alerts_0001
Revises: notify_0001
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "notify_alerts_0001"
down_revision = "notify_0001"
branch_labels = None
depends_on = None

S = "notify"


def upgrade() -> None:
    # As declared in services/notify/tables.py (tests/runtime/integration/test_schema.py compares them).
    op.create_table(
        "ops_alerts",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False, server_default="alert"),
        sa.Column("alertname", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.Text, nullable=False, server_default=""),
        sa.Column("severity", sa.Text, nullable=False, server_default=""),
        sa.Column("fingerprint", sa.Text, nullable=False, server_default=""),
        sa.Column("summary", sa.Text, nullable=False, server_default=""),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("path", sa.Text, nullable=False, server_default="delivery_log"),
        sa.Column("summarised_in", sa.Uuid, nullable=True),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("dedup_key", sa.Text, nullable=True, unique=True),
        schema=S,
    )
    op.create_index(
        "ix_ops_alerts_channel_outcome", "ops_alerts", ["channel", "outcome", "received_at"], schema=S
    )
    op.create_index("ix_ops_alerts_received", "ops_alerts", ["received_at"], schema=S)
    # grant_app_access (first revision) set default privileges for tables created later in the schema.


def downgrade() -> None:
    op.drop_table("ops_alerts", schema=S)
