"""workflows's tables: the one declaration of its schema. The queries (store.py) use these tables and
the schema check (tests/runtime/integration/test_schema.py) holds the migrations in db/workflows/ to
them. Row-level security and grants are in the migrations only."""

from __future__ import annotations

import sqlalchemy as sa

from services.runtime.db import metadata

md = metadata("workflows")

# Tenant-owned: FORCEd row-level security on tenant_id (db/workflows's first migration).
items = sa.Table(
    "items",
    md,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    # ListItems walks a tenant's items in (created_at, id) order.
    sa.Index("ix_items_tenant_created", "tenant_id", "created_at", "id"),
)
