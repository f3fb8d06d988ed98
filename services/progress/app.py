"""progress's composition root: the models' settings, the service, the servicer, the consumers of
progress.events (every context's activity), the sandbox's events and identity's user events, and the
periodic checks (activity drop, quiet-period expiry)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from learnflow.progress.v1 import progress_service_pb2, progress_service_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncConnection

from services.progress import convert
from services.progress.api import ProgressApi
from services.progress.checks import PeriodicChecks
from services.progress.domain import Activity
from services.progress.domain.struggle import RuleSettings, StruggleDetector
from services.progress.service import ProgressService
from services.runtime.contexts import ContextSpec, Dependencies, Hosted, Periodic, StreamSpec
from services.runtime.errors import InvalidArgument
from services.runtime.events.consumer import ConsumerSpec
from services.runtime.events.envelope import Event, require_tenant
from services.runtime.settings import EnvReader
from services.runtime.workload import is_workload

SERVICE = progress_service_pb2.DESCRIPTOR.services_by_name["ProgressService"].full_name


def rule_settings(r: EnvReader) -> RuleSettings:
    return RuleSettings(
        repeated_error_enabled=r.boolean("PROGRESS_RULE_REPEATED_ERROR", True),
        repeated_error_count=r.integer("PROGRESS_REPEATED_ERROR_COUNT", 3, min=2, max=100),
        repeated_error_window=timedelta(
            minutes=r.number("PROGRESS_REPEATED_ERROR_WINDOW_MINUTES", 10, min=1, max=1440)
        ),
        exercise_timeout_enabled=r.boolean("PROGRESS_RULE_EXERCISE_TIMEOUT", True),
        failed_quiz_enabled=r.boolean("PROGRESS_RULE_FAILED_QUIZ", True),
        failed_quiz_below=r.number("PROGRESS_FAILED_QUIZ_BELOW", 0.6, min=0.0, max=1.0),
        wheel_spinning_enabled=r.boolean("PROGRESS_RULE_WHEEL_SPINNING", True),
        wheel_spinning_attempts=r.integer("PROGRESS_WHEEL_SPINNING_ATTEMPTS", 10, min=2, max=1000),
        activity_drop_enabled=r.boolean("PROGRESS_RULE_ACTIVITY_DROP", True),
        activity_drop_idle_days=r.integer("PROGRESS_ACTIVITY_DROP_IDLE_DAYS", 3, min=1, max=27),
        activity_drop_active_days=r.integer("PROGRESS_ACTIVITY_DROP_ACTIVE_DAYS", 3, min=1, max=7),
        quiet_period=timedelta(hours=r.number("PROGRESS_QUIET_PERIOD_HOURS", 168, min=1, max=24 * 365)),
    )


async def build(deps: Dependencies) -> Hosted:
    r = EnvReader(deps.settings.env)
    detector = StruggleDetector(rule_settings(r))
    # How often the periodic checks (activity drop, quiet-period expiry) visit every tenant.
    check_every = r.number("PROGRESS_CHECK_INTERVAL_SECONDS", 300, min=0.1, max=86_400)
    r.check()
    service = ProgressService(deps.db, deps.outbox, detector)
    checks = PeriodicChecks(deps.db, deps.outbox, detector)

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
        await checks.run(datetime.now(UTC))

    return Hosted(
        servicers=[(progress_service_pb2_grpc.add_ProgressServiceServicer_to_server, ProgressApi(service))],
        consumers=[
            activities("progress-activities", "progress.events", "PROGRESS", from_activity),
            activities("progress-sandbox-executed", "sandbox.executed", "SANDBOX", from_run),
            activities("progress-sandbox-graded", "sandbox.graded", "SANDBOX", from_graded),
            ConsumerSpec("progress-identity-users", "IDENTITY", "identity.user.*", on_user),
        ],
        periodic=[Periodic("progress-checks", check_every, check, singleton=True)],
    )


CONTEXT = ContextSpec(
    name="progress",
    services=(SERVICE,),
    build=build,
    streams=(StreamSpec("PROGRESS", ("progress.events", "struggle.detected")),),
)
