"""interventions' delivery port toward notify: NotifyService.SendMessage, called as this context's
workload for the decision's tenant (runtime/workload.py).

A decision's message is rendered by the policy (its teacher-readable template, checked when the
policy is activated); notify sends it through one pass-through template of the tenant,
`interventions.message` (subject `{{ subject }}`, body `{{ body }}`), which this client saves the first
time a tenant needs it. Each recipient is one SendMessage with the idempotency key
`interventions:<decision id>:<recipient>`, so a retried job never sends twice. notify answers at once
with a pending delivery; the outcome (sent with Moodle's message id, failed, read) comes back on
notify.delivery.* and is recorded on the decision by the consumer in app.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Sequence
from typing import TypeVar

import grpc
from learnflow.notify.v1 import notify_service_pb2, notify_service_pb2_grpc
from learnflow.notify.v1 import resources_pb2 as notify_pb
from learnflow.progress.v1 import progress_service_pb2, progress_service_pb2_grpc

from services.interventions.domain import Delivery, DeliveryRefused, Receipt
from services.runtime.calls import TRANSIENT, mesh_call
from services.runtime.errors import Unavailable
from services.runtime.workload import WorkloadIdentity

TEMPLATE = "interventions.message"
SUBJECT, BODY = "{{ subject }}", "{{ body }}"
KEY_PREFIX = "interventions:"
TIMEOUT = 10.0
BATCH = 100  # BatchSendMessages takes at most 100 messages
T = TypeVar("T")


def idempotency_key(decision_id: str, recipient: str) -> str:
    return f"{KEY_PREFIX}{decision_id}:{recipient}"


def decision_of_key(key: str) -> str | None:
    """The decision id of one of our idempotency keys; None for other senders' deliveries."""
    if not key.startswith(KEY_PREFIX):
        return None
    return key[len(KEY_PREFIX) :].split(":", 1)[0] or None


def _translated(what: str, exc: grpc.aio.AioRpcError) -> Exception:
    """A failed call as Unavailable (retried by the delivery job) or DeliveryRefused (not retried)."""
    message = f"notify {what}: {exc.code().name} {exc.details()}"
    return Unavailable(message) if exc.code() in TRANSIENT else DeliveryRefused(message)


async def _call(what: str, call: Awaitable[T]) -> T:
    try:
        return await call
    except grpc.aio.AioRpcError as exc:
        raise _translated(what, exc) from exc


class NotifyDeliverer:
    def __init__(
        self,
        workload: WorkloadIdentity,
        notify_addr: str,
        *,
        student_channel: str,
        teacher_channels: tuple[str, ...],
    ):
        self.workload = workload
        self.stub = notify_service_pb2_grpc.NotifyServiceStub(workload.channel(notify_addr))
        self.student_channel = student_channel
        self.teacher_channels = teacher_channels
        self._templates: set[str] = set()  # tenants whose pass-through template is known to exist

    async def _ensure_template(self, tenant_id: str, metadata: tuple[tuple[str, str], ...]) -> None:
        if tenant_id in self._templates:
            return
        try:
            found = await self.stub.GetTemplate(
                notify_service_pb2.GetTemplateRequest(name=TEMPLATE), metadata=metadata, timeout=TIMEOUT
            )
            ok = found.subject == SUBJECT and found.body == BODY
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise _translated("GetTemplate", exc) from exc
            ok = False
        if not ok:
            await _call(
                "PutTemplate",
                self.stub.PutTemplate(
                    notify_service_pb2.PutTemplateRequest(
                        template=notify_pb.Template(name=TEMPLATE, subject=SUBJECT, body=BODY)
                    ),
                    metadata=metadata,
                    timeout=TIMEOUT,
                ),
            )
        self._templates.add(tenant_id)

    def _messages(self, delivery: Delivery) -> list[notify_service_pb2.MessageSpec]:
        """One message per recipient and channel, each with its idempotency key."""
        channels = self.teacher_channels if delivery.to_teachers else (self.student_channel,)
        urgency = notify_pb.URGENCY_HIGH if delivery.urgency >= 67 else notify_pb.URGENCY_NORMAL
        return [
            notify_service_pb2.MessageSpec(
                channel=channel,
                recipient_id=recipient,
                template=TEMPLATE,
                variables=[
                    notify_service_pb2.Variable(name="subject", value=delivery.subject),
                    notify_service_pb2.Variable(name="body", value=delivery.message),
                ],
                urgency=urgency,
                idempotency_key=idempotency_key(delivery.decision_id, f"{recipient}:{channel}"),
            )
            for recipient in delivery.recipients
            for channel in channels
        ]

    async def deliver(self, delivery: Delivery) -> Receipt:
        metadata = await self.workload.metadata(delivery.tenant_id)
        await self._ensure_template(delivery.tenant_id, metadata)
        first = ""
        for message in self._messages(delivery):
            sent = await _call(
                "SendMessage",
                self.stub.SendMessage(
                    notify_service_pb2.SendMessageRequest(message=message), metadata=metadata, timeout=TIMEOUT
                ),
            )
            first = first or sent.id
        return Receipt(provider_message_id="", notify_delivery_id=first)

    async def deliver_many(self, deliveries: Sequence[Delivery]) -> list[Receipt]:
        """Several decisions of one tenant in BatchSendMessages calls of at most BATCH messages
        (one call, one transaction in notify, instead of one per message). notify checks a whole
        call first and queues none of it if any message is invalid: DeliveryRefused then, and the
        caller delivers the decisions one by one to find the refused one."""
        if not deliveries:
            return []
        tenant = deliveries[0].tenant_id
        metadata = await self.workload.metadata(tenant)
        await self._ensure_template(tenant, metadata)
        owners: list[int] = []
        messages: list[notify_service_pb2.MessageSpec] = []
        for i, delivery in enumerate(deliveries):
            if delivery.tenant_id != tenant:
                raise ValueError("deliver_many takes the decisions of one tenant")
            for message in self._messages(delivery):
                owners.append(i)
                messages.append(message)
        first = [""] * len(deliveries)
        for start in range(0, len(messages), BATCH):
            chunk = messages[start : start + BATCH]
            reply = await _call(
                "BatchSendMessages",
                self.stub.BatchSendMessages(
                    notify_service_pb2.BatchSendMessagesRequest(messages=chunk),
                    metadata=metadata,
                    timeout=TIMEOUT,
                ),
            )
            for owner, sent in zip(owners[start : start + BATCH], reply.deliveries, strict=True):
                first[owner] = first[owner] or sent.id
        return [Receipt(provider_message_id="", notify_delivery_id=f) for f in first]


# --- progress: the teachers of a batch's students (service.teachers_job) ----------------------------

# ListStudentTeachers takes at most this many students a call (its protovalidate rule).
TEACHERS_PER_CALL = 1000


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class ProgressTeachers:
    """TeacherDirectory over progress's ListStudentTeachers (internal; progress grants it to
    interventions' workload only), one call for up to TEACHERS_PER_CALL students. A transient failure is
    raised as Unavailable, progress's refusal as FailedPrecondition (services/runtime/calls.py)."""

    def __init__(self, workload: WorkloadIdentity, progress_addr: str):
        self.workload = workload
        self.stub = progress_service_pb2_grpc.ProgressServiceStub(workload.channel(progress_addr))

    async def teachers_of(self, tenant_id: str, student_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        # Classes hold user ids (UUIDs): an EvaluateSignal's free-form student id is in no class.
        wanted = sorted({s.lower() for s in student_ids if _is_uuid(s)})
        found: dict[str, tuple[str, ...]] = {}
        if not wanted:
            return found
        metadata = await self.workload.metadata(tenant_id)
        for start in range(0, len(wanted), TEACHERS_PER_CALL):
            reply = await mesh_call(
                "progress ListStudentTeachers",
                self.stub.ListStudentTeachers(
                    progress_service_pb2.ListStudentTeachersRequest(
                        student_ids=wanted[start : start + TEACHERS_PER_CALL]
                    ),
                    metadata=metadata,
                    timeout=TIMEOUT,
                ),
            )
            for s in reply.students:
                found[s.student_id.lower()] = tuple(t.lower() for t in s.teacher_ids)
        return found
