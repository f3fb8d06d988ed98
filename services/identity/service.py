"""Identity's use cases. Each opens one unit of work, applies the domain rules, writes through the
store and stages events in the outbox of the same transaction."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from services.identity import convert, domain, security, store
from services.identity.domain import Tenant, Tokens, User, UserChanges
from services.identity.security import SigningKey, TokenSettings
from services.runtime import audit, pagination
from services.runtime.db import Database, parse_uuid
from services.runtime.errors import (
    Aborted,
    FieldViolation,
    InvalidArgument,
    NotFound,
    Unauthenticated,
    Violations,
)
from services.runtime.events.outbox import Outbox
from services.runtime.request_context import Principal
from services.runtime.workload import SUBJECT_PREFIX

_BAD_LOGIN = "the email or password is not right"


@dataclass(frozen=True)
class IdentitySettings:
    tokens: TokenSettings
    # A new key is published this long before it signs, so every verifier has fetched it by then.
    key_publish_delay: int
    # Workload name -> SHA-256 of its secrets (IDENTITY_WORKLOAD_SECRETS), for IssueWorkloadToken.
    workload_secrets: dict[str, tuple[bytes, ...]] = field(default_factory=dict)
    workload_token_ttl: int = 300


class IdentityService:
    def __init__(self, db: Database, outbox: Outbox, settings: IdentitySettings):
        self.db = db
        self.outbox = outbox
        self.settings = settings
        self._keys: list[SigningKey] = []
        self._keys_loaded = 0.0

    # --- keys --------------------------------------------------------------------------------------

    async def ensure_signing_key(self) -> None:
        async with self.db.transaction(tenant_id="") as session:
            await store.lock_keys(session)
            if not await store.signing_keys_live(session, datetime.now(UTC)):
                await store.insert_signing_key(session, SigningKey.generate(datetime.now(UTC)))
        await self._load_keys(force=True)

    async def _load_keys(self, force: bool = False) -> list[SigningKey]:
        if force or time.monotonic() - self._keys_loaded > 10:
            horizon = datetime.now(UTC) - timedelta(seconds=self.settings.tokens.access_ttl)
            async with self.db.transaction(tenant_id="") as session:
                self._keys = await store.signing_keys_live(session, horizon)
            self._keys_loaded = time.monotonic()
        return self._keys

    async def _signing_key(self) -> SigningKey:
        now = datetime.now(UTC)
        keys = await self._load_keys()
        for key in keys:  # newest first
            if key.not_before <= now:
                return key
        raise RuntimeError("no signing key is active; identity start-up creates one")

    async def published_keys(self) -> list[SigningKey]:
        return await self._load_keys()

    async def rotate_signing_key(self) -> tuple[SigningKey, list[SigningKey]]:
        now = datetime.now(UTC)
        new = SigningKey.generate(now + timedelta(seconds=self.settings.key_publish_delay))
        async with self.db.transaction(tenant_id="") as session:
            await store.lock_keys(session)
            await store.retire_keys_except(session, "", new.not_before)
            await store.insert_signing_key(session, new)
            await self.outbox.stage(
                session,
                "identity.signing_key.rotated",
                convert.signing_key_rotated_event(new),
                tenant_id="",
            )
            await audit.record(
                self.outbox,
                session,
                "signing_key.rotated",
                f"signingKeys/{new.kid}",
                after={"kid": new.kid, "not_before": new.not_before.isoformat()},
            )
        return new, await self._load_keys(force=True)

    # --- tokens ------------------------------------------------------------------------------------

    async def _issue(self, user: User) -> Tokens:
        key = await self._signing_key()
        access = security.issue_access_token(
            key,
            self.settings.tokens,
            subject=user.id,
            tenant_id=user.tenant_id,
            roles=user.roles,
            email=user.email,
        )
        refresh, refresh_hash = security.refresh_token_for(user.tenant_id)
        expires = datetime.now(UTC) + timedelta(seconds=self.settings.tokens.refresh_ttl)
        async with self.db.transaction(tenant_id=user.tenant_id) as session:
            await store.insert_refresh_token(session, refresh_hash, user, expires)
        return Tokens(access, refresh, self.settings.tokens.access_ttl)

    async def login(self, tenant_slug: str, email: str, password: str) -> tuple[Tokens, User]:
        user = await self._authenticate(
            {"tenant": tenant_slug, "email": email, "password": password},
            lambda session: store.credentials_by_email(session, domain.normalize_email(email)),
            password,
            _BAD_LOGIN,
        )
        return await self._issue(user), user

    async def issue_service_token(self, tenant_slug: str, client_id: str, client_secret: str) -> Tokens:
        user = await self._authenticate(
            {"tenant": tenant_slug, "client_id": client_id, "client_secret": client_secret},
            lambda session: store.credentials_by_client_id(session, client_id),
            client_secret,
            "the client id or secret is not right",
        )
        return await self._issue(user)

    async def issue_workload_token(self, workload: str, secret: str, tenant_id: str) -> tuple[str, int]:
        """A service-role access token in one tenant for a workload of the mesh. The secret is compared
        in constant time against its configured hash; an unknown workload, a wrong secret and an
        unknown tenant get the same answer."""
        v = Violations()
        for name, value in (("workload", workload), ("secret", secret), ("tenant_id", tenant_id)):
            v.require(value, name)
        v.raise_if_any()
        given = hashlib.sha256(secret.encode()).digest()
        # Every configured hash is compared (no early exit), in constant time each.
        matches = [hmac.compare_digest(h, given) for h in self.settings.workload_secrets.get(workload, ())]
        known = any(matches)
        tenant = parse_uuid(tenant_id)
        if known and tenant is not None:
            async with self.db.transaction(tenant_id=str(tenant)) as session:
                known = await store.tenant_exists(session, str(tenant))
        if not known or tenant is None:
            raise Unauthenticated(
                "the workload or its secret is not right", reason="BAD_WORKLOAD_CREDENTIALS"
            )
        key = await self._signing_key()
        ttl = self.settings.workload_token_ttl
        token = security.issue_access_token(
            key,
            replace(self.settings.tokens, access_ttl=ttl),
            subject=f"{SUBJECT_PREFIX}{workload}",
            tenant_id=str(tenant),
            roles=("service",),
            email="",
        )
        return token, ttl

    async def _authenticate(
        self,
        fields: dict[str, str],
        lookup: Callable[[AsyncConnection], Awaitable[tuple[User, str | None] | None]],
        secret: str,
        failure: str,
    ) -> User:
        """Checks a secret against the stored hash. An unknown tenant or user costs the same hash
        verification as a wrong secret, and gets the same answer, so neither can be probed."""
        v = Violations()
        for name, value in fields.items():
            v.require(value, name)
        v.raise_if_any()
        tenant_id = await self.tenant_id(fields["tenant"].strip().lower())
        found = None
        if tenant_id:
            async with self.db.transaction(tenant_id=tenant_id) as session:
                found = await lookup(session)
        user, stored_hash = found if found else (None, None)
        ok = await security.gate.run(security.verify_secret, stored_hash, secret)
        if not ok or user is None or user.disabled:
            raise Unauthenticated(failure, reason="INVALID_CREDENTIALS")
        return user

    async def refresh(self, refresh_token: str) -> Tokens:
        if not refresh_token:
            raise InvalidArgument(
                "refresh_token is required", [FieldViolation("refresh_token", "is required")]
            )
        tenant_id = security.tenant_of_refresh_token(refresh_token)
        user = None
        if tenant_id:
            async with self.db.transaction(tenant_id=tenant_id) as session:
                user_id = await store.use_refresh_token(session, security.digest(refresh_token))
                user = await store.get_user(session, user_id) if user_id else None
        if user is None or user.disabled:
            raise Unauthenticated(
                "the refresh token is not valid, used or expired", reason="REFRESH_TOKEN_INVALID"
            )
        return await self._issue(user)

    # --- tenants -----------------------------------------------------------------------------------

    async def tenant_id(self, slug: str) -> str | None:
        async with self.db.transaction(tenant_id="") as session:
            return await store.tenant_id_for_slug(session, slug)

    async def create_tenant(
        self, slug: str, display_name: str, admin_email: str | None = None, admin_password: str = ""
    ) -> Tenant:
        """Creates a tenant and, when admin_email is given, its first admin, in one transaction."""
        v = Violations()
        slug = slug.strip().lower()
        domain.check_slug(v, slug, "tenant.slug")
        if admin_email is not None:
            domain.check_email(v, domain.normalize_email(admin_email), "admin_email")
            domain.check_password(v, admin_password, "admin_password")
        v.raise_if_any()
        tenant = Tenant(id=str(uuid.uuid4()), slug=slug, display_name=display_name.strip() or slug)
        password_hash = await security.gate.run(security.hash_secret, admin_password) if admin_email else None
        async with self.db.transaction(tenant_id=tenant.id) as session:
            created = await store.insert_tenant(session, tenant)
            await self.outbox.stage(
                session,
                "identity.tenant.created",
                convert.tenant_created_event(created),
                tenant_id=created.id,
            )
            await audit.record(
                self.outbox,
                session,
                "tenant.created",
                f"tenants/{created.id}",
                after={
                    "slug": created.slug,
                    "display_name": created.display_name,
                    "first_admin": admin_email is not None,
                },
            )
            if admin_email is not None:
                admin = User(
                    id=str(uuid.uuid4()),
                    tenant_id=created.id,
                    email=domain.normalize_email(admin_email),
                    display_name="",
                    roles=("admin",),
                )
                admin = await store.insert_user(session, admin, password_hash)
                await self.outbox.stage(
                    session,
                    "identity.user.created",
                    convert.user_created_event(admin),
                    tenant_id=created.id,
                )
        return created

    # --- users -------------------------------------------------------------------------------------

    async def get_user(self, caller: Principal, user_id: str) -> User:
        if user_id == "me":
            user_id = caller.subject
        if not user_id:
            raise InvalidArgument("user_id is required", [FieldViolation("user_id", "is required")])
        domain.may_read_user(caller, user_id)
        user = await store.read_user(self.db, caller.tenant_id, user_id)  # one round trip
        if user is None:
            raise NotFound(f"user {user_id} not found", reason="USER_NOT_FOUND")
        return user

    async def batch_get_users(self, caller: Principal, user_ids: list[str]) -> list[User]:
        """The users of the caller's tenant among user_ids, in the order asked, each once. Only
        services call it (the RPC's rule); another tenant's ids are invisible under row-level security,
        so they are absent like ids of nobody."""
        async with self.db.transaction(caller.tenant_id) as session:
            found = {u.id: u for u in await store.get_users(session, user_ids)}
        return [found[i] for i in dict.fromkeys(u.lower() for u in user_ids) if i in found]

    async def list_users(
        self, caller: Principal, page_size: int, page_token: str, role: str | None
    ) -> tuple[list[User], str]:
        size = pagination.page_size(page_size)
        position = pagination.decode_token(page_token, e=str, i=uuid.UUID)
        after = (position["e"], str(position["i"])) if position else None
        async with self.db.transaction(caller.tenant_id) as session:
            found = await store.list_users(session, limit=size + 1, after=after, role=role)
        token = ""
        if len(found) > size:
            last = found[size - 1]
            token = pagination.encode_token({"e": last.email, "i": last.id})
        return found[:size], token

    async def create_user(
        self,
        caller: Principal,
        user: User,
        password: str,
        *,
        kind: str = domain.PERSON,
        client_id: str | None = None,
    ) -> User:
        v = Violations()
        email = domain.normalize_email(user.email)
        domain.check_email(v, email, "user.email")
        domain.check_roles(v, user.roles, "user.roles")
        domain.check_time_zone(v, user.time_zone, "user.time_zone")
        domain.check_password(v, password, "password" if kind == domain.PERSON else "client_secret")
        v.raise_if_any()
        domain.may_grant(caller, user.roles)
        password_hash = await security.gate.run(security.hash_secret, password)
        new = replace(
            user,
            id=str(uuid.uuid4()),
            tenant_id=caller.tenant_id,
            email=email,
            kind=kind,
            time_zone=user.time_zone or "UTC",
            display_name=user.display_name.strip(),
        )
        async with self.db.transaction(caller.tenant_id) as session:
            created = await store.insert_user(session, new, password_hash, client_id)
            await self.outbox.stage(session, "identity.user.created", convert.user_created_event(created))
            action = "service_account.created" if kind == domain.SERVICE_ACCOUNT else "user.created"
            await audit.record(
                self.outbox,
                session,
                action,
                f"users/{created.id}",
                after={"roles": list(created.roles), "kind": created.kind, "client_id": client_id},
            )
        return created

    async def create_service_account(
        self, caller: Principal, name: str, roles: tuple[str, ...]
    ) -> tuple[User, str, str]:
        v = Violations()
        domain.check_service_account_name(v, name, "name")
        v.raise_if_any()
        client_id = f"sa-{name}-{uuid.uuid4().hex[:8]}"
        secret = security.new_client_secret()
        account = User(
            id="",
            tenant_id="",
            email=f"{client_id}@service.learnflow",
            display_name=name,
            roles=roles or ("service",),
        )
        created = await self.create_user(
            caller, account, secret, kind=domain.SERVICE_ACCOUNT, client_id=client_id
        )
        return created, client_id, secret

    async def update_user(self, caller: Principal, user_id: str, etag: str, changes: UserChanges) -> User:
        v = Violations()
        if not user_id:
            v.add("user.id", "is required")
        if changes.roles is not None:
            domain.check_roles(v, changes.roles, "user.roles")
        if changes.time_zone is not None:
            domain.check_time_zone(v, changes.time_zone, "user.time_zone")
        v.raise_if_any()
        if changes.roles is not None:
            domain.may_grant(caller, changes.roles)
        async with self.db.transaction(caller.tenant_id) as session:
            current = await store.get_user(session, user_id)
            if current is None:
                raise NotFound(f"user {user_id} not found", reason="USER_NOT_FOUND")
            domain.may_change(caller, current, changes)
            if etag and etag != current.etag:
                raise Aborted(
                    "the user changed since you read it; read it again and retry",
                    reason="STALE_ETAG",
                    metadata={"current_etag": current.etag},
                )
            updated = await store.update_user(session, changes.apply(current), current.version)
            if updated is None:
                raise Aborted("the user changed concurrently; read it again and retry", reason="STALE_ETAG")
            await self.outbox.stage(
                session,
                "identity.user.updated",
                convert.user_updated_event(updated, changes),
            )
            # One record per update, named by its most telling change; names stay out (by id only).
            await audit.record(
                self.outbox,
                session,
                "user.disabled"
                if updated.disabled and not current.disabled
                else "user.enabled"
                if current.disabled and not updated.disabled
                else "user.roles_changed"
                if updated.roles != current.roles
                else "user.updated",
                f"users/{updated.id}",
                before={"roles": list(current.roles), "disabled": current.disabled},
                after={
                    "roles": list(updated.roles),
                    "disabled": updated.disabled,
                    "changed": changes.changed,
                },
            )
        return updated
