"""audit: records, chain heads and checkpoints (tenant-owned, row-level security; records and
checkpoints append-only), the tenants with a chain, and the runtime's tables every context schema
has: events (outbox, inbox, dead letters), durable jobs and shared rate limits.

Append-only twice over: the application role gets no UPDATE, DELETE or TRUNCATE on records and
checkpoints, and a trigger refuses them for everyone, the owner included; only a superuser who
disables the triggers can change a record, and VerifyChain then names it.

Revision ID: audit_0001
Revises:
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from services.runtime.migration_ops import (
    create_event_tables,
    create_job_tables,
    create_rate_limit_tables,
    enable_tenant_rls,
    grant_app_access,
)

revision = "audit_0001"
down_revision = None
branch_labels = ("audit",)
depends_on = None

S = "audit"
APPEND_ONLY = ("records", "checkpoints")


def upgrade() -> None:
    # As declared in services/audit/tables.py (tests/runtime/integration/test_schema.py compares them).
    op.create_table(
        "records",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("context", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("resource", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("actor_kind", sa.Text, nullable=False),
        sa.Column("correlation_id", sa.Text, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("before_json", sa.Text, nullable=False),
        sa.Column("after_json", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("rpc", sa.Text, nullable=False),
        sa.Column("previous_hash", sa.Text, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("tenant_id", "sequence", name="uq_records_tenant_sequence"),
        schema=S,
    )
    op.create_index("ix_records_tenant_actor", "records", ["tenant_id", "actor", "sequence"], schema=S)
    op.create_index("ix_records_tenant_resource", "records", ["tenant_id", "resource", "sequence"], schema=S)
    op.create_table(
        "chain_heads",
        sa.Column("tenant_id", sa.Uuid, primary_key=True),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        schema=S,
    )
    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        schema=S,
    )
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("algorithm", sa.Text, nullable=False),
        sa.Column("key_id", sa.Text, nullable=False),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("signature", sa.Text, nullable=False),
        schema=S,
    )
    op.create_index(
        "ix_checkpoints_tenant_sequence", "checkpoints", ["tenant_id", "sequence", "signed_at"], schema=S
    )
    for table in ("records", "chain_heads", "checkpoints"):
        enable_tenant_rls(S, table)
    create_event_tables(S)
    create_job_tables(S)
    create_rate_limit_tables(S)
    grant_app_access(S)
    op.execute(
        f"CREATE FUNCTION {S}.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'audit.% is append-only: % refused', TG_TABLE_NAME, TG_OP "
        "USING ERRCODE = 'insufficient_privilege'; END $$"
    )
    role = op.get_context().config.attributes["app_role"]  # type: ignore[union-attr]
    for table in APPEND_ONLY:
        op.execute(f'REVOKE UPDATE, DELETE, TRUNCATE ON {S}.{table} FROM "{role}"')
        op.execute(
            f"CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON {S}.{table} "
            f"FOR EACH ROW EXECUTE FUNCTION {S}.refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON {S}.{table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {S}.refuse_change()"
        )


def downgrade() -> None:
    op.execute(f"DROP SCHEMA {S} CASCADE")
