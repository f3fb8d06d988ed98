"""tutoring: the runtime's tables for work beyond one message (docs/runtime-jobs.md): durable jobs
(services/runtime/jobs.py) and shared rate-limit buckets (services/runtime/ratelimit.py). Every
context schema has them, like the event tables, so any context can enqueue a job or hold a limit.

Revision ID: tutoring_0002_work
Revises: tutoring_0001
Create Date: 2026-12-06
"""

from services.runtime.migration_ops import (
    create_job_tables,
    create_rate_limit_tables,
    drop_job_tables,
    drop_rate_limit_tables,
    grant_app_access,
)

revision = "tutoring_0002_work"
down_revision = "tutoring_0001"
branch_labels = None
depends_on = None

S = "tutoring"


def upgrade() -> None:
    create_job_tables(S)
    create_rate_limit_tables(S)
    grant_app_access(S)


def downgrade() -> None:
    drop_rate_limit_tables(S)
    drop_job_tables(S)
