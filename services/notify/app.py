"""notify's composition root: settings, the channels, the service and its job kinds, the servicer,
streams. The provider channels come from channels/registry.py (built from the `channels` settings
group); in_app is the engine's own."""

from __future__ import annotations

from learnflow.notify.v1 import notify_service_pb2, notify_service_pb2_grpc

from services.notify.api import NotifyApi
from services.notify.channels.registry import build_channels
from services.notify.service import NotifyService
from services.notify.settings import NotifyConfig
from services.runtime.contexts import ContextSpec, Dependencies, Hosted, Periodic, StreamSpec
from services.runtime.directory import UserDirectory
from services.runtime.ratelimit import SharedRateLimiter

SERVICE = notify_service_pb2.DESCRIPTOR.services_by_name["NotifyService"].full_name


async def build(deps: Dependencies) -> Hosted:
    config = deps.settings_for(NotifyConfig)
    # Per channel and destination, shared by every replica (notify.rate_limits).
    limiter = SharedRateLimiter(deps.db, "notify")
    service = NotifyService(
        deps.db,
        deps.outbox,
        config,
        channels=build_channels(config.channels, limiter=limiter),
        # Recipients are LearnFlow users: identity says who is in the tenant, their email (to find
        # their account on a channel) and their time zone (quiet hours).
        directory=(
            UserDirectory(deps.workload, deps.settings.identity_addr, cache_seconds=60.0)
            if deps.workload is not None
            else None
        ),
        limiter=limiter,
    )

    async def forget_idle_buckets() -> None:
        await limiter.purge(idle_seconds=3600)  # a missing bucket is a full one

    return Hosted(
        servicers=[(notify_service_pb2_grpc.add_NotifyServiceServicer_to_server, NotifyApi(service))],
        jobs=service.kinds,
        periodic=[Periodic("notify-rate-limit-purge", 600, forget_idle_buckets)],
        on_stop=[service.aclose],
    )


CONTEXT = ContextSpec(
    name="notify",
    services=(SERVICE,),
    build=build,
    streams=(StreamSpec("NOTIFY", ("notify.>",)),),
    settings=NotifyConfig,
)
