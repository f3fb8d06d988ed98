"""The sandbox's call to identity, as its workload on behalf of one tenant (runtime/workload.py):
whether the user a service names in `on_behalf_of` is a user of that service's tenant.

The workload token is the caller's tenant's, so identity answers under that tenant's row-level
security: another tenant's user is absent exactly like an id of nobody. A run on behalf of a student
is frequent (tutoring reviews every submission), so a positive answer is cached for a minute; a
negative one is asked again every time (a user created a moment ago is found at once)."""

from __future__ import annotations

import time
import uuid

import grpc
from learnflow.identity.v1 import identity_service_pb2, identity_service_pb2_grpc

from services.runtime.errors import Unavailable
from services.runtime.workload import WorkloadIdentity

TIMEOUT = 5.0
CACHE_SECONDS = 60.0
_CACHE_MAX = 50_000


class Users:
    def __init__(self, workload: WorkloadIdentity | None, identity_addr: str):
        self.workload = workload
        self.stub = (
            identity_service_pb2_grpc.IdentityServiceStub(workload.channel(identity_addr))
            if workload is not None
            else None
        )
        self._known: dict[tuple[str, str], float] = {}

    async def is_user(self, tenant_id: str, user_id: str) -> bool:
        try:
            user_id = str(uuid.UUID(user_id))
        except ValueError:
            return False  # identity's ids are UUIDs
        key = (tenant_id, user_id)
        now = time.monotonic()
        if self._known.get(key, 0.0) > now:
            return True
        if self.workload is None or self.stub is None:
            raise Unavailable("the sandbox has no workload identity to ask identity", reason="NO_WORKLOAD")
        try:
            reply = await self.stub.BatchGetUsers(
                identity_service_pb2.BatchGetUsersRequest(user_ids=[user_id]),
                metadata=await self.workload.metadata(tenant_id),
                timeout=TIMEOUT,
            )
        except grpc.aio.AioRpcError as exc:
            raise Unavailable(
                f"identity BatchGetUsers: {exc.code().name} {exc.details()}", reason="IDENTITY_UNAVAILABLE"
            ) from exc
        if not any(u.id == user_id for u in reply.users):
            return False
        if len(self._known) >= _CACHE_MAX:
            self._known.clear()
        self._known[key] = now + CACHE_SECONDS
        return True
