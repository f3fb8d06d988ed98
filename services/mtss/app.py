"""mtss's composition root: service, servicer, streams; its settings are in settings.py."""

from __future__ import annotations

from learnflow.mtss.v1 import mtss_service_pb2, mtss_service_pb2_grpc

from services.mtss.api import MtssApi
from services.mtss.clients import IdentityDirectory
from services.mtss.service import MtssService
from services.mtss.settings import MtssConfig
from services.runtime.contexts import ContextSpec, Dependencies, Hosted, StreamSpec
from services.runtime.directory import UserDirectory

SERVICE = mtss_service_pb2.DESCRIPTOR.services_by_name["MtssService"].full_name


async def build(deps: Dependencies) -> Hosted:
    directory = (
        IdentityDirectory(UserDirectory(deps.workload, deps.settings.identity_addr, cache_seconds=30.0))
        if deps.workload is not None
        else None
    )
    # Caregiver delivery goes through notify's SendMessage once notify's engine is on main
    # (docs/mtss.md); until then no channel is wired and a message is logged as failed, with why.
    service = MtssService(deps.db, deps.outbox, deps.settings_for(MtssConfig), directory=directory)
    return Hosted(servicers=[(mtss_service_pb2_grpc.add_MtssServiceServicer_to_server, MtssApi(service))])


CONTEXT = ContextSpec(
    name="mtss",
    services=(SERVICE,),
    build=build,
    streams=(StreamSpec("MTSS", ("mtss.>",)),),
    settings=MtssConfig,
)
