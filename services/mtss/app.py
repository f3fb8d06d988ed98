"""mtss's composition root: service, servicer, streams, the caregiver messages' delivery jobs, the
consumer of notify's delivery events; its settings are in settings.py."""

from __future__ import annotations

from learnflow.mtss.v1 import mtss_service_pb2, mtss_service_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncConnection

from services.mtss import convert
from services.mtss.api import MtssApi
from services.mtss.clients import IdentityDirectory, NotifyChannel, ProgressRiskLists
from services.mtss.service import MtssService
from services.mtss.settings import MtssConfig
from services.runtime.contexts import ContextSpec, Dependencies, Hosted, StreamSpec
from services.runtime.directory import UserDirectory
from services.runtime.events.consumer import ConsumerSpec
from services.runtime.events.envelope import Event

SERVICE = mtss_service_pb2.DESCRIPTOR.services_by_name["MtssService"].full_name
NOTIFY = "notify"
PROGRESS = "progress"


async def build(deps: Dependencies) -> Hosted:
    config = deps.settings_for(MtssConfig)
    directory = channel = risk_lists = None
    if deps.workload is not None:
        directory = IdentityDirectory(
            UserDirectory(deps.workload, deps.settings.identity_addr, cache_seconds=30.0)
        )
        channel = NotifyChannel(deps.workload, deps.address_of(NOTIFY), config.caregiver_channel)
        risk_lists = ProgressRiskLists(deps.workload, deps.address_of(PROGRESS))
    service = MtssService(
        deps.db, deps.outbox, config, directory=directory, channel=channel, risk_lists=risk_lists
    )

    def ours(event: Event) -> bool:
        return convert.delivery_update(event.message, "sent") is not None

    def on_delivery(status: str):
        async def handle(event: Event, session: AsyncConnection) -> None:
            found = convert.delivery_update(event.message, status)
            if found is not None:
                await service.apply_delivery(session, *found)

        return handle

    return Hosted(
        servicers=[(mtss_service_pb2_grpc.add_MtssServiceServicer_to_server, MtssApi(service))],
        # Caregiver messages to notify, each a durable job committed with its log entry.
        jobs=[service.deliver_kind()],
        consumers=[
            # Only our own messages' outcomes (every other context's are acked unopened).
            ConsumerSpec(
                "mtss-notify-sent", "NOTIFY", "notify.delivery.sent", on_delivery("sent"), wants=ours
            ),
            ConsumerSpec(
                "mtss-notify-failed", "NOTIFY", "notify.delivery.failed", on_delivery("failed"), wants=ours
            ),
        ],
    )


CONTEXT = ContextSpec(
    name="mtss",
    services=(SERVICE,),
    build=build,
    streams=(StreamSpec("MTSS", ("mtss.>",)),),
    settings=MtssConfig,
    # progress: risk lists from class summaries (a read progress grants mtss's workload only).
    calls=(NOTIFY, PROGRESS),
)
