"""notify's composition root: settings, the channels, the service and its job kinds, the servicer,
streams. The provider channels come from channels/registry.py (built from the `channels` settings
group); in_app is the engine's own."""

from __future__ import annotations

from collections.abc import Mapping

from learnflow.notify.v1 import notify_service_pb2, notify_service_pb2_grpc

from services.notify.alerts import OpsAlerts
from services.notify.api import NotifyApi
from services.notify.channels.base import Urgency
from services.notify.channels.registry import build_channels
from services.notify.channels.settings import CHANNEL_EGRESS, CHANNEL_SECRETS
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
    channels = build_channels(config.channels)
    service = NotifyService(
        deps.db,
        deps.outbox,
        config,
        channels=channels,
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

    async def send_system(
        channel: str,
        subject: str,
        body: str,
        urgency: Urgency,
        idempotency_key: str,
        extra: Mapping[str, str],
    ) -> object:
        """An ops alert or digest into the delivery log (retries, limits, events like any message),
        written for its channel already; `extra["to"]` is a digest's operator."""
        native = channels[channel].body_format if channel in channels else "text"
        return await service.send_system(
            channel=channel,
            subject=subject,
            body=body,
            idempotency_key=idempotency_key,
            urgency=urgency,
            extra=extra,
            address=extra.get("to") or None,
            body_format=native,
        )

    # Alertmanager's webhooks (docs/ops-alerting.md): through the engine while PostgreSQL answers,
    # straight to the channel (spooled, reconciled later) while it does not.
    ops_alerts = OpsAlerts(config.alerts, deps.db, channels, send_system)
    return Hosted(
        servicers=[(notify_service_pb2_grpc.add_NotifyServiceServicer_to_server, NotifyApi(service))],
        jobs=service.kinds,
        periodic=[Periodic("notify-rate-limit-purge", 600, forget_idle_buckets), *ops_alerts.periodic()],
        on_start=[ops_alerts.start],
        on_stop=[ops_alerts.stop, service.aclose],
    )


CONTEXT = ContextSpec(
    name="notify",
    services=(SERVICE,),
    build=build,
    streams=(StreamSpec("NOTIFY", ("notify.>",)),),
    settings=NotifyConfig,
    egress=CHANNEL_EGRESS,
    secrets=CHANNEL_SECRETS,
)
