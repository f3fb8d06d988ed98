"""identity: tenants, users, refresh tokens, signing keys, event tables; row-level security.

Revision ID: identity_0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from services.runtime.migration_ops import create_event_tables, enable_tenant_rls, grant_app_access

revision = "identity_0001"
down_revision = None
branch_labels = ("identity",)
depends_on = None

S = "identity"


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("slug", sa.Text, nullable=False, unique=True),
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        schema=S,
    )
    # The tenant row itself is tenant-scoped too: the application role sees only its own tenant.
    # Not FORCEd, so the owner's SECURITY DEFINER lookup below can find a slug's tenant.
    op.execute(f"ALTER TABLE {S}.tenants ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {S}.tenants "
        "USING (id = NULLIF(current_setting('app.tenant_id', true), '')::uuid) "
        "WITH CHECK (id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)"
    )
    # Login knows only a slug. This SECURITY DEFINER function (owned by the migration role, which owns
    # the table) answers exactly one question, which tenant id has this slug, and nothing else.
    op.execute(
        f"CREATE FUNCTION {S}.tenant_id_for_slug(p_slug text) RETURNS uuid "  # noqa: S608 (constant schema)
        "LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog "
        f"AS $$ SELECT id FROM {S}.tenants WHERE slug = p_slug $$"
    )

    op.create_table(
        "users",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, sa.ForeignKey(f"{S}.tenants.id"), nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("display_name", sa.Text, nullable=False, server_default=""),
        sa.Column("roles", sa.ARRAY(sa.Text), nullable=False),
        sa.Column("kind", sa.Text, nullable=False, server_default="person"),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("time_zone", sa.Text, nullable=False, server_default="UTC"),
        sa.Column("password_hash", sa.Text, nullable=True),
        sa.Column("client_id", sa.Text, nullable=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("tenant_id", "email", name="uq_users_tenant_email"),
        sa.UniqueConstraint("tenant_id", "client_id", name="uq_users_tenant_client_id"),
        schema=S,
    )
    enable_tenant_rls(S, "users")

    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.LargeBinary, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("user_id", sa.Uuid, sa.ForeignKey(f"{S}.users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        schema=S,
    )
    enable_tenant_rls(S, "refresh_tokens")

    # Platform-wide signing keys (not tenant data).
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.Text, primary_key=True),
        sa.Column("private_pem", sa.Text, nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retire_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        schema=S,
    )
    create_event_tables(S)
    grant_app_access(S)
    op.execute(f'GRANT EXECUTE ON FUNCTION {S}.tenant_id_for_slug(text) TO "{_app_role()}"')


def _app_role() -> str:
    return str(op.get_context().config.attributes["app_role"])  # type: ignore[union-attr]


def downgrade() -> None:
    op.execute(f"DROP SCHEMA {S} CASCADE")
