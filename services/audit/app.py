"""audit's composition root: service, servicer, streams; its settings are in settings.py."""

from __future__ import annotations

from learnflow.audit.v1 import audit_service_pb2, audit_service_pb2_grpc

from services.audit.api import AuditApi
from services.audit.service import AuditService
from services.audit.settings import AuditConfig
from services.runtime.contexts import ContextSpec, Dependencies, Hosted, StreamSpec

SERVICE = audit_service_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name


async def build(deps: Dependencies) -> Hosted:
    service = AuditService(deps.db, deps.outbox, deps.settings_for(AuditConfig))
    return Hosted(servicers=[(audit_service_pb2_grpc.add_AuditServiceServicer_to_server, AuditApi(service))])


CONTEXT = ContextSpec(
    name="audit",
    services=(SERVICE,),
    build=build,
    streams=(StreamSpec("AUDIT", ("audit.>",)),),
    settings=AuditConfig,
)
