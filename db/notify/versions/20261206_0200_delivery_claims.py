"""notify: a delivery's send claim (claim_id, claimed_until), committed before the provider call so a
worker or database failure between the call and the record of its outcome never leads to a blind
re-send (services/notify/service.py, "claims"; docs/notify.md).

On the delivery engine's branch (after notify_0001; ops alerts are on their own branch).

Revision ID: notify_0002
Revises: notify_0001
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "notify_0002"
down_revision = "notify_0001"
branch_labels = None
depends_on = None

S = "notify"


def upgrade() -> None:
    # As declared in services/notify/tables.py (tests/runtime/integration/test_schema.py compares them).
    # Nullable columns without defaults: adding them rewrites nothing and takes a brief lock only.
    op.add_column("deliveries", sa.Column("claim_id", sa.Uuid, nullable=True), schema=S)
    op.add_column(
        "deliveries", sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True), schema=S
    )


def downgrade() -> None:
    op.drop_column("deliveries", "claimed_until", schema=S)
    op.drop_column("deliveries", "claim_id", schema=S)
