"""workflows's calls to other contexts, as its workload on behalf of the run's tenant
(runtime/workload.py): tutoring's ResearchTopic (the `research` capability, at the providers the
registry names) and notify's SendMessage. Each call carries the run's correlation id."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import grpc
from learnflow.notify.v1 import notify_service_pb2 as npb
from learnflow.notify.v1 import notify_service_pb2_grpc
from learnflow.notify.v1 import resources_pb2 as nres
from learnflow.tutoring.v1 import tutoring_service_pb2, tutoring_service_pb2_grpc

from services.runtime.calls import TRANSIENT
from services.runtime.errors import FailedPrecondition, InvalidArgument, Unavailable
from services.runtime.registry import Registration
from services.runtime.workload import WorkloadIdentity

TIMEOUT = 20.0
# The key of a research answer's model usage (tokens) in what `research` returns.
TOKENS = "_model_tokens"
# A provider that is down, busy or not ready: the next provider is tried, then the step retried.


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
                if exc.code() not in TRANSIENT:
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
                # Not an output of the step: the activity takes it out for the usage ledger.
                TOKENS: {
                    "model": found.usage.model,
                    "prompt": found.usage.prompt_tokens,
                    "completion": found.usage.completion_tokens,
                },
            }
        raise CapabilityCallFailed("research", attempts)

    async def analyse(
        self, providers: list[Registration], tenant_id: str, topic: str, summary: str, key_points: str
    ) -> dict[str, Any] | None:
        """The model's analysis from the first provider that gives one; None when the providers have
        no model configured (the step analyses offline). Other refusals raise as for research."""
        attempts: list[Attempt] = []
        metadata = await self.workload.metadata(tenant_id)
        for provider in providers:
            try:
                found = await self._tutoring(provider.address).AnalyseResearch(
                    tutoring_service_pb2.AnalyseResearchRequest(
                        topic=topic, summary=summary, key_points=key_points
                    ),
                    metadata=metadata,
                    timeout=TIMEOUT,
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
                    return None  # no model there (MODEL_NOT_CONFIGURED)
                if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                    raise InvalidArgument(f"analysis refused the request: {exc.details()}") from exc
                attempts.append(
                    Attempt(provider.instance, provider.address, f"{exc.code().name} {exc.details()}")
                )
                continue
            return {
                "headline": found.headline,
                "takeaways": list(found.takeaways),
                "produced_by": found.produced_by,
                TOKENS: {
                    "model": found.usage.model,
                    "prompt": found.usage.prompt_tokens,
                    "completion": found.usage.completion_tokens,
                },
            }
        raise CapabilityCallFailed("analysis", attempts)


# --- notify: the Slack steps go out through notify's delivery engine ---------------------------------

_SENT = "DELIVERY_STATUS_SENT"
_READ = "DELIVERY_STATUS_READ"
_FAILED = "DELIVERY_STATUS_FAILED"
DELIVERY_WAIT_SECONDS = 20.0
DELIVERY_POLL_SECONDS = 0.2


class NotifyCalls:
    """SendMessage (idempotent by the step's key: a retried step finds its first delivery) and then
    GetDelivery until notify has sent it, so the step's success means the message went out."""

    def __init__(self, workload: WorkloadIdentity, address: str):
        self.workload = workload
        self.stub = notify_service_pb2_grpc.NotifyServiceStub(workload.channel(address))

    async def send(
        self,
        tenant_id: str,
        recipient_id: str,
        channel: str,
        template: str,
        variables: dict[str, str],
        key: str,
    ) -> dict[str, Any]:
        metadata = await self.workload.metadata(tenant_id)
        spec = npb.MessageSpec(
            channel=channel,
            recipient_id=recipient_id,
            template=template,
            variables=[npb.Variable(name=k, value=v) for k, v in variables.items()],
            idempotency_key=key,
        )
        delivery = await _notify_call("notify SendMessage", self.stub.SendMessage(
            npb.SendMessageRequest(message=spec), metadata=metadata, timeout=TIMEOUT
        ))  # fmt: skip
        waited = 0.0
        status = nres.DeliveryStatus.Name(delivery.status)
        while status not in (_SENT, _READ, _FAILED) and waited < DELIVERY_WAIT_SECONDS:
            await asyncio.sleep(DELIVERY_POLL_SECONDS)
            waited += DELIVERY_POLL_SECONDS
            delivery = await _notify_call("notify GetDelivery", self.stub.GetDelivery(
                npb.GetDeliveryRequest(delivery_id=delivery.id), metadata=metadata, timeout=TIMEOUT
            ))  # fmt: skip
            status = nres.DeliveryStatus.Name(delivery.status)
        if status == _FAILED:
            raise FailedPrecondition(
                f"notify could not deliver: {delivery.last_error}", reason="DELIVERY_FAILED"
            )
        if status not in (_SENT, _READ):
            raise Unavailable(
                f"notify has not sent delivery {delivery.id} yet ({status}, {delivery.last_error})"
            )
        return {
            "message_id": delivery.id,
            "channel": delivery.channel,
            "status": status.removeprefix("DELIVERY_STATUS_").lower(),
        }


async def _notify_call(what: str, call: Any) -> Any:
    try:
        return await call
    except grpc.aio.AioRpcError as exc:
        if exc.code() in TRANSIENT:
            raise Unavailable(f"{what}: {exc.code().name} {exc.details()}") from exc
        if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
            raise InvalidArgument(f"{what} refused the message: {exc.details()}") from exc
        raise FailedPrecondition(
            f"{what}: {exc.code().name} {exc.details()}", reason="CALLEE_REFUSED"
        ) from exc
