"""audit's tables: the one declaration of its schema. The queries (store.py) use these tables and
the schema check (tests/runtime/integration/test_schema.py) holds the migrations in db/audit/ to
them. Row-level security, the append-only grants and the triggers that refuse UPDATE and DELETE are
in the migrations only."""

from __future__ import annotations

import sqlalchemy as sa

from services.runtime.db import metadata

md = metadata("audit")

# Tenant-owned, FORCEd row-level security, append-only (no UPDATE/DELETE grant, and a trigger that
# refuses both even for the owner). One row per audit event; the per-tenant chain is
# (tenant_id, sequence) with previous_hash -> hash (services/audit/domain.py).
records = sa.Table(
    "records",
    md,
    # The event id (ce-id): a redelivered event cannot be appended twice.
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
    # Canonical JSON text exactly as hashed ("" for none), not jsonb: jsonb would re-spell it.
    sa.Column("before_json", sa.Text, nullable=False),
    sa.Column("after_json", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("rpc", sa.Text, nullable=False),
    sa.Column("previous_hash", sa.Text, nullable=False),
    sa.Column("hash", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    # The chain's order; newest-first listing and VerifyChain walk it.
    sa.UniqueConstraint("tenant_id", "sequence", name="uq_records_tenant_sequence"),
    # ListAuditRecords by actor or by resource, newest first.
    sa.Index("ix_records_tenant_actor", "tenant_id", "actor", "sequence"),
    sa.Index("ix_records_tenant_resource", "tenant_id", "resource", "sequence"),
)

# Tenant-owned (row-level security): each tenant's last sequence and hash, locked by the appender so
# two consumers never give out the same sequence.
chain_heads = sa.Table(
    "chain_heads",
    md,
    sa.Column("tenant_id", sa.Uuid, primary_key=True),
    sa.Column("sequence", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

# The ids of the tenants that have a chain, and nothing else, so no row-level security: where the
# periodic checkpoint finds the tenants to visit (each visit is a transaction scoped to its tenant).
tenants = sa.Table(
    "tenants",
    md,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

# Tenant-owned, append-only like records: signed statements of a tenant's chain head.
checkpoints = sa.Table(
    "checkpoints",
    md,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("sequence", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.Text, nullable=False),
    sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("algorithm", sa.Text, nullable=False),
    sa.Column("key_id", sa.Text, nullable=False),
    sa.Column("public_key", sa.Text, nullable=False),
    sa.Column("signature", sa.Text, nullable=False),
    sa.Index("ix_checkpoints_tenant_sequence", "tenant_id", "sequence", "signed_at"),
)
