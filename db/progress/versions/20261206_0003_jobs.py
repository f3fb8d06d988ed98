"""progress: the durable job table (services/runtime/jobs.py). The periodic checks enqueue one job per
tenant and tick, so every replica shares the tenants instead of each visiting all of them.

Revision ID: progress_0003_jobs
Revises: progress_0002
Create Date: 2026-12-06
"""

from services.runtime.migration_ops import create_job_tables, drop_job_tables, grant_app_access

revision = "progress_0003_jobs"
down_revision = "progress_0002"
branch_labels = None
depends_on = None

S = "progress"


def upgrade() -> None:
    create_job_tables(S)
    grant_app_access(S)


def downgrade() -> None:
    drop_job_tables(S)
