"""identity's tables: the one declaration of its schema. The queries (store.py) use these tables and
the schema check (tests/runtime/integration/test_schema.py) holds the migrations in db/identity/ to
them. Row-level security, policies and the tenant_id_for_slug function are in the migrations only."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from services.runtime.db import metadata

md = metadata("identity")


def _created_at() -> sa.Column[object]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


# Row-level security on the tenant's own row (by id, not FORCEd: see db/identity's first migration).
tenants = sa.Table(
    "tenants",
    md,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("slug", sa.Text, nullable=False, unique=True),
    sa.Column("display_name", sa.Text, nullable=False),
    _created_at(),
)
users = sa.Table(
    "users",
    md,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, sa.ForeignKey(tenants.c.id), nullable=False),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("display_name", sa.Text, nullable=False, server_default=""),
    sa.Column("roles", postgresql.ARRAY(sa.Text), nullable=False),
    sa.Column("kind", sa.Text, nullable=False, server_default="person"),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("time_zone", sa.Text, nullable=False, server_default="UTC"),
    sa.Column("password_hash", sa.Text, nullable=True),
    sa.Column("client_id", sa.Text, nullable=True),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    _created_at(),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("tenant_id", "email", name="uq_users_tenant_email"),
    sa.UniqueConstraint("tenant_id", "client_id", name="uq_users_tenant_client_id"),
)
refresh_tokens = sa.Table(
    "refresh_tokens",
    md,
    sa.Column("token_hash", sa.LargeBinary, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("user_id", sa.Uuid, sa.ForeignKey(users.c.id, ondelete="CASCADE"), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    _created_at(),
)
# Platform-wide signing keys (not tenant data).
signing_keys = sa.Table(
    "signing_keys",
    md,
    sa.Column("kid", sa.Text, primary_key=True),
    sa.Column("private_pem", sa.Text, nullable=False),
    sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
    sa.Column("retire_at", sa.DateTime(timezone=True), nullable=True),
    _created_at(),
)
