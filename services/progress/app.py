"""progress's composition root: the models' settings, the service, the servicer, and the consumers of
progress.events (every context's activity), the sandbox's events and identity's user events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from learnflow.progress.v1 import progress_service_pb2, progress_service_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncConnection

from services.progress import convert
from services.progress.api import ProgressApi
from services.progress.domain.struggle import RuleSettings, StruggleDetector
from services.progress.service import ProgressService
from services.runtime.contexts import ContextSpec, Dependencies, Hosted, StreamSpec
from services.runtime.errors import InvalidArgument
from services.runtime.events.consumer import ConsumerSpec
from services.runtime.events.envelope import Event
from services.runtime.settings import EnvReader
from services.runtime.workload import is_workload

SERVICE = progress_service_pb2.DESCRIPTOR.services_by_name["ProgressService"].full_name


def rule_settings(deps: Dependencies) -> RuleSettings:
    r = EnvReader(deps.settings.env)
    settings = RuleSettings(
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
    )
    r.check()
    return settings


async def build(deps: Dependencies) -> Hosted:
    service = ProgressService(deps.db, deps.outbox, StruggleDetector(rule_settings(deps)))

    def tenant(event: Event) -> str:
        if not event.tenant_id:
            raise InvalidArgument(f"{event.type} {event.id} carries no tenant")  # dead-lettered
        return event.tenant_id

    async def on_activity(event: Event, session: AsyncConnection) -> None:
        a = event.message.activity
        kind = convert.kind_from_proto(a.kind)
        if kind is None:
            raise InvalidArgument(f"activity {a.id} has no kind")
        await service.apply(session, tenant(event), convert.activity_from_proto(a, kind, datetime.now(UTC)))

    async def on_run(event: Event, session: AsyncConnection) -> None:
        if is_workload(event.message.user_id):
            return  # a workload's own run (tutoring validating an exercise) is nobody's activity
        await service.apply(
            session, tenant(event), convert.activity_from_sandbox_executed(event.message, datetime.now(UTC))
        )

    async def on_graded(event: Event, session: AsyncConnection) -> None:
        if is_workload(event.message.user_id):
            return
        await service.apply(
            session, tenant(event), convert.activity_from_submission_graded(event.message, datetime.now(UTC))
        )

    async def on_user(event: Event, session: AsyncConnection) -> None:
        user = event.message.user
        await service.set_time_zone(session, tenant(event), user.id, user.time_zone)

    return Hosted(
        servicers=[(progress_service_pb2_grpc.add_ProgressServiceServicer_to_server, ProgressApi(service))],
        consumers=[
            ConsumerSpec("progress-activities", "PROGRESS", "progress.events", on_activity),
            ConsumerSpec("progress-sandbox-executed", "SANDBOX", "sandbox.executed", on_run),
            ConsumerSpec("progress-sandbox-graded", "SANDBOX", "sandbox.graded", on_graded),
            ConsumerSpec("progress-identity-users", "IDENTITY", "identity.user.*", on_user),
        ],
    )


CONTEXT = ContextSpec(
    name="progress",
    services=(SERVICE,),
    build=build,
    streams=(StreamSpec("PROGRESS", ("progress.events", "struggle.detected")),),
)
