"""workflows: the jobs trigger wakes the runners only for a job they can claim now, not for one due
later or started by its own process (services/runtime/migration_ops.py, wake_runners_for_due_jobs).

Revision ID: workflows_jobs_wake_when_due
Revises: workflows_0001
Create Date: 2026-12-07
"""

from services.runtime.migration_ops import wake_runners_for_due_jobs, wake_runners_for_every_job

revision = "workflows_jobs_wake_when_due"
down_revision = "workflows_0001"
branch_labels = None
depends_on = None

S = "workflows"


def upgrade() -> None:
    wake_runners_for_due_jobs(S)


def downgrade() -> None:
    wake_runners_for_every_job(S)
