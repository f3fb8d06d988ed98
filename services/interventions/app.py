"""interventions's composition root (its settings are in settings.py): the service, the servicer, the
consumers of struggle.detected (progress), sandbox.executed and tutoring's hint_requested and
question_unclear, the watcher of the policies folder, the delivery jobs and the SLA gauge."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from learnflow.interventions.v1 import interventions_service_pb2, interventions_service_pb2_grpc
from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncConnection

from services.interventions import convert
from services.interventions.api import InterventionsApi
from services.interventions.clients import NotifyDeliverer, ProgressTeachers
from services.interventions.domain import Delivery, Receipt
from services.interventions.domain.engine import Signal
from services.interventions.folder import PATTERNS, PolicyFolder
from services.interventions.service import (
    DELIVER,
    DELIVER_BATCH,
    TEACHERS,
    Deliverer,
    InterventionsService,
    SlaTracker,
)
from services.interventions.settings import InterventionsConfig
from services.interventions.teachers import TeacherDirectory
from services.runtime.contexts import (
    ContextSpec,
    Dependencies,
    DeployTraits,
    FolderMount,
    Hosted,
    Periodic,
    StreamSpec,
)
from services.runtime.errors import Unavailable
from services.runtime.events.consumer import BatchHandler, ConsumerSpec
from services.runtime.events.envelope import Event, require_tenant
from services.runtime.jobs import JobKind, JobQueue
from services.runtime.workload import is_workload

NOTIFY = "notify"
PROGRESS = "progress"
# Where the policies ConfigMap is mounted in Kubernetes (INTERVENTIONS_POLICIES_DIR there).
POLICIES_MOUNT = "/etc/learnflow/policies"
SERVICE = interventions_service_pb2.DESCRIPTOR.services_by_name["InterventionsService"].full_name
# The name notify's alert rules read (deploy/prometheus/rules.yml: InterventionSlaBelowTarget).
SLA_COMPLIANCE = Gauge(
    "learnflow_intervention_sla_compliance_ratio",
    "Share (0..1) of the interventions of the trailing window delivered within the SLA of their signal",
    ["tenant"],
)


# The most signals one batch of a signal consumer decides (see build()).
SIGNAL_BATCH = 64


def _publish(tenant: str, ratio: float) -> None:
    SLA_COMPLIANCE.labels(tenant=tenant).set(ratio)


class NoWorkload:
    """The delivery port of a context built without a workload identity (a test building it alone):
    every attempt fails with this reason, visibly, on the decision."""

    async def deliver(self, delivery: Delivery) -> Receipt:
        raise Unavailable("no workload identity to call notify with", reason="NO_WORKLOAD")


def build_service(
    deps: Dependencies, deliverer: Deliverer | None = None, teachers: TeacherDirectory | None = None
) -> tuple[InterventionsService, list[JobKind]]:
    """The service and its job kinds: delivery (one decision; a consumed batch's decisions) and the
    teacher lookup of ask_teacher's notes whose signal named no teachers."""
    config = deps.settings_for(InterventionsConfig)
    if deliverer is None and deps.workload is not None:
        deliverer = NotifyDeliverer(
            deps.workload,
            deps.address_of(NOTIFY),
            student_channel=config.student_channel,
            teacher_channels=tuple(c.strip() for c in config.teacher_channels.split(",") if c.strip()),
        )
    if teachers is None and deps.workload is not None:
        teachers = ProgressTeachers(deps.workload, deps.address_of(PROGRESS))
    folder = PolicyFolder(config.policies_dir)
    folder.scan()
    service: InterventionsService
    # Seed FR1.3: three retries after the first attempt, then failed for good. Started by the
    # process that made the decision as soon as it commits (a student's message is on its way).
    deliver = JobKind(
        DELIVER,
        lambda job, session: service.deliver_job(job, session),
        max_attempts=4,
        backoff_base_seconds=1.0,
        backoff_max_seconds=30.0,
        timeout_seconds=30.0,
        start_here=True,
    )
    deliver_batch = replace(
        deliver, name=DELIVER_BATCH, handler=lambda job, session: service.deliver_batch_job(job, session)
    )
    # The teachers are not needed within the SLA of the student's message: progress may be away for
    # minutes (twelve attempts with backoff up to two minutes: about five, at most ten) before a note fails.
    lookup = JobKind(
        TEACHERS,
        lambda job, session: service.teachers_job(job, session),
        max_attempts=12,
        backoff_base_seconds=1.0,
        backoff_max_seconds=120.0,
        timeout_seconds=30.0,
    )
    kinds = [deliver, deliver_batch, lookup]
    service = InterventionsService(
        deps.db,
        deps.outbox,
        config,
        folder=folder,
        jobs=JobQueue("interventions", kinds),
        deliverer=deliverer or NoWorkload(),
        sla=SlaTracker(config.sla_seconds, config.sla_window_seconds, _publish),
        teachers=teachers,
    )
    return service, kinds


async def build(deps: Dependencies) -> Hosted:
    service, kinds = build_service(deps)
    config = service.config

    SignalFrom = Callable[[Any, str, str, datetime], Signal]

    def one_of(signal_from: SignalFrom) -> Callable[[Event, AsyncConnection], Awaitable[None]]:
        """A consumer's handler of one event: its signal, and the work.session signals the student's
        work session crossed with it (track_work first: its row lock comes before evaluation's)."""

        async def handle(event: Event, session: AsyncConnection) -> None:
            signal = signal_from(event.message, event.id, require_tenant(event), datetime.now(UTC))
            produced = await service.track_work(session, [signal])
            await service.evaluate(signal, session=session)
            for work in produced:
                await service.evaluate(work, session=session)

        return handle

    def batch_of(signal_from: SignalFrom) -> BatchHandler:
        """A consumer's batch handler: the batch's signals, and the work.session signals their work
        sessions crossed, decided set-based (track_work, then evaluate_batch)."""

        async def handle(events: list[Event], session: AsyncConnection) -> None:
            now = datetime.now(UTC)
            signals = [signal_from(e.message, e.id, require_tenant(e), now) for e in events]
            in_force = await service.in_force(session, require_tenant(events[0]))  # read once for both
            signals += await service.track_work(session, signals, in_force)
            await service.evaluate_batch(session, signals, in_force)

        return handle

    def runs(
        handler: Callable[[Event, AsyncConnection], Awaitable[None]],
    ) -> Callable[[Event, AsyncConnection], Awaitable[None]]:
        """sandbox.executed without a workload's own runs (tutoring validating an exercise): nobody's
        signal, nobody's work."""

        async def handle(event: Event, session: AsyncConnection) -> None:
            if not is_workload(event.message.user_id):
                await handler(event, session)

        return handle

    def batch_runs(handler: BatchHandler) -> BatchHandler:
        async def handle(events: list[Event], session: AsyncConnection) -> None:
            students = [e for e in events if not is_workload(e.message.user_id)]
            if students:
                await handler(students, session)

        return handle

    on_struggle = one_of(convert.signal_from_struggle)
    on_run = runs(one_of(convert.signal_from_sandbox))
    on_hint = one_of(convert.signal_from_hint)
    on_unclear = one_of(convert.signal_from_unclear)

    async def on_user(event: Event, session: AsyncConnection) -> None:
        user = event.message.user
        await service.set_student(session, require_tenant(event), user.id, user.time_zone, user.display_name)

    async def on_deliveries(events: list[Event], session: AsyncConnection) -> None:
        """notify's outcomes of a consumed batch (or one event: the fallback), set-based."""
        now = datetime.now(UTC)
        outcomes = [convert.outcome_from_notify(e.subject, e.message, now) for e in events]
        await service.delivery_outcomes(session, [o for o in outcomes if o is not None])

    async def on_delivery(event: Event, session: AsyncConnection) -> None:
        await on_deliveries([event], session)

    def ours(event: Event) -> bool:
        """An outcome of one of our decisions' messages (not mtss's, not a teacher's direct message)."""
        return convert.outcome_from_notify(event.subject, event.message, datetime.now(UTC)) is not None

    async def watch() -> None:
        service.folder.scan()
        service.sla.refresh()

    return Hosted(
        servicers=[
            (
                interventions_service_pb2_grpc.add_InterventionsServiceServicer_to_server,
                InterventionsApi(service),
            )
        ],
        consumers=[
            # Each signal consumer decides one batch at a time, of whatever has arrived (up to 64):
            # when the process is busy, batches grow and a signal costs less, and a batch finishes
            # sooner than four interleaved ones would (at 100 signals/s: p95 58-75 ms against
            # 116 ms with four batches of 16 at once; docs/performance.md, session 6). Replicas still
            # decide concurrently: the student's row lock keeps the cap exact.
            ConsumerSpec(
                "interventions-struggle",
                "PROGRESS",
                "struggle.detected",
                on_struggle,
                batch_handler=batch_of(convert.signal_from_struggle),
                burst=SIGNAL_BATCH,
                in_flight=1,
            ),
            ConsumerSpec(
                "interventions-sandbox-executed",
                "SANDBOX",
                "sandbox.executed",
                on_run,
                batch_handler=batch_runs(batch_of(convert.signal_from_sandbox)),
                burst=SIGNAL_BATCH,
                in_flight=1,
            ),
            # tutoring's flow: hints given and unclear questions (ask_teacher's signals).
            ConsumerSpec(
                "interventions-hints",
                "TUTORING",
                "tutoring.hint_requested",
                on_hint,
                batch_handler=batch_of(convert.signal_from_hint),
                burst=SIGNAL_BATCH,
                in_flight=1,
            ),
            ConsumerSpec(
                "interventions-unclear-questions",
                "TUTORING",
                "tutoring.question_unclear",
                on_unclear,
                batch_handler=batch_of(convert.signal_from_unclear),
                burst=SIGNAL_BATCH,
                in_flight=1,
            ),
            ConsumerSpec("interventions-identity-users", "IDENTITY", "identity.user.*", on_user),
            # One batch at a time (in_flight 1): a decision's sent must be applied before its read.
            ConsumerSpec(
                "interventions-notify-deliveries",
                "NOTIFY",
                "notify.delivery.*",
                on_delivery,
                batch_handler=on_deliveries,
                wants=ours,
            ),
        ],
        # Every replica watches its own copy of the folder (a ConfigMap volume in Kubernetes).
        periodic=[Periodic("interventions-policies-watch", config.reload_seconds, watch)],
        jobs=kinds,
    )


CONTEXT = ContextSpec(
    name="interventions",
    services=(SERVICE,),
    build=build,
    streams=(StreamSpec("INTERVENTIONS", ("interventions.>",)),),
    settings=InterventionsConfig,
    # notify: the messages; progress: the students' teachers (ListStudentTeachers, granted to this
    # workload only), so the generated NetworkPolicy lets this context reach both.
    calls=(NOTIFY, PROGRESS),
    deploy=DeployTraits(
        # The policies every tenant starts with, as a ConfigMap mounted where the watcher looks: an
        # operator edits them with kubectl or a kustomize overlay and they are in force within a
        # second, no new image, no restart (docs/interventions.md, "In Kubernetes").
        folders=(
            FolderMount(
                folder="policies",
                setting="INTERVENTIONS_POLICIES_DIR",
                mount_path=POLICIES_MOUNT,
                patterns=PATTERNS,
                exclude=("README*",),
                why="the default intervention policies, hot-reloaded",
            ),
        ),
    ),
)
