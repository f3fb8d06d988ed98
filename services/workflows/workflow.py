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
at the same time). The run's end — success, failure or cancel — is written down by
"workflows.finish_run", a local activity (_finish says why).

A run moves to a newer version of its template only when asked (the "migrate" update, sent by
MigrateWorkflowRun): the validator refuses, naming each problem, unless every step that has run or is
running is in the new version with the same type, no new step comes before them, and what the new
version's steps read of their outputs is there (`incompatibilities`, pure: the same answer on replay).
Accepted, the update records the move ("workflows.record_migration": the run's rows and the audit
record) and the run goes on from its next group as the new version defines it. The run loop never
starts a group while a move is being recorded, so the steps a move was checked against are the steps
that ran.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

WORKFLOW_NAME = "learnflow.workflows.TemplateRun"
RUN_STEP = "workflows.run_step"
FINISH_RUN = "workflows.finish_run"
RECORD_MIGRATION = "workflows.record_migration"
MIGRATE = "migrate"
# The plan's flag under which a run's end is recorded by a local activity (_finish). Set for every run
# the service starts; runs started before it existed keep the regular activity their history records.
FINISH_LOCAL = "finish_local"
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


def _positions(plan: dict[str, Any]) -> dict[str, tuple[int, dict[str, Any]]]:
    return {step["id"]: (g, step) for g, group in enumerate(plan["groups"]) for step in group}


def _next_group(plan: dict[str, Any], outputs: dict[str, Any]) -> list[dict[str, Any]]:
    """The first group with a step that has not run, without the steps that have (after a move to
    another version a group may be partly done); [] when every step has run."""
    for group in plan["groups"]:
        left = [step for step in group if step["id"] not in outputs]
        if left:
            return left
    return []


def incompatibilities(
    plan: dict[str, Any],
    target: dict[str, Any],
    started: list[str],
    outputs: dict[str, Any],
    acknowledge: bool,
) -> list[dict[str, str]]:
    """Why the run of `plan`, whose steps `started` have run (their `outputs`) or are running, cannot
    go on as `target` (a version's groups and, per step, the outputs it reads: "reads"); each problem
    as a field violation of MigrateWorkflowRun. [] when it can."""
    version, problems = target["version"], []

    def problem(field: str, text: str) -> None:
        problems.append({"field": field, "description": text})

    if version == plan["version"]:
        problem("to_version", f"the run is on version {version} already")
        return problems
    old, new = _positions(plan), _positions(target)
    for sid in started:
        if sid not in new:
            problem(
                "to_version", f"step {sid} has run (or is running) and version {version} has no step {sid}"
            )
        elif new[sid][1]["type"] != old[sid][1]["type"]:
            problem(
                "to_version",
                f"step {sid} has run as {old[sid][1]['type']}; version {version} makes it "
                f"{new[sid][1]['type']}, whose output is another",
            )
        elif new[sid][1]["input"] != old[sid][1]["input"] and not acknowledge:
            problem(
                "acknowledge",
                f"step {sid} has run with the input of version {plan['version']}, which version {version} "
                "changes; its output would be kept as it is",
            )
    last = max((new[sid][0] for sid in started if sid in new), default=-1)
    for sid, (group, _) in new.items():
        if sid not in started and group < last:
            problem("to_version", f"version {version} puts step {sid} before steps that have run")
    for sid, reads in sorted(target.get("reads", {}).items()):
        if sid in started or sid not in new:
            continue
        for source, name in reads:
            if source in outputs and name not in (outputs[source] or {}):
                problem(
                    "to_version",
                    f"step {sid} of version {version} reads steps.{source}.output.{name}, which the "
                    f"output step {source} gave does not have",
                )
    dropped = [sid for sid in old if sid not in new and sid not in started]
    if dropped and not acknowledge:
        problem("acknowledge", f"version {version} has no step {', '.join(dropped)}: they would not run")
    return problems


@workflow.defn(name=WORKFLOW_NAME)
class TemplateRun:
    @workflow.init
    def __init__(self, plan: dict[str, Any]) -> None:
        # The run's state, kept on the instance so that the migrate update reads what the run loop did.
        self._plan = plan
        self._outputs: dict[str, Any] = {}
        self._running: list[str] = []  # the steps of the group in flight that have not finished
        self._moving = False  # a move to another version is being recorded: no group starts meanwhile
        self._ending = False

    @workflow.run
    async def run(self, plan: dict[str, Any]) -> dict[str, Any]:
        outputs = self._outputs
        timeout = timedelta(seconds=plan["step_timeout_seconds"])
        heartbeat = timedelta(seconds=plan["heartbeat_seconds"])
        retry = _retry(plan)
        current = ""
        try:
            while True:
                if self._moving:
                    await workflow.wait_condition(lambda: not self._moving)
                group = _next_group(self._plan, outputs)
                if not group:
                    break
                handles = [
                    (step["id"], self._start(self._plan, step, outputs, timeout, heartbeat, retry))
                    for step in group
                ]
                self._running = [step_id for step_id, _ in handles]
                for step_id, handle in handles:
                    current = step_id
                    try:
                        outputs[step_id] = await handle
                    except BaseException:
                        for _, other in handles:  # the group's other branches are not wanted any more
                            other.cancel()
                        raise
                    self._running.remove(step_id)
        except (ActivityError, asyncio.CancelledError) as exc:
            self._ending = True
            cancelled = is_cancelled_exception(exc)
            await self._finish(self._plan, "cancelled" if cancelled else "failed", current, _cause(exc))
            if cancelled:
                raise
            return {"status": "failed", "step": current, "error": _cause(exc)}
        self._ending = True
        await self._finish(self._plan, "succeeded", "", "")
        return {"status": "succeeded", "outputs": outputs}

    def _refusal(self, target: dict[str, Any]) -> ApplicationError | None:
        if self._ending:
            return ApplicationError("the run has no step left to run", type="FailedPrecondition")
        if self._moving:
            return ApplicationError("the run is being moved to another version", type="FailedPrecondition")
        started = [*self._outputs, *self._running]
        problems = incompatibilities(
            self._plan, target, started, self._outputs, bool(target.get("acknowledge"))
        )
        if problems:
            return ApplicationError(
                f"the run cannot go on as version {target['version']}", problems, type="InvalidArgument"
            )
        return None

    @workflow.update(name=MIGRATE)
    async def migrate(self, target: dict[str, Any]) -> dict[str, Any]:
        # Checked again here: the validator does not run on replay, and the run may have moved on
        # between the validation and this handler's first step.
        refused = self._refusal(target)
        if refused is not None:
            raise refused
        self._moving = True
        try:
            plan = {
                **self._plan,
                "version": target["version"],
                "groups": target["groups"],
                "run": {**self._plan["run"], "version": target["version"]},
            }
            arg = {
                "run": plan["run"],
                "plan": plan,
                "from_version": self._plan["version"],
                "kept": sorted(self._outputs),
                "requested_by": target.get("requested_by", ""),
                "acknowledged": bool(target.get("acknowledge")),
            }
            retry = RetryPolicy(maximum_interval=timedelta(seconds=10))
            if plan.get("local_activities"):
                await workflow.execute_local_activity(
                    RECORD_MIGRATION, arg, start_to_close_timeout=timedelta(seconds=30), retry_policy=retry
                )
            else:
                await workflow.execute_activity(
                    RECORD_MIGRATION, arg, start_to_close_timeout=timedelta(seconds=30), retry_policy=retry
                )
            self._plan = plan
        finally:
            self._moving = False
        return {"version": target["version"], "kept": arg["kept"]}

    @migrate.validator
    def _validate_migrate(self, target: dict[str, Any]) -> None:
        refused = self._refusal(target)
        if refused is not None:
            raise refused

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
        """Writes down the run's end ("workflows.finish_run": the run's row, its usage, the event) as
        a local activity: it is the workflow's own bookkeeping — one PostgreSQL transaction, no third
        party, nothing a cancel should interrupt — and as a regular activity it cost the Temporal
        server a fourth of a run's work (schedule, dispatch, start, complete, and one more workflow
        task: docs/performance.md). Runs started before the plan carried FINISH_LOCAL keep the
        regular activity, as their history records it. (A flag in the run's input rather than
        `workflow.patched`: a patch also upserts a search attribute, one more event and visibility
        write on the server for every run.)"""
        arg = {"run": plan["run"], "status": status, "step": step, "error": error[:2000]}
        retry = RetryPolicy(maximum_interval=timedelta(seconds=10))
        if plan.get("local_activities") or plan.get(FINISH_LOCAL):
            await workflow.execute_local_activity(
                FINISH_RUN, arg, start_to_close_timeout=timedelta(seconds=30), retry_policy=retry
            )
            return
        await workflow.execute_activity(
            FINISH_RUN, arg, start_to_close_timeout=timedelta(seconds=30), retry_policy=retry
        )
