"""sandbox: the runtime's tables for work beyond one message (docs/runtime-jobs.md): durable jobs
(services/runtime/jobs.py) and shared rate-limit buckets (services/runtime/ratelimit.py). Every
context schema has them, like the event tables, so any context can enqueue a job or hold a limit.
sandbox uses the buckets now: its per-user and per-tenant run limits, shared by its replicas.

Revision ID: sandbox_0002_work
Revises: sandbox_0001
Create Date: 2026-12-06
"""

from services.runtime.migration_ops import (
    create_job_tables,
    create_rate_limit_tables,
    drop_job_tables,
    drop_rate_limit_tables,
    grant_app_access,
)

revision = "sandbox_0002_work"
down_revision = "sandbox_0001"
branch_labels = None
depends_on = None

S = "sandbox"


def upgrade() -> None:
    create_job_tables(S)
    create_rate_limit_tables(S)
    grant_app_access(S)


def downgrade() -> None:
    drop_rate_limit_tables(S)
    drop_job_tables(S)
