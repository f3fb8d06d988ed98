"""The Temporal workflow that runs any template: deterministic code only.

This module is loaded into Temporal's workflow sandbox and replayed from history: it imports nothing
but temporalio and the standard library's pure parts, reads no clock, environment or network, and
starts no asyncio primitives of its own (sdk-python #429, #1578: asyncio.wait/gather break replay).
tests/workflows/unit/test_determinism.py lints it for those calls; the replay test replays a recorded
history of each template against it.

The template's definition comes in the run's input (its plan), so a template edited or deployed while a
run is in flight never changes that run. Each step is one activity ("workflows.run_step") with
timeouts and a retry policy with exponential backoff; the steps of a `parallel` group are scheduled
together and awaited in order (awaiting handles in a fixed order is deterministic, and they still run
at the same time). A failure or a cancel is written down by "workflows.finish_run".
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, is_cancelled_exception

WORKFLOW_NAME = "learnflow.workflows.TemplateRun"
RUN_STEP = "workflows.run_step"
FINISH_RUN = "workflows.finish_run"
# Errors a retry cannot fix: the activity raises them as non-retryable; listed here as well so a
# mistaken retryable one is not retried either.
NON_RETRYABLE = ["InvalidArgument", "TerminalResponse", "FailedPrecondition", "TemplateError"]


def _retry(plan: dict[str, Any]) -> RetryPolicy:
    r = plan["retry"]
    return RetryPolicy(
        initial_interval=timedelta(seconds=r["initial_seconds"]),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=r["maximum_seconds"]),
        maximum_attempts=r["attempts"],
        non_retryable_error_types=NON_RETRYABLE,
    )


def _cause(exc: BaseException) -> str:
    cause = exc.cause if isinstance(exc, ActivityError) and exc.cause is not None else exc
    return str(cause) or type(cause).__name__


@workflow.defn(name=WORKFLOW_NAME)
class TemplateRun:
    @workflow.run
    async def run(self, plan: dict[str, Any]) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        timeout = timedelta(seconds=plan["step_timeout_seconds"])
        heartbeat = timedelta(seconds=plan["heartbeat_seconds"])
        retry = _retry(plan)
        current = ""
        try:
            for group in plan["groups"]:
                handles = [
                    (step["id"], self._start(plan, step, outputs, timeout, heartbeat, retry))
                    for step in group
                ]
                for step_id, handle in handles:
                    current = step_id
                    try:
                        outputs[step_id] = await handle
                    except BaseException:
                        for _, other in handles:  # the group's other branches are not wanted any more
                            other.cancel()
                        raise
        except (ActivityError, asyncio.CancelledError) as exc:
            cancelled = is_cancelled_exception(exc)
            await self._finish(plan, "cancelled" if cancelled else "failed", current, _cause(exc))
            if cancelled:
                raise
            return {"status": "failed", "step": current, "error": _cause(exc)}
        await self._finish(plan, "succeeded", "", "")
        return {"status": "succeeded", "outputs": outputs}

    @staticmethod
    def _start(
        plan: dict[str, Any],
        step: dict[str, Any],
        outputs: dict[str, Any],
        timeout: timedelta,
        heartbeat: timedelta,
        retry: RetryPolicy,
    ) -> Any:
        arg = {
            "run": plan["run"],
            "step": step,
            "outputs": dict(outputs),
            "heartbeat_seconds": plan["heartbeat_seconds"],
        }
        if plan.get("local_activities"):
            # A local activity runs in the worker that runs the workflow, recorded as one marker: less
            # than half the Temporal server's work per run (bench/workflows_runs.py). The price: a cancel
            # reaches the run only between workflow tasks (a running step finishes first), and a dead
            # worker's step is noticed at the workflow task timeout rather than by a missed heartbeat.
            return workflow.start_local_activity(
                RUN_STEP, arg, start_to_close_timeout=timeout, retry_policy=retry, activity_id=step["id"]
            )
        return workflow.start_activity(
            RUN_STEP,
            arg,
            start_to_close_timeout=timeout,
            # A worker that dies mid-step is noticed within this, not the whole timeout.
            heartbeat_timeout=heartbeat,
            schedule_to_close_timeout=timeout * 10,
            retry_policy=retry,
            activity_id=step["id"],
        )

    async def _finish(self, plan: dict[str, Any], status: str, step: str, error: str) -> None:
        arg = {"run": plan["run"], "status": status, "step": step, "error": error[:2000]}
        retry = RetryPolicy(maximum_interval=timedelta(seconds=10))
        if plan.get("local_activities"):
            await workflow.execute_local_activity(
                FINISH_RUN, arg, start_to_close_timeout=timedelta(seconds=30), retry_policy=retry
            )
            return
        await workflow.execute_activity(
            FINISH_RUN, arg, start_to_close_timeout=timedelta(seconds=30), retry_policy=retry
        )
