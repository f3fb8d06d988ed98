"""activity's composition root: the query service and its servicer, and, when
LMS_ACTIVITY_MONITOR_ENABLED, the LMS monitor's singleton poll and completeness audit (one poller per
LMS whatever the number of replicas; `learnflow serve --contexts activity` is the seed's daemon mode).
Settings are in settings.py."""

from __future__ import annotations

from learnflow.activity.v1 import activity_service_pb2, activity_service_pb2_grpc

from services.activity.api import ActivityApi
from services.activity.lms import LmsReader
from services.activity.monitor import ActivityMonitor
from services.activity.service import ActivityService
from services.activity.settings import ActivityConfig
from services.runtime.contexts import ContextSpec, Dependencies, Hosted, Periodic, StreamSpec

SERVICE = activity_service_pb2.DESCRIPTOR.services_by_name["ActivityService"].full_name


async def build(deps: Dependencies) -> Hosted:
    config = deps.settings_for(ActivityConfig)
    service = ActivityService(deps.db, deps.outbox, config)
    hosted = Hosted(
        servicers=[(activity_service_pb2_grpc.add_ActivityServiceServicer_to_server, ActivityApi(service))]
    )
    if config.monitor_enabled:
        lms = LmsReader(config.lms_database_url)
        monitor = ActivityMonitor(deps.db, deps.outbox, lms, config)

        async def poll() -> None:
            await monitor.poll()

        async def audit() -> None:
            await monitor.audit()

        async def close() -> None:
            monitor.stop()
            await lms.dispose()

        # Cancelled at SIGTERM/SIGINT like all periodic work: a page being applied commits whole or
        # not at all, and the next holder of the lease reads it again.
        hosted.periodic += [
            Periodic(f"activity-poll-{config.lms_name}", config.poll_interval, poll, singleton=True),
            Periodic(f"activity-audit-{config.lms_name}", config.audit_interval, audit, singleton=True),
        ]
        hosted.on_stop.append(close)
    return hosted


CONTEXT = ContextSpec(
    name="activity",
    services=(SERVICE,),
    build=build,
    # progress.events belongs to progress's stream (exam results are published there, not here).
    streams=(StreamSpec("ACTIVITY", ("activity.>",)),),
    settings=ActivityConfig,
)
