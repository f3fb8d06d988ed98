"""mtss's calls to other contexts, as its workload: identity (who the tenant's users are and their
roles, through the runtime's cached UserDirectory) and notify (caregiver messages)."""

from __future__ import annotations

from learnflow.notify.v1 import notify_service_pb2, notify_service_pb2_grpc
from learnflow.notify.v1 import resources_pb2 as notify_pb

from services.runtime.calls import mesh_call
from services.runtime.directory import UserDirectory
from services.runtime.workload import WorkloadIdentity


class IdentityDirectory:
    """Roles of the tenant's users by id (lower-case); unknown ids and disabled users are absent, so
    a disabled teacher cannot be made an owner or a facilitator."""

    def __init__(self, directory: UserDirectory):
        self.directory = directory

    async def roles_of(self, tenant_id: str, ids: list[str]) -> dict[str, frozenset[str]]:
        found = await self.directory.users(tenant_id, ids)
        return {uid: user.roles for uid, user in found.items() if not user.disabled}


# notify's delivery states as the communication log's: accepted and waiting → queued.
_DELIVERY = {"sent": "sent", "read": "sent", "failed": "failed"}


def delivery_key(communication_id: str) -> str:
    """notify's idempotency key for a communication: a retried send never sends twice, and
    notify's delivery events name the communication they are about (convert.delivery_update)."""
    return f"mtss:{communication_id}"


class NotifyChannel:
    """Caregiver messages through notify's SendMessage, as mtss's workload for the tenant. The template
    is notify's `mtss.<name>` (authored by the school's staff in notify, docs/mtss.md)."""

    def __init__(self, workload: WorkloadIdentity, notify_addr: str, channel: str):
        self.workload = workload
        self.stub = notify_service_pb2_grpc.NotifyServiceStub(workload.channel(notify_addr))
        self.channel = channel

    async def send(
        self, tenant_id: str, caregiver_id: str, template: str, variables: dict[str, str], key: str
    ) -> tuple[str, str]:
        request = notify_service_pb2.SendMessageRequest(
            message=notify_service_pb2.MessageSpec(
                channel=self.channel,
                recipient_id=caregiver_id,
                template=f"mtss.{template}",
                variables=[
                    notify_service_pb2.Variable(name=k, value=v) for k, v in sorted(variables.items())
                ],
                idempotency_key=delivery_key(key),
            )
        )
        delivery = await mesh_call(
            "notify SendMessage",
            self.stub.SendMessage(request, metadata=await self.workload.metadata(tenant_id), timeout=10),
        )
        state = notify_pb.DeliveryStatus.Name(delivery.status).removeprefix("DELIVERY_STATUS_").lower()
        return _DELIVERY.get(state, "queued"), f"notify delivery {delivery.id}: {state}"
