"""progress's composition root (its settings are in settings.py): the service, the servicer, the consumers of
progress.events (every context's activity), the sandbox's events and identity's user events, and the
periodic checks (activity drop, quiet-period expiry)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from learnflow.progress.v1 import progress_service_pb2, progress_service_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncConnection

from services.progress import convert
from services.progress.api import ProgressApi
from services.progress.checks import CHECK_TENANT, PeriodicChecks
from services.progress.clients import CACHE_SECONDS, Directory
from services.progress.domain import Activity
from services.progress.domain.struggle import StruggleDetector
from services.progress.service import ProgressService
from services.progress.settings import ProgressConfig
from services.runtime.contexts import ContextSpec, Dependencies, Hosted, Periodic, StreamSpec
from services.runtime.directory import UserDirectory
from services.runtime.errors import InvalidArgument
from services.runtime.events.consumer import ConsumerSpec
from services.runtime.events.envelope import Event, require_tenant
from services.runtime.jobs import JobKind, JobQueue
from services.runtime.ratelimit import RateLimiter, SharedRateLimiter
from services.runtime.workload import is_workload

SERVICE = progress_service_pb2.DESCRIPTOR.services_by_name["ProgressService"].full_name


async def build(deps: Dependencies) -> Hosted:
    config = deps.settings_for(ProgressConfig)
    detector = StruggleDetector(config.rules())
    # Who a class's members and a student asked about are: identity, asked as this workload (none
    # for a context built alone in a test: the calls that need it then fail, NO_DIRECTORY).
    directory = (
        Directory(UserDirectory(deps.workload, deps.settings.identity_addr, cache_seconds=CACHE_SECONDS))
        if deps.workload is not None
        else None
    )
    per_user = config.activities_per_user
    service = ProgressService(
        deps.db,
        deps.outbox,
        detector,
        directory=directory,
        per_user=RateLimiter(
            SharedRateLimiter(deps.db, "progress"),
            per_user,
            max(5, int(per_user // 3)),
            "user",
            "progress",
            "activities",
        ),
    )
    checks = PeriodicChecks(deps.db, deps.outbox, detector)
    # The timer only enqueues one job per tenant; any replica's job runner checks it (checks.py).
    check_tenant = JobKind(
        CHECK_TENANT,
        checks.check_job,
        max_attempts=5,
        backoff_base_seconds=5,
        backoff_max_seconds=config.check_interval,
        retain_done_seconds=max(2 * config.check_interval, 60),  # the tick's key needs to hold only that long
    )
    jobs = JobQueue("progress", [check_tenant])

    def from_activity(event: Event) -> Activity:
        a = event.message.activity
        kind = convert.kind_from_proto(a.kind)
        if kind is None:
            raise InvalidArgument(f"activity {a.id} has no kind")
        return convert.activity_from_proto(a, kind, datetime.now(UTC))

    def from_run(event: Event) -> Activity | None:
        if is_workload(event.message.user_id):
            return None  # a workload's own run (tutoring validating an exercise) is nobody's activity
        return convert.activity_from_sandbox_executed(event.message, datetime.now(UTC))

    def from_graded(event: Event) -> Activity | None:
        if is_workload(event.message.user_id):
            return None
        return convert.activity_from_submission_graded(event.message, datetime.now(UTC))

    def activities(
        name: str, subject: str, stream: str, to_activity: Callable[[Event], Activity | None]
    ) -> ConsumerSpec:
        """A consumer of activities: one event at a time (the fallback) or a tenant's batch at once,
        both through the same set-based intake. Events that are nobody's activity are skipped."""

        def convert_all(events: list[Event]) -> list[Activity]:
            return [a for a in map(to_activity, events) if a is not None]

        async def one(event: Event, session: AsyncConnection) -> None:
            if found := convert_all([event]):
                await service.intake.apply(session, require_tenant(event), found)

        async def batch(events: list[Event], session: AsyncConnection) -> None:
            if found := convert_all(events):
                await service.intake.apply(session, require_tenant(events[0]), found)

        return ConsumerSpec(name, stream, subject, one, batch_handler=batch, burst=1000)

    async def on_user(event: Event, session: AsyncConnection) -> None:
        user = event.message.user
        await service.set_time_zone(session, require_tenant(event), user.id, user.time_zone)

    async def check() -> None:
        await checks.enqueue(jobs, datetime.now(UTC), config.check_interval)

    return Hosted(
        servicers=[(progress_service_pb2_grpc.add_ProgressServiceServicer_to_server, ProgressApi(service))],
        consumers=[
            activities("progress-activities", "progress.events", "PROGRESS", from_activity),
            activities("progress-sandbox-executed", "sandbox.executed", "SANDBOX", from_run),
            activities("progress-sandbox-graded", "sandbox.graded", "SANDBOX", from_graded),
            ConsumerSpec("progress-identity-users", "IDENTITY", "identity.user.*", on_user),
        ],
        periodic=[Periodic("progress-checks", config.check_interval, check, singleton=True)],
        jobs=[check_tenant],
    )


CONTEXT = ContextSpec(
    name="progress",
    services=(SERVICE,),
    build=build,
    streams=(StreamSpec("PROGRESS", ("progress.events", "struggle.detected")),),
    settings=ProgressConfig,
)
