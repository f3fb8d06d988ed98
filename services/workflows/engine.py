"""Temporal, as the service layer needs it: start a run's workflow (its id is the run id, so a start
repeated after a crash finds the one already started), cancel it, and the worker that executes the
workflow and the activities in this process."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from services.runtime.errors import FailedPrecondition, FieldViolation, InvalidArgument, Unavailable
from services.workflows.workflow import MIGRATE, WORKFLOW_NAME, TemplateRun

# How long MigrateWorkflowRun waits for the run's worker to check and record a move.
MIGRATE_TIMEOUT = timedelta(seconds=30)


class Engine:
    """Connects on first use (and again after a failed connect), so the service starts while Temporal
    is still coming up or away; a call meanwhile is UNAVAILABLE, and the worker (supervised) retries."""

    def __init__(self, address: str, namespace: str, task_queue: str, sticky_timeout_seconds: float = 10.0):
        self.address = address
        self.sticky_timeout = timedelta(seconds=sticky_timeout_seconds)
        self.namespace = namespace
        self.task_queue = task_queue
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    try:
                        self._client = await Client.connect(
                            self.address,
                            namespace=self.namespace,
                            # OpenTelemetry across Temporal: the trigger's span is the parent of the
                            # workflow's, whose activities' spans parent their calls (Temporal headers).
                            interceptors=[TracingInterceptor()],
                        )
                    except RuntimeError as exc:  # the SDK's connection failure
                        raise Unavailable(f"Temporal at {self.address} is not reachable: {exc}") from exc
        return self._client

    async def start(self, run_id: str, plan: dict[str, Any]) -> None:
        try:
            client = await self.client()
            await client.start_workflow(
                WORKFLOW_NAME,
                plan,
                id=run_id,
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                # The worker in this process (same client) takes the run's first workflow task from
                # the start's answer, when it has a free slot: one trip through Temporal's matching
                # less (the dev server enables it: runtime/local/temporald.py); otherwise as usual.
                request_eager_start=True,
            )
        except WorkflowAlreadyStartedError:
            return  # started by an earlier call for the same run
        except RPCError as exc:
            raise Unavailable(f"Temporal did not start the run: {exc}") from exc

    async def cancel(self, run_id: str) -> None:
        try:
            # Bounded: a cancel is a person waiting behind the gateway's 15 s, Temporal away or not.
            await (await self.client()).get_workflow_handle(run_id).cancel(rpc_timeout=timedelta(seconds=5))
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise FailedPrecondition(f"run {run_id} is not running", reason="RUN_NOT_RUNNING") from exc
            raise Unavailable(f"Temporal did not cancel the run: {exc}") from exc

    async def migrate(self, run_id: str, target: dict[str, Any]) -> dict[str, Any]:
        """Sends the run the "migrate" update and waits until the move is recorded (or refused: the
        workflow's reasons as field violations, INVALID_ARGUMENT; a run with nothing left to move,
        FAILED_PRECONDITION)."""
        handle = (await self.client()).get_workflow_handle(run_id)
        try:
            done: dict[str, Any] = await handle.execute_update(MIGRATE, target, rpc_timeout=MIGRATE_TIMEOUT)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type == "InvalidArgument":
                found = cause.details[0] if cause.details else []
                raise InvalidArgument(
                    cause.message,
                    [FieldViolation(v["field"], v["description"]) for v in found],
                    reason="MIGRATION_INCOMPATIBLE",
                ) from exc
            if isinstance(cause, ApplicationError) and cause.type == "FailedPrecondition":
                raise FailedPrecondition(cause.message, reason="RUN_NOT_MIGRATABLE") from exc
            raise Unavailable(f"the run did not take the move: {cause}") from exc
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise FailedPrecondition(f"run {run_id} is not running", reason="RUN_NOT_RUNNING") from exc
            raise Unavailable(f"Temporal did not deliver the move: {exc}") from exc
        return done

    async def worker(self, activities: list[Any]) -> Worker:
        return Worker(
            await self.client(),
            task_queue=self.task_queue,
            workflows=[TemplateRun],
            activities=activities,
            max_concurrent_activities=200,
            # Unsandboxed: Temporal's sandbox imports the workflow module afresh for every run (and
            # compiles it, with no bytecode written: PYTHONDONTWRITEBYTECODE in the image) and proxies
            # the standard library the workflow touches: a fifth of the worker's Python per run
            # (docs/performance.md). What the sandbox guards is guarded before a deploy instead: the
            # lint of the workflow module (tests/workflows/unit/test_determinism.py) and the replay of
            # recorded and fresh histories, in the sandbox (tests/workflows/integration/test_replay.py).
            workflow_runner=UnsandboxedWorkflowRunner(),
            # A run's workflow tasks go to the worker that has it cached (its sticky queue); when that
            # worker died, this long passes before another worker takes them.
            sticky_queue_schedule_to_start_timeout=self.sticky_timeout,
        )
