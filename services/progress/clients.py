"""progress's call to identity, as its workload on behalf of one tenant (runtime/workload.py): who the
ids a class is given are, and whether a student asked about is a user of the caller's tenant.

The workload token is the tenant's, so identity answers under that tenant's row-level security:
another tenant's user is absent exactly like an id of nobody. Positive answers are cached briefly
(a student asked about repeatedly, a roster re-sent); a missing user is always asked again, so a
user created a moment ago is found at once."""

from __future__ import annotations

import time

import grpc
from learnflow.auth.v1 import auth_pb2
from learnflow.identity.v1 import identity_service_pb2, identity_service_pb2_grpc

from services.progress.domain.classes import Member, is_uuid
from services.runtime.errors import Unavailable
from services.runtime.workload import WorkloadIdentity

TIMEOUT = 5.0
CACHE_SECONDS = 30.0  # a role change reaches class checks within this long
_CACHE_MAX = 50_000
BATCH = 1000  # identity's BatchGetUsers bound


def _role(number: int) -> str:
    return str(auth_pb2.Role.Name(number)).removeprefix("ROLE_").lower()


class Directory:
    """The tenant's users, as identity knows them."""

    def __init__(self, workload: WorkloadIdentity | None, identity_addr: str):
        self.workload = workload
        self.stub = (
            identity_service_pb2_grpc.IdentityServiceStub(workload.channel(identity_addr))
            if workload is not None
            else None
        )
        self._cache: dict[tuple[str, str], tuple[float, Member]] = {}

    async def members(self, tenant_id: str, ids: list[str]) -> dict[str, Member]:
        """The users of tenant_id among ids (lower-case UUIDs), by id; others are absent."""
        now = time.monotonic()
        found: dict[str, Member] = {}
        ask: list[str] = []
        for i in dict.fromkeys(ids):
            cached = self._cache.get((tenant_id, i))
            if cached is not None and cached[0] > now:
                found[i] = cached[1]
            elif is_uuid(i):  # anything else names nobody: identity would refuse the request
                ask.append(i)
        for start in range(0, len(ask), BATCH):
            for member in await self._ask(tenant_id, ask[start : start + BATCH]):
                found[member.id] = member
                if len(self._cache) >= _CACHE_MAX:
                    self._cache.clear()
                self._cache[(tenant_id, member.id)] = (now + CACHE_SECONDS, member)
        return found

    async def _ask(self, tenant_id: str, ids: list[str]) -> list[Member]:
        if self.workload is None or self.stub is None:
            raise Unavailable("progress has no workload identity to ask identity", reason="NO_WORKLOAD")
        try:
            reply = await self.stub.BatchGetUsers(
                identity_service_pb2.BatchGetUsersRequest(user_ids=ids),
                metadata=await self.workload.metadata(tenant_id),
                timeout=TIMEOUT,
            )
        except grpc.aio.AioRpcError as exc:
            # Whatever identity said, progress cannot decide who is in the tenant without it.
            raise Unavailable(
                f"identity BatchGetUsers: {exc.code().name} {exc.details()}", reason="IDENTITY_UNAVAILABLE"
            ) from exc
        return [Member(u.id, frozenset(_role(r) for r in u.roles), u.disabled) for u in reply.users]
