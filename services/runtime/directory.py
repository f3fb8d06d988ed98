"""Who a tenant's users are, asked of identity by a context as its workload (runtime/workload.py).

Any context that must check ids it is given (progress: a class's teachers and students; the sandbox:
the user a service names in `on_behalf_of`) calls identity's internal BatchGetUsers with a token for
the caller's tenant, so identity answers under that tenant's row-level security: another tenant's user
is absent exactly like an id of nobody. Positive answers are cached briefly (a student asked about
again, a roster re-sent); a missing user is always asked again, so a user created a moment ago is
found at once. Like the token verifier and the workload identity, this is the runtime speaking to
identity, the mesh's identity provider; no context imports another's package.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import grpc
from learnflow.auth.v1 import auth_pb2
from learnflow.identity.v1 import identity_service_pb2, identity_service_pb2_grpc

from services.runtime.errors import Unavailable
from services.runtime.workload import WorkloadIdentity

TIMEOUT = 5.0
BATCH = 1000  # BatchGetUsers' bound (identity_service.proto)
_CACHE_MAX = 50_000


@dataclass(frozen=True)
class TenantUser:
    id: str
    roles: frozenset[str]  # "teacher", "student", ... (ROLE_ names without the prefix, lower case)
    disabled: bool = False
    # Where to reach them (notify resolves channel addresses by email) and their IANA time zone
    # (notify's quiet hours); identity's User fields, empty when unset.
    email: str = ""
    time_zone: str = ""


def _canonical(user_id: str) -> str | None:
    try:
        return str(uuid.UUID(user_id))
    except ValueError:
        return None  # identity's ids are UUIDs: anything else names nobody


class UserDirectory:
    def __init__(self, workload: WorkloadIdentity, identity_addr: str, *, cache_seconds: float = 30.0):
        self.workload = workload
        self.stub = identity_service_pb2_grpc.IdentityServiceStub(workload.channel(identity_addr))
        self.cache_seconds = cache_seconds
        self._cache: dict[tuple[str, str], tuple[float, TenantUser]] = {}

    async def users(self, tenant_id: str, ids: list[str]) -> dict[str, TenantUser]:
        """The users of `tenant_id` among `ids`, by their canonical (lower-case) id; others are absent."""
        now = time.monotonic()
        found: dict[str, TenantUser] = {}
        ask: list[str] = []
        for given in dict.fromkeys(ids):
            user_id = _canonical(given)
            if user_id is None:
                continue
            cached = self._cache.get((tenant_id, user_id))
            if cached is not None and cached[0] > now:
                found[user_id] = cached[1]
            else:
                ask.append(user_id)
        for start in range(0, len(ask), BATCH):
            for user in await self._ask(tenant_id, ask[start : start + BATCH]):
                found[user.id] = user
                if len(self._cache) >= _CACHE_MAX:
                    self._cache.clear()
                self._cache[(tenant_id, user.id)] = (now + self.cache_seconds, user)
        return found

    async def is_user(self, tenant_id: str, user_id: str) -> bool:
        canonical = _canonical(user_id)
        return canonical is not None and canonical in await self.users(tenant_id, [canonical])

    async def _ask(self, tenant_id: str, ids: list[str]) -> list[TenantUser]:
        try:
            reply = await self.stub.BatchGetUsers(
                identity_service_pb2.BatchGetUsersRequest(user_ids=ids),
                metadata=await self.workload.metadata(tenant_id),
                timeout=TIMEOUT,
            )
        except grpc.aio.AioRpcError as exc:
            # Whatever identity said, the caller cannot decide who is in the tenant without it.
            raise Unavailable(
                f"identity BatchGetUsers: {exc.code().name} {exc.details()}", reason="IDENTITY_UNAVAILABLE"
            ) from exc
        return [
            TenantUser(
                u.id,
                frozenset(str(auth_pb2.Role.Name(r)).removeprefix("ROLE_").lower() for r in u.roles),
                u.disabled,
                u.email,
                u.time_zone,
            )
            for u in reply.users
        ]
