"""progress: the tenants the schema knows (for the periodic checks that scan every tenant) and why an
alert was resolved (a teacher, the student's own progress, or the quiet period).

`tenants` has no row-level security: it holds tenant ids only, and lets a periodic task find the
tenants to visit, each then in its own transaction scoped with set_tenant (docs/progress-model.md).
A trigger on `students` keeps it complete: a tenant appears when its first student does.

Revision ID: progress_0002
Revises: progress_0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from services.runtime.migration_ops import grant_app_access

revision = "progress_0002"
down_revision = "progress_0001"
branch_labels = None
depends_on = None

S = "progress"


def upgrade() -> None:
    op.create_table("tenants", sa.Column("tenant_id", sa.Uuid, primary_key=True), schema=S)
    op.execute(
        f"CREATE FUNCTION {S}.remember_tenant() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "  # noqa: S608
        f"INSERT INTO {S}.tenants (tenant_id) VALUES (NEW.tenant_id) ON CONFLICT DO NOTHING; "
        "RETURN NULL; END $$"
    )
    # FOR EACH ROW on INSERT: fires for new students only (not on the upsert's conflict path).
    op.execute(
        f"CREATE TRIGGER remember_tenant AFTER INSERT ON {S}.students "
        f"FOR EACH ROW EXECUTE FUNCTION {S}.remember_tenant()"
    )
    # The students already there: FORCE'd row-level security hides them from the owner, so lift it
    # for this one statement (inside the migration's transaction).
    op.execute(f"ALTER TABLE {S}.students NO FORCE ROW LEVEL SECURITY")
    op.execute(f"INSERT INTO {S}.tenants SELECT DISTINCT tenant_id FROM {S}.students ON CONFLICT DO NOTHING")  # noqa: S608
    op.execute(f"ALTER TABLE {S}.students FORCE ROW LEVEL SECURITY")
    # NULL until resolved; a resolved alert from before this column was resolved by a teacher.
    op.add_column("struggle_alerts", sa.Column("resolution", sa.Text, nullable=True), schema=S)
    grant_app_access(S)


def downgrade() -> None:
    op.drop_column("struggle_alerts", "resolution", schema=S)
    op.execute(f"DROP TRIGGER remember_tenant ON {S}.students")
    op.execute(f"DROP FUNCTION {S}.remember_tenant()")
    op.drop_table("tenants", schema=S)
