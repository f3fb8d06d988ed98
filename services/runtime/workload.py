"""Calling another context from inside the mesh, as this workload, on behalf of one tenant.

A context that must act outside a user's request (an agent consuming an event that calls the sandbox,
say) has no user's token to forward. It proves itself to identity with its workload secret and gets a
short-lived service-role token for the event's tenant (IssueWorkloadToken); the callee's interceptor
checks it like any other token, so tenancy and row-level security hold across the call. Tokens are
cached per tenant until shortly before they expire; channels are one per address.
"""

from __future__ import annotations

import asyncio
import time

import grpc
from learnflow.identity.v1 import identity_service_pb2

from services.runtime import request_context
from services.runtime.errors import Unavailable

_REFRESH_BEFORE = 30.0  # seconds before expiry a cached token is replaced
SUBJECT_PREFIX = "workload:"


def is_workload(subject: str) -> bool:
    """Whether a principal's subject is a workload of the mesh rather than a user."""
    return subject.startswith(SUBJECT_PREFIX)


class WorkloadIdentity:
    def __init__(self, identity_addr: str, workload: str, secret: str):
        self.workload = workload
        self._identity_addr = identity_addr
        self._secret = secret
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._tokens: dict[str, tuple[float, str]] = {}
        self._lock = asyncio.Lock()

    @property
    def configured(self) -> bool:
        return bool(self._secret)

    def channel(self, addr: str) -> grpc.aio.Channel:
        channel = self._channels.get(addr)
        if channel is None:
            channel = self._channels[addr] = grpc.aio.insecure_channel(addr)
        return channel

    async def metadata(self, tenant_id: str) -> tuple[tuple[str, str], ...]:
        """Call metadata for a call on behalf of tenant_id: the bearer token and the correlation id."""
        return (
            ("authorization", f"Bearer {await self.token(tenant_id)}"),
            ("x-correlation-id", request_context.correlation_id()),
        )

    async def token(self, tenant_id: str) -> str:
        cached = self._tokens.get(tenant_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        if not self._secret:
            raise Unavailable(
                f"workload {self.workload!r} has no secret configured; it cannot call other contexts",
                reason="WORKLOAD_NOT_CONFIGURED",
            )
        async with self._lock:
            cached = self._tokens.get(tenant_id)
            if cached is not None and cached[0] > time.monotonic():
                return cached[1]
            call = self.channel(self._identity_addr).unary_unary(
                "/learnflow.identity.v1.IdentityService/IssueWorkloadToken",
                request_serializer=identity_service_pb2.IssueWorkloadTokenRequest.SerializeToString,
                response_deserializer=identity_service_pb2.IssueWorkloadTokenResponse.FromString,
            )
            try:
                response = await call(
                    identity_service_pb2.IssueWorkloadTokenRequest(
                        workload=self.workload, secret=self._secret, tenant_id=tenant_id
                    ),
                    timeout=5,
                )
            except grpc.aio.AioRpcError as exc:
                raise Unavailable(
                    f"identity refused or did not answer a workload token: {exc.code().name} {exc.details()}",
                    reason="WORKLOAD_TOKEN_UNAVAILABLE",
                ) from exc
            expires = time.monotonic() + max(response.expires_in - _REFRESH_BEFORE, 1.0)
            self._tokens[tenant_id] = (expires, response.access_token)
            return response.access_token

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
