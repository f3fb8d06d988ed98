"""workflows's calls to other contexts, as its workload on behalf of the run's tenant
(runtime/workload.py): tutoring's ResearchTopic (the `research` capability, at the providers the
registry names) and notify's SendMessage. Each call carries the run's correlation id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from learnflow.tutoring.v1 import tutoring_service_pb2, tutoring_service_pb2_grpc

from services.runtime.errors import FailedPrecondition, InvalidArgument, Unavailable
from services.runtime.registry import Registration
from services.runtime.workload import WorkloadIdentity

TIMEOUT = 20.0
# A provider that is down, busy or not ready: the next provider is tried, then the step retried.
_TRANSIENT = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.UNIMPLEMENTED,  # an old provider without the RPC: another may have it
    }
)


@dataclass(frozen=True)
class Attempt:
    provider: str
    address: str
    error: str


class CapabilityCallFailed(Unavailable):
    """Every provider of a capability was tried and failed: the diagnosis names each and why."""

    reason = "CAPABILITY_CALL_FAILED"

    def __init__(self, capability: str, attempts: list[Attempt]):
        tried = "; ".join(f"{a.provider} at {a.address}: {a.error}" for a in attempts)
        super().__init__(
            f"capability {capability!r}: {len(attempts)} provider(s) tried, all failed: {tried}",
            metadata={"capability": capability},
        )
        self.attempts = attempts


class MeshCalls:
    def __init__(self, workload: WorkloadIdentity):
        self.workload = workload
        self._research: dict[str, tutoring_service_pb2_grpc.TutoringServiceStub] = {}

    def _tutoring(self, address: str) -> tutoring_service_pb2_grpc.TutoringServiceStub:
        stub = self._research.get(address)
        if stub is None:
            stub = self._research[address] = tutoring_service_pb2_grpc.TutoringServiceStub(
                self.workload.channel(address)
            )
        return stub

    async def research(
        self,
        providers: list[Registration],
        tenant_id: str,
        correlation_id: str,
        topic: str,
        difficulty: str,
        max_sources: int,
    ) -> dict[str, Any]:
        """The first provider that answers; a refusal of the request itself is not retried anywhere."""
        attempts: list[Attempt] = []
        # The workload's metadata carries the bound correlation id (the activity binds the run's).
        metadata = await self.workload.metadata(tenant_id)
        del correlation_id
        for provider in providers:
            try:
                found = await self._tutoring(provider.address).ResearchTopic(
                    tutoring_service_pb2.ResearchTopicRequest(
                        topic=topic, difficulty=difficulty, max_sources=max_sources
                    ),
                    metadata=metadata,
                    timeout=TIMEOUT,
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                    raise InvalidArgument(f"research refused the request: {exc.details()}") from exc
                if exc.code() not in _TRANSIENT:
                    raise FailedPrecondition(
                        f"research at {provider.address}: {exc.code().name} {exc.details()}",
                        reason="CALLEE_REFUSED",
                    ) from exc
                attempts.append(
                    Attempt(provider.instance, provider.address, f"{exc.code().name} {exc.details()}")
                )
                continue
            return {
                "summary": found.summary,
                "key_points": list(found.key_points),
                "sources": [{"title": s.title, "ref": s.ref} for s in found.sources],
                "produced_by": found.produced_by,
            }
        raise CapabilityCallFailed("research", attempts)
