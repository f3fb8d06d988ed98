"""audit's composition root: the consumer of every context's audit events, the periodic checkpoint,
the servicer; its settings are in settings.py."""

from __future__ import annotations

import logging

from learnflow.audit.v1 import audit_service_pb2, audit_service_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncConnection

from services.audit import convert
from services.audit.api import AuditApi
from services.audit.service import AuditService
from services.audit.settings import AuditConfig
from services.audit.signing import CheckpointSigner
from services.runtime import audit
from services.runtime.contexts import ContextSpec, Dependencies, Hosted, Periodic, SecretEnv
from services.runtime.events.consumer import ConsumerSpec
from services.runtime.events.envelope import Event

SERVICE = audit_service_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name
CONSUMER = "audit-records"
log = logging.getLogger(__name__)


async def build(deps: Dependencies) -> Hosted:
    config = deps.settings_for(AuditConfig)
    signer = CheckpointSigner(config.checkpoint_key)
    if signer.ephemeral:
        log.warning(
            "AUDIT_CHECKPOINT_KEY is not set: checkpoints are signed with a key of this process only",
            extra={"key_id": signer.key_id},
        )
    service = AuditService(deps.db, config, signer)

    async def one(event: Event, session: AsyncConnection) -> None:
        record = convert.record_from_event(event)
        await service.append(session, record.tenant_id, [record])

    async def batch(events: list[Event], session: AsyncConnection) -> None:
        # One tenant's events (the consumer groups them), in delivery order: one chain extension.
        records = [convert.record_from_event(e) for e in events]
        await service.append(session, records[0].tenant_id, records)

    async def checkpoint() -> None:
        await service.checkpoint_all()

    return Hosted(
        servicers=[(audit_service_pb2_grpc.add_AuditServiceServicer_to_server, AuditApi(service))],
        consumers=[
            ConsumerSpec(
                CONSUMER,
                audit.STREAM.name,
                "audit.>",
                one,
                batch_handler=batch,
                burst=config.append_batch,
                linger=config.append_linger,
            )
        ],
        periodic=[Periodic("audit-checkpoints", config.checkpoint_interval, checkpoint, singleton=True)],
    )


CONTEXT = ContextSpec(
    name="audit",
    services=(SERVICE,),
    build=build,
    streams=(audit.STREAM,),
    settings=AuditConfig,
    secrets=(SecretEnv("AUDIT_CHECKPOINT_KEY", "learnflow-audit"),),
)
