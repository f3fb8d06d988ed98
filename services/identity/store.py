"""Identity's tables and queries (SQLAlchemy Core: the hot paths are single statements)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.identity.domain import SERVICE_ACCOUNT, Tenant, User
from services.identity.security import SigningKey
from services.identity.tables import refresh_tokens, signing_keys, tenants, users
from services.runtime.db import Database, PreparedRead, parse_uuid
from services.runtime.errors import AlreadyExists

_USER_COLUMNS = [c for c in users.c if c.name not in ("password_hash", "client_id")]


def _user(row: Any) -> User:
    return User(
        id=str(row.id),
        tenant_id=str(row.tenant_id),
        email=row.email,
        display_name=row.display_name,
        roles=tuple(row.roles),
        kind=row.kind,
        disabled=row.disabled,
        time_zone=row.time_zone,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _tenant(row: Any) -> Tenant:
    return Tenant(id=str(row.id), slug=row.slug, display_name=row.display_name, created_at=row.created_at)


# --- tenants -------------------------------------------------------------------------------------


async def tenant_id_for_slug(session: AsyncConnection, slug: str) -> str | None:
    found = await session.scalar(sa.text("SELECT identity.tenant_id_for_slug(:slug)"), {"slug": slug})
    return str(found) if found else None


async def tenant_exists(session: AsyncConnection, tenant_id: str) -> bool:
    """Under the transaction's tenant (RLS): true only for that tenant's own row."""
    found = await session.scalar(sa.select(tenants.c.id).where(tenants.c.id == uuid.UUID(tenant_id)))
    return found is not None


async def insert_tenant(session: AsyncConnection, tenant: Tenant) -> Tenant:
    try:
        async with session.begin_nested():
            row = (
                await session.execute(
                    sa.insert(tenants)
                    .values(id=uuid.UUID(tenant.id), slug=tenant.slug, display_name=tenant.display_name)
                    .returning(*tenants.c)
                )
            ).one()
    except IntegrityError as exc:
        raise AlreadyExists(f"a tenant with slug {tenant.slug!r} exists", reason="TENANT_EXISTS") from exc
    return _tenant(row)


# --- users ---------------------------------------------------------------------------------------


# The hottest read, built once (statement construction is a visible share of a request's CPU).
_GET_USER = sa.select(*_USER_COLUMNS).where(users.c.id == sa.bindparam("id", type_=sa.Uuid))


async def get_user(session: AsyncConnection, user_id: str) -> User | None:
    uid = parse_uuid(user_id)
    if uid is None:
        return None
    row = (await session.execute(_GET_USER, {"id": uid})).first()
    return _user(row) if row else None


# The same statement prepared on each read connection, for Database.read_prepared (GetUser's one round
# trip): PostgreSQL parses and plans it once per connection, and each read sends only
# `SET LOCAL ...; EXECUTE identity_get_user('<uuid>')` (the id a parsed UUID, so no quoting).
_GET_USER_SQL = str(_GET_USER.compile(dialect=postgresql.psycopg.dialect()))
assert _GET_USER_SQL.count("%(id)s") == 1 and "$" not in _GET_USER_SQL, _GET_USER_SQL
_GET_USER_PREPARED = PreparedRead("identity_get_user", _GET_USER_SQL.replace("%(id)s", "$1"), ("uuid",))


async def read_user(db: Database, tenant_id: str, user_id: str) -> User | None:
    """`get_user` as a unit of work of its own: one round trip under the tenant (Database.read_prepared)."""
    uid = parse_uuid(user_id)
    if uid is None:
        return None
    rows = await db.read_prepared(_GET_USER_PREPARED, uid, tenant_id=tenant_id)
    return _user(rows[0]) if rows else None


async def get_users(session: AsyncConnection, user_ids: list[str]) -> list[User]:
    """The users among user_ids that row-level security lets this tenant see; ids that are not UUIDs
    name nobody."""
    ids = [u for u in (parse_uuid(i) for i in user_ids) if u is not None]
    if not ids:
        return []
    rows = await session.execute(sa.select(*_USER_COLUMNS).where(users.c.id.in_(ids)))
    return [_user(r) for r in rows]


async def credentials_by_email(session: AsyncConnection, email: str) -> tuple[User, str | None] | None:
    row = (
        await session.execute(
            sa.select(*_USER_COLUMNS, users.c.password_hash).where(
                users.c.email == email, users.c.kind != SERVICE_ACCOUNT
            )
        )
    ).first()
    return (_user(row), row.password_hash) if row else None


async def credentials_by_client_id(
    session: AsyncConnection, client_id: str
) -> tuple[User, str | None] | None:
    row = (
        await session.execute(
            sa.select(*_USER_COLUMNS, users.c.password_hash).where(users.c.client_id == client_id)
        )
    ).first()
    return (_user(row), row.password_hash) if row else None


async def insert_user(
    session: AsyncConnection, user: User, password_hash: str | None, client_id: str | None = None
) -> User:
    try:
        async with session.begin_nested():
            row = (
                await session.execute(
                    sa.insert(users)
                    .values(
                        id=uuid.UUID(user.id),
                        tenant_id=uuid.UUID(user.tenant_id),
                        email=user.email,
                        display_name=user.display_name,
                        roles=list(user.roles),
                        kind=user.kind,
                        disabled=user.disabled,
                        time_zone=user.time_zone,
                        password_hash=password_hash,
                        client_id=client_id,
                        version=1,
                    )
                    .returning(*_USER_COLUMNS)
                )
            ).one()
    except IntegrityError as exc:
        raise AlreadyExists(
            f"a user with email {user.email!r} exists in this tenant", reason="USER_EXISTS"
        ) from exc
    return _user(row)


async def update_user(session: AsyncConnection, user: User, expected_version: int) -> User | None:
    row = (
        await session.execute(
            sa.update(users)
            .where(users.c.id == uuid.UUID(user.id), users.c.version == expected_version)
            .values(
                display_name=user.display_name,
                roles=list(user.roles),
                disabled=user.disabled,
                time_zone=user.time_zone,
                version=user.version,
                updated_at=sa.func.now(),
            )
            .returning(*_USER_COLUMNS)
        )
    ).first()
    return _user(row) if row else None


async def list_users(
    session: AsyncConnection, *, limit: int, after: tuple[str, str] | None, role: str | None
) -> list[User]:
    query = sa.select(*_USER_COLUMNS).order_by(users.c.email, users.c.id).limit(limit)
    if after is not None:
        query = query.where(
            sa.tuple_(users.c.email, users.c.id)
            > sa.tuple_(sa.literal(after[0]), sa.literal(uuid.UUID(after[1])))
        )
    if role:
        query = query.where(users.c.roles.any_() == role)
    return [_user(r) for r in (await session.execute(query)).all()]


# --- refresh tokens ------------------------------------------------------------------------------


async def insert_refresh_token(
    session: AsyncConnection, token_hash: bytes, user: User, expires_at: datetime
) -> None:
    await session.execute(
        sa.insert(refresh_tokens).values(
            token_hash=token_hash,
            tenant_id=uuid.UUID(user.tenant_id),
            user_id=uuid.UUID(user.id),
            expires_at=expires_at,
        )
    )


async def use_refresh_token(session: AsyncConnection, token_hash: bytes) -> str | None:
    """Marks an unused, unexpired refresh token used and returns its user id (one statement, so two
    concurrent refreshes with the same token cannot both succeed)."""
    row = (
        await session.execute(
            sa.update(refresh_tokens)
            .where(
                refresh_tokens.c.token_hash == token_hash,
                refresh_tokens.c.used_at.is_(None),
                refresh_tokens.c.expires_at > sa.func.now(),
            )
            .values(used_at=sa.func.now())
            .returning(refresh_tokens.c.user_id)
        )
    ).first()
    return str(row.user_id) if row else None


# --- signing keys --------------------------------------------------------------------------------


async def signing_keys_live(session: AsyncConnection, published_after: datetime) -> list[SigningKey]:
    """Keys not retired, or retired after `published_after` (their tokens may still be live), newest first."""
    rows = (
        await session.execute(
            sa.select(signing_keys)
            .where(sa.or_(signing_keys.c.retire_at.is_(None), signing_keys.c.retire_at > published_after))
            .order_by(signing_keys.c.not_before.desc(), signing_keys.c.created_at.desc())
        )
    ).all()
    return [
        SigningKey(kid=r.kid, private_pem=r.private_pem, not_before=r.not_before, retire_at=r.retire_at)
        for r in rows
    ]


async def insert_signing_key(session: AsyncConnection, key: SigningKey) -> None:
    await session.execute(
        sa.insert(signing_keys).values(kid=key.kid, private_pem=key.private_pem, not_before=key.not_before)
    )


async def retire_keys_except(session: AsyncConnection, kid: str, at: datetime) -> None:
    await session.execute(
        sa.update(signing_keys)
        .where(signing_keys.c.kid != kid, signing_keys.c.retire_at.is_(None))
        .values(retire_at=at)
    )


async def lock_keys(session: AsyncConnection) -> None:
    """Serializes key creation and rotation across replicas, for this transaction."""
    await session.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('identity.signing_keys'))"))
