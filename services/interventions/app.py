"""interventions's composition root: service, servicer, streams; its settings are in settings.py."""

from __future__ import annotations

from learnflow.interventions.v1 import interventions_service_pb2, interventions_service_pb2_grpc

from services.interventions.api import InterventionsApi
from services.interventions.service import InterventionsService
from services.interventions.settings import InterventionsConfig
from services.runtime.contexts import ContextSpec, Dependencies, Hosted, StreamSpec

SERVICE = interventions_service_pb2.DESCRIPTOR.services_by_name["InterventionsService"].full_name


async def build(deps: Dependencies) -> Hosted:
    service = InterventionsService(deps.db, deps.outbox, deps.settings_for(InterventionsConfig))
    return Hosted(
        servicers=[
            (
                interventions_service_pb2_grpc.add_InterventionsServiceServicer_to_server,
                InterventionsApi(service),
            )
        ]
    )


CONTEXT = ContextSpec(
    name="interventions",
    services=(SERVICE,),
    build=build,
    streams=(StreamSpec("INTERVENTIONS", ("interventions.>",)),),
    settings=InterventionsConfig,
)
