"""mtss sessions: a stored room_key (the room without case) and its index, instead of the index on
lower(room); the tenant's time index on ends_at instead of starts_at.

Why: under row-level security PostgreSQL may not evaluate a function that is not leakproof before
the tenant policy has hidden other tenants' rows, and lower() is not leakproof. So a query's
`lower(room) = :room` never became an index condition: the conflict check of a new intervention
read the tenant's sessions by time and filtered them (docs/performance.md, issue 14's creation
figure). Text equality on a stored column is leakproof, so (tenant_id, room_key, starts_at) is a
real index probe per overlap window.

And (tenant_id, starts_at) becomes (tenant_id, ends_at): before a table filled since its last ANALYZE
has statistics, the planner's cost for a facilitator's probe tied between (tenant_id, starts_at) and
(tenant_id, facilitator_id, starts_at), and it took the first, reading every session of the tenant
in each window. On ends_at the scan of a window still has an index (the window's sessions end
between its start and its end plus the longest session) and the probe has only one candidate.

Revision ID: mtss_0002
Revises: mtss_0001
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "mtss_0002"
down_revision = "mtss_0001"
branch_labels = None
depends_on = None

S = "mtss"


def upgrade() -> None:
    op.add_column(
        "sessions",
        sa.Column("room_key", sa.Text, sa.Computed("lower(room)", persisted=True), nullable=False),
        schema=S,
    )
    op.drop_index("ix_sessions_room_start", table_name="sessions", schema=S)
    op.create_index(
        "ix_sessions_room_key_start", "sessions", ["tenant_id", "room_key", "starts_at"], schema=S
    )
    op.drop_index("ix_sessions_tenant_start", table_name="sessions", schema=S)
    op.create_index("ix_sessions_tenant_end", "sessions", ["tenant_id", "ends_at"], schema=S)


def downgrade() -> None:
    op.drop_index("ix_sessions_tenant_end", table_name="sessions", schema=S)
    op.create_index("ix_sessions_tenant_start", "sessions", ["tenant_id", "starts_at"], schema=S)
    op.drop_index("ix_sessions_room_key_start", table_name="sessions", schema=S)
    op.create_index(
        "ix_sessions_room_start", "sessions", ["tenant_id", sa.text("lower(room)"), "starts_at"], schema=S
    )
    op.drop_column("sessions", "room_key", schema=S)
