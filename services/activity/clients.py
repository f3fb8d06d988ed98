"""activity's calls to other contexts, as its workload for the LMS's tenant (runtime/workload.py):
identity links LMS emails to LearnFlow users (ListUsers, cached), notify sends the mentors' DMs
(SendMessage with an idempotency key per event and mentor)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from learnflow.identity.v1 import identity_service_pb2, identity_service_pb2_grpc
from learnflow.notify.v1 import notify_service_pb2, notify_service_pb2_grpc, resources_pb2

from services.runtime.calls import mesh_call
from services.runtime.workload import WorkloadIdentity

log = logging.getLogger(__name__)


class IdentityLinker:
    """LMS emails → LearnFlow user ids of one tenant, from identity's ListUsers, refreshed at most every
    `cache_seconds` (an email not found before the refresh stays unmatched until then)."""

    def __init__(
        self, workload: WorkloadIdentity, identity_addr: str, tenant_id: str, cache_seconds: float = 60
    ):
        self.workload = workload
        self.stub = identity_service_pb2_grpc.IdentityServiceStub(workload.channel(identity_addr))
        self.tenant_id = tenant_id
        self.cache_seconds = cache_seconds
        self._users: dict[str, str] = {}
        self._loaded = -1e18

    async def link(self, emails: set[str]) -> dict[str, str]:
        """Raises when identity cannot answer for an email the cache does not know: storing that
        student's results unlinked would keep them from progress for good."""
        age = time.monotonic() - self._loaded
        # An unknown email reloads too (a new account), but not more than every few seconds.
        if age > self.cache_seconds or (
            not emails <= self._users.keys() and age > min(self.cache_seconds, 5)
        ):
            try:
                await self._load()
            except Exception:
                if not (self._loaded > 0 and emails <= self._users.keys()):
                    raise
                # A refresh that failed while every email is known: the cache answers; the next
                # page tries identity again.
                log.warning("identity ListUsers failed; linking from the cache", exc_info=True)
        return {e: self._users[e] for e in emails if e in self._users}

    async def _load(self) -> None:
        users: dict[str, str] = {}
        token = ""
        metadata = await self.workload.metadata(self.tenant_id)
        while True:
            page = await mesh_call(
                "identity ListUsers",
                self.stub.ListUsers(
                    identity_service_pb2.ListUsersRequest(page_size=200, page_token=token),
                    metadata=metadata,
                    timeout=10,
                ),
            )
            users |= {u.email.lower(): u.id for u in page.users if u.email}
            token = page.next_page_token
            if not token:
                break
        self._users = users
        self._loaded = time.monotonic()


@dataclass(frozen=True)
class Sent:
    delivery_id: str
    channel: str
    status: str


class NotifyClient:
    def __init__(self, workload: WorkloadIdentity, notify_addr: str):
        self.workload = workload
        self.stub = notify_service_pb2_grpc.NotifyServiceStub(workload.channel(notify_addr))

    async def send(
        self,
        tenant_id: str,
        *,
        channel: str,
        recipient_id: str,
        template: str,
        body: str,
        idempotency_key: str,
    ) -> Sent:
        """Queues the DM in notify (which resolves the Zulip account, falls back to its fallback channel
        for a user without one, retries 429s, and logs the delivery). The same key again returns the
        first delivery: a redelivered event sends nothing twice."""
        delivery = await mesh_call(
            "notify SendMessage",
            self.stub.SendMessage(
                notify_service_pb2.SendMessageRequest(
                    message=notify_service_pb2.MessageSpec(
                        channel=channel,
                        recipient_id=recipient_id,
                        template=template,
                        variables=[notify_service_pb2.Variable(name="message", value=body[:10_000])],
                        idempotency_key=idempotency_key,
                    )
                ),
                metadata=await self.workload.metadata(tenant_id),
                timeout=10,
            ),
        )
        return Sent(delivery.id, delivery.channel, resources_pb2.DeliveryStatus.Name(delivery.status))
