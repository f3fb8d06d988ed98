"""sandbox: shared token buckets (services/runtime/ratelimit.py), so the per-user and per-tenant run
limits hold across every replica instead of per pod.

Revision ID: sandbox_0002_rate_limits
Revises: sandbox_0001
Create Date: 2026-12-06
"""

from services.runtime.migration_ops import create_rate_limit_tables, drop_rate_limit_tables, grant_app_access

revision = "sandbox_0002_rate_limits"
down_revision = "sandbox_0001"
branch_labels = None
depends_on = None

S = "sandbox"


def upgrade() -> None:
    create_rate_limit_tables(S)
    grant_app_access(S)


def downgrade() -> None:
    drop_rate_limit_tables(S)
