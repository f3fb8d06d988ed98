"""activity's composition root: the query service and its servicer, and, when
LMS_ACTIVITY_MONITOR_ENABLED, the LMS monitor's singleton poll and completeness audit (one poller per
LMS whatever the number of replicas; `learnflow serve --contexts activity` is the seed's daemon mode).
Settings are in settings.py."""

from __future__ import annotations

from learnflow.activity.v1 import activity_service_pb2, activity_service_pb2_grpc

from services.activity.api import ActivityApi
from services.activity.clients import IdentityLinker, NotifyClient
from services.activity.lms import LmsReader
from services.activity.monitor import ActivityMonitor
from services.activity.notifier import MentorNotifier
from services.activity.service import ActivityService
from services.activity.settings import ActivityConfig
from services.runtime.contexts import (
    ContextSpec,
    Dependencies,
    Egress,
    Hosted,
    Periodic,
    SecretEnv,
    StreamSpec,
)

SERVICE = activity_service_pb2.DESCRIPTOR.services_by_name["ActivityService"].full_name


async def build(deps: Dependencies) -> Hosted:
    config = deps.settings_for(ActivityConfig)
    service = ActivityService(deps.db, deps.outbox, config)
    hosted = Hosted(
        servicers=[(activity_service_pb2_grpc.add_ActivityServiceServicer_to_server, ActivityApi(service))]
    )
    if config.monitor_enabled:
        lms = LmsReader(config.lms_database_url)
        linker = (
            IdentityLinker(
                deps.workload, deps.settings.identity_addr, config.lms_tenant_id, config.link_cache_seconds
            )
            if deps.workload is not None
            else None
        )
        monitor = ActivityMonitor(deps.db, deps.outbox, lms, config, linker=linker)
        if config.notify_mentors and linker is not None and deps.workload is not None:
            notifier = MentorNotifier(
                deps.outbox,
                linker,
                NotifyClient(deps.workload, deps.address_of("notify")),
                channel=config.notify_channel,
                template=config.notify_template,
            )
            hosted.consumers.append(notifier.consumer())

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
    calls=("notify",),
    settings=ActivityConfig,
    # The LMS's PostgreSQL is outside the cluster; its URL (with the read-only role's password) is a
    # Secret. The generated Deployment is the seed's daemon mode: `serve --contexts activity`, where
    # the poll is singleton work, so any number of replicas poll once.
    egress=(
        Egress(host="lms-database", port=5432, why="the external LMS database (LMS_DATABASE_URL, read only)"),
    ),
    secrets=(SecretEnv("LMS_DATABASE_URL", "activity-lms"),),
)
