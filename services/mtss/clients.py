"""mtss's calls to other contexts, as its workload: identity (who the tenant's users are and their
roles, through the runtime's cached UserDirectory), notify (caregiver messages) and progress (a
class's risk list, read on behalf of the user who asked)."""

from __future__ import annotations

import grpc
from learnflow.notify.v1 import notify_service_pb2, notify_service_pb2_grpc
from learnflow.notify.v1 import resources_pb2 as notify_pb
from learnflow.progress.v1 import progress_service_pb2, progress_service_pb2_grpc

from services.mtss.domain.programs import RiskEntry
from services.runtime.calls import callee_error, mesh_call
from services.runtime.directory import UserDirectory
from services.runtime.errors import FieldViolation, InvalidArgument, PermissionDenied
from services.runtime.workload import WorkloadIdentity


class IdentityDirectory:
    """Roles of the tenant's users by id (lower-case); unknown ids and disabled users are absent, so
    a disabled teacher cannot be made an owner or a facilitator."""

    def __init__(self, directory: UserDirectory):
        self.directory = directory

    async def roles_of(self, tenant_id: str, ids: list[str]) -> dict[str, frozenset[str]]:
        found = await self.directory.users(tenant_id, ids)
        return {uid: user.roles for uid, user in found.items() if not user.disabled}


# notify's delivery states as the communication log's: accepted and waiting (pending, retrying,
# held by quiet hours) → pending, until notify.delivery.sent/failed says more.
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
        return _DELIVERY.get(state, "pending"), f"notify delivery {delivery.id}: {state}"


# A class is a few dozen students; a list longer than this is refused rather than read for minutes.
MAX_RISK_LIST = 5000
_RISK_PAGE = 500


class ProgressRiskLists:
    """A class's risk list from progress's ListClassSummaries (ordered by risk, highest first), read
    as mtss's workload on behalf of the user who asked: progress lets mtss's workload read a class
    only for a user who could read it (a teacher of the class, an admin), and audits the read."""

    def __init__(self, workload: WorkloadIdentity, progress_addr: str):
        self.workload = workload
        self.stub = progress_service_pb2_grpc.ProgressServiceStub(workload.channel(progress_addr))

    async def risk_list(self, tenant_id: str, class_id: str, on_behalf_of: str) -> list[RiskEntry]:
        out: list[RiskEntry] = []
        token = ""
        while True:
            request = progress_service_pb2.ListClassSummariesRequest(
                class_id=class_id,
                page_size=_RISK_PAGE,
                page_token=token,
                order_by="risk",
                on_behalf_of=on_behalf_of,
            )
            try:
                page = await self.stub.ListClassSummaries(
                    request, metadata=await self.workload.metadata(tenant_id), timeout=10
                )
            except grpc.aio.AioRpcError as exc:
                raise _refusal(exc, class_id) from exc
            out += [
                RiskEntry(
                    s.student_id.lower(),
                    min(1.0, max(0.0, s.risk)),
                    f"progress: mean mastery {s.mean_mastery:.2f}, {s.open_alerts} open alert"
                    + ("" if s.open_alerts == 1 else "s"),
                )
                for s in page.summaries
            ]
            token = page.next_page_token
            if not token:
                return out
            if len(out) >= MAX_RISK_LIST:
                raise InvalidArgument(
                    "the class is too large for a risk list",
                    [FieldViolation("class_id", f"has more than {MAX_RISK_LIST} students")],
                )


def _refusal(exc: grpc.aio.AioRpcError, class_id: str) -> Exception:
    """progress's answer as the caller's error: no such class is bad input, not your class is the
    caller's own refusal; anything else as any callee failure (retryable or not)."""
    if exc.code() == grpc.StatusCode.NOT_FOUND:
        return InvalidArgument(
            "no such class", [FieldViolation("class_id", f"progress has no class {class_id}")]
        )
    if exc.code() == grpc.StatusCode.PERMISSION_DENIED:
        return PermissionDenied(
            f"progress refused the class's summaries: {exc.details()}", reason="NOT_YOUR_CLASS"
        )
    return callee_error("progress ListClassSummaries", exc)
