"""notify's composition root: service, servicer, streams; its settings are in settings.py."""

from __future__ import annotations

from learnflow.notify.v1 import notify_service_pb2, notify_service_pb2_grpc

from services.notify.api import NotifyApi
from services.notify.service import NotifyService
from services.notify.settings import NotifyConfig
from services.runtime.contexts import ContextSpec, Dependencies, Hosted, StreamSpec

SERVICE = notify_service_pb2.DESCRIPTOR.services_by_name["NotifyService"].full_name


async def build(deps: Dependencies) -> Hosted:
    service = NotifyService(deps.db, deps.outbox, deps.settings_for(NotifyConfig))
    return Hosted(
        servicers=[(notify_service_pb2_grpc.add_NotifyServiceServicer_to_server, NotifyApi(service))]
    )


CONTEXT = ContextSpec(
    name="notify",
    services=(SERVICE,),
    build=build,
    streams=(StreamSpec("NOTIFY", ("notify.>",)),),
    settings=NotifyConfig,
)
