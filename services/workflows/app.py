"""workflows's composition root: service, servicer, streams; its settings are in settings.py."""

from __future__ import annotations

from learnflow.workflows.v1 import workflows_service_pb2, workflows_service_pb2_grpc

from services.runtime.contexts import ContextSpec, Dependencies, Hosted, StreamSpec
from services.workflows.api import WorkflowsApi
from services.workflows.service import WorkflowsService
from services.workflows.settings import WorkflowsConfig

SERVICE = workflows_service_pb2.DESCRIPTOR.services_by_name["WorkflowsService"].full_name


async def build(deps: Dependencies) -> Hosted:
    service = WorkflowsService(deps.db, deps.outbox, deps.settings_for(WorkflowsConfig))
    return Hosted(
        servicers=[(workflows_service_pb2_grpc.add_WorkflowsServiceServicer_to_server, WorkflowsApi(service))]
    )


CONTEXT = ContextSpec(
    name="workflows",
    services=(SERVICE,),
    build=build,
    streams=(StreamSpec("WORKFLOWS", ("workflows.>",)),),
    settings=WorkflowsConfig,
)
