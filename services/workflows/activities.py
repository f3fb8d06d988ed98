"""The activities the workflow (workflow.py) schedules: one step of a run, and a run's end.

Each step attempt writes down its state for the API (running, then succeeded / retrying / failed, with
output, error and timings) and its usage — the step, and each third-party HTTP request it made — in
the usage ledger, keyed by (run, step, attempt), so a write repeated by a retry records nothing more.
Errors are translated for Temporal's retry policy: a request that can never succeed (bad input, a 4xx
from the provider, a template that does not render) is non-retryable; a provider's Retry-After
becomes the next retry's delay; anything else is retried with exponential backoff.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from jinja2 import TemplateError as JinjaError
from prometheus_client import Counter, Histogram
from temporalio import activity
from temporalio.exceptions import ApplicationError

from services.runtime import audit, request_context
from services.runtime.db import Database
from services.runtime.errors import DomainError, NotFound, Unavailable
from services.runtime.events.outbox import Outbox
from services.runtime.outbound import RetryableResponse
from services.workflows import convert, store
from services.workflows.clients import TOKENS, MeshCalls, NotifyCalls
from services.workflows.domain import analysis, templates
from services.workflows.domain.runs import FAILED, RETRYING, SUCCEEDED
from services.workflows.notion import CALLS, DESTINATION, Notion
from services.workflows.registry import Registry
from services.workflows.workflow import FINISH_RUN, RECORD_MIGRATION, RUN_STEP

log = logging.getLogger(__name__)

# The seed's cross-system metrics (FR 9): one count and one duration per call a step makes to another
# system — a context over gRPC (research) or a third party over HTTP (Notion) — by capability and outcome.
CROSS_SYSTEM_CALLS = Counter(
    "cross_system_calls_total", "Calls a workflow step made to another system", ["capability", "outcome"]
)
CROSS_SYSTEM_SECONDS = Histogram(
    "cross_system_call_duration_seconds",
    "Duration of a workflow step's call to another system",
    ["capability"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
STEPS = Counter(
    "workflows_steps_total", "Workflow step attempts by step type and outcome", ["type", "outcome"]
)
RUNS_FINISHED = Counter(
    "workflows_runs_finished_total", "Workflow runs ended, by template and status", ["template", "status"]
)
_TRANSIENT_DOMAIN = (Unavailable,)
MODEL_TOKENS = "model_tokens"
# The step types that call another system, and the capability each call is counted under.
_CAPABILITY = {"research": "research", "notion_page": "notion.page", "slack_message": "notify.send"}


def _non_retryable(exc: BaseException) -> bool:
    if isinstance(exc, JinjaError):
        return True
    return isinstance(exc, DomainError) and not isinstance(exc, _TRANSIENT_DOMAIN)


class Activities:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        calls: MeshCalls,
        registry: Registry,
        notion: Notion,
        env: Mapping[str, str],
        max_attempts: int,
        notify: NotifyCalls | None = None,
        slack_template: str = "",
    ):
        self.db = db
        self.outbox = outbox
        self.calls = calls
        self.registry = registry
        self.notion = notion
        self.env = dict(env)
        self.max_attempts = max_attempts
        self.notify = notify
        self.slack_template = slack_template

    @activity.defn(name=RUN_STEP)
    async def run_step(self, data: dict[str, Any]) -> dict[str, Any]:
        run, step = data["run"], data["step"]
        attempt = activity.info().attempt
        tenant = run["tenant_id"]
        ctx = request_context.RequestContext(
            run["correlation_id"], tenant_id=tenant, rpc=f"workflow:{step['id']}"
        )
        with request_context.bind(ctx):
            async with self.db.transaction(tenant) as session:
                await store.step_started(session, run["id"], step["id"], attempt)
            made: list[tuple[str, str, int]] = []
            token = CALLS.set(made)
            # A local activity cannot heartbeat (its worker runs the workflow too: Temporal watches that).
            local = activity.info().is_local
            beating = asyncio.create_task(_heartbeat(data["heartbeat_seconds"] / 3, local))
            try:
                rendered = templates.render(step["input"], run["input"], data["outputs"], self.env)
                output = await self._execute(step["type"], rendered, run, step["id"])
            except Exception as exc:
                final = _non_retryable(exc) or attempt >= self.max_attempts
                status = FAILED if final else RETRYING
                await self._record(run, step, attempt, status, None, f"{type(exc).__name__}: {exc}", made)
                log.warning(
                    "workflow step failed",
                    extra={
                        "run": run["id"],
                        "step": step["id"],
                        "attempt": attempt,
                        "error": repr(exc),
                        "final": final,
                    },
                )
                STEPS.labels(step["type"], "failed" if final else "retried").inc()
                raise _for_temporal(exc) from exc
            finally:
                beating.cancel()
                CALLS.reset(token)
            spent = output.pop(TOKENS, None)
            await self._record(run, step, attempt, SUCCEEDED, output, "", made, spent)
            STEPS.labels(step["type"], "ok").inc()
            log.info("workflow step done", extra={"run": run["id"], "step": step["id"], "attempt": attempt})
            return output

    async def _execute(
        self, kind: str, given: dict[str, Any], run: dict[str, Any], step_id: str
    ) -> dict[str, Any]:
        capability = _CAPABILITY.get(kind)
        if capability is None:
            return await self._step(kind, given, run, step_id)
        began = time.perf_counter()
        outcome = "error"
        try:
            found = await self._step(kind, given, run, step_id)
            outcome = "ok"
            return found
        finally:
            CROSS_SYSTEM_CALLS.labels(capability, outcome).inc()
            CROSS_SYSTEM_SECONDS.labels(capability).observe(time.perf_counter() - began)

    async def _step(
        self, kind: str, given: dict[str, Any], run: dict[str, Any], step_id: str
    ) -> dict[str, Any]:
        if kind == "research":
            try:
                providers = self.registry.discover("research")
            except NotFound as exc:  # a provider may (re)register: worth retrying
                raise Unavailable(exc.message, reason="CAPABILITY_UNAVAILABLE") from exc
            return await self.calls.research(
                providers,
                run["tenant_id"],
                run["correlation_id"],
                str(given.get("topic", "")),
                str(given.get("difficulty", "")),
                int(given.get("max_sources") or 0),
            )
        if kind == "analysis":
            topic, summary = str(given.get("topic", "")), str(given.get("summary", ""))
            points = str(given.get("key_points", ""))
            found = analysis.analyse(topic, summary, points)
            by_model = await self._analyse_by_model(run, topic, summary, points)
            if by_model is not None:
                return {**by_model, "reading_minutes": found.reading_minutes}
            return {
                "headline": found.headline,
                "takeaways": list(found.takeaways),
                "reading_minutes": found.reading_minutes,
                "produced_by": found.produced_by,
            }
        if kind == "notion_page":
            page = await self.notion.create_page(
                str(given.get("parent_id", "")),
                str(given.get("title", "")),
                str(given.get("content", "")),
                key=f"{run['id']}/{step_id}",
            )
            return {"page_id": page.page_id, "url": page.url, "blocks": page.blocks}
        if kind == "slack_message" and self.notify is not None:
            topic = str(run["input"].get("topic", ""))
            return await self.notify.send(
                run["tenant_id"],
                run["user_id"],
                "slack",
                self.slack_template,
                {
                    "text": str(given.get("text", "")),
                    "channel": str(given.get("channel", "")),
                    "topic": topic,
                },
                key=f"{run['id']}/{step_id}",
            )
        raise ApplicationError(
            f"step type {kind} is not available here", type="FailedPrecondition", non_retryable=True
        )

    async def _analyse_by_model(
        self, run: dict[str, Any], topic: str, summary: str, points: str
    ) -> dict[str, Any] | None:
        """The analysis through the model (tutoring's `analysis` capability), or None — no provider,
        no model configured, or no provider answered — and the step analyses offline, which its
        output's `produced_by` says (the reason is logged)."""
        try:
            providers = self.registry.discover("analysis")
        except NotFound:
            return None
        try:
            return await self.calls.analyse(providers, run["tenant_id"], topic, summary, points)
        except Unavailable as exc:  # CapabilityCallFailed: every provider tried and failed
            log.warning("analysis offline: the model gave no answer", extra={"error": exc.message})
            return None

    async def _record(
        self,
        run: dict[str, Any],
        step: dict[str, Any],
        attempt: int,
        status: str,
        output: dict[str, Any] | None,
        error: str,
        made: list[tuple[str, str, int]],
        spent: dict[str, Any] | None = None,
    ) -> None:
        tenant, run_id, user = run["tenant_id"], run["id"], run["user_id"]
        base = f"{run_id}/{step['id']}/{attempt}"
        outcome = {SUCCEEDED: "ok", RETRYING: "retried"}.get(status, "failed")
        async with self.db.transaction(tenant) as session:
            await store.step_ended(session, run_id, step["id"], status, output, error[:4000])
            await store.record_usage(
                session, key=f"{base}/step", tenant_id=tenant, user_id=user, run_id=run_id,
                kind="step", subject=step["type"], outcome=outcome,
            )  # fmt: skip
            for i, (_method, _path, code) in enumerate(made):
                await store.record_usage(
                    session, key=f"{base}/call/{i}", tenant_id=tenant, user_id=user, run_id=run_id,
                    kind="third_party_call", subject=DESTINATION,
                    outcome="ok" if 0 < code < 400 else f"http_{code}" if code else "transport_error",
                )  # fmt: skip
            # The tokens the model spent on the step, as the provider reported them (research through
            # tutoring), prompt and completion apart: what a tenant's model bill is made of.
            spent = spent or {}
            for part in ("prompt", "completion"):
                units = int(spent.get(part) or 0)
                if units > 0:
                    await store.record_usage(
                        session, key=f"{base}/tokens/{part}", tenant_id=tenant, user_id=user,
                        run_id=run_id, kind=MODEL_TOKENS, subject=f"{spent.get('model') or '?'}/{part}",
                        outcome="ok", units=units,
                    )  # fmt: skip

    @activity.defn(name=FINISH_RUN)
    async def finish_run(self, data: dict[str, Any]) -> None:
        run = data["run"]
        tenant = run["tenant_id"]
        ctx = request_context.RequestContext(run["correlation_id"], tenant_id=tenant, rpc="workflow:finish")
        with request_context.bind(ctx):
            await self._finish(data, run, tenant)

    async def _finish(self, data: dict[str, Any], run: dict[str, Any], tenant: str) -> None:
        async with self.db.transaction(tenant) as session:
            await store.run_finished(session, run["id"], data["status"], data["step"], data["error"])
            first = await store.record_usage(
                session, key=f"{run['id']}/run/{data['status']}", tenant_id=tenant, user_id=run["user_id"],
                run_id=run["id"], kind="run", subject=run["template"], outcome=data["status"],
            )  # fmt: skip
            # The end is written once: an attempt repeated (a worker that died after committing, before
            # Temporal heard of it) finds its usage row and publishes no second event.
            finished = await store.get_run(session, run["id"]) if first else None
            if finished is not None:
                await self.outbox.stage(
                    session, "workflows.run.finished", convert.run_finished_event(finished)
                )
        if first:
            RUNS_FINISHED.labels(run["template"], data["status"]).inc()
        log.info("workflow run finished", extra={"run": run["id"], "status": data["status"]})

    @activity.defn(name=RECORD_MIGRATION)
    async def record_migration(self, data: dict[str, Any]) -> None:
        """A run's move to another version of its template (the migrate update, once the workflow has
        checked it): the run's version and plan, its steps' rows, and the audit record in the same
        transaction — in the name of who asked. A repeat (a retried attempt) writes nothing more."""
        run, plan = data["run"], data["plan"]
        tenant = run["tenant_id"]
        who = request_context.Principal(subject=data["requested_by"] or "system:workflows", tenant_id=tenant)
        ctx = request_context.RequestContext(
            run["correlation_id"], principal=who, tenant_id=tenant, rpc="workflow:migrate"
        )
        order = [(s["id"], s["type"]) for group in plan["groups"] for s in group]
        with request_context.bind(ctx):
            async with self.db.transaction(tenant) as session:
                moved = await store.migrate_run(
                    session, run["id"], tenant, data["from_version"], plan,
                    [(sid, kind, i) for i, (sid, kind) in enumerate(order)],
                )  # fmt: skip
                if moved:
                    await audit.record(
                        self.outbox, session, "workflow_run.migrated", f"workflow_runs/{run['id']}",
                        before={"template": run["template"], "template_version": data["from_version"]},
                        after={
                            "template": run["template"], "template_version": plan["version"],
                            "steps": [sid for sid, _ in order], "kept": data["kept"],
                        },
                        reason="acknowledged" if data["acknowledged"] else "",
                    )  # fmt: skip
        log.info(
            "workflow run migrated",
            extra={"run": run["id"], "from": data["from_version"], "to": plan["version"], "recorded": moved},
        )


async def _heartbeat(every: float, local: bool) -> None:
    """Tells Temporal the attempt is alive (a slow step is not a dead worker). The first beat comes
    after `every`, not at the start: Temporal's heartbeat timeout runs from the attempt's start, so a
    worker that dies at once is noticed all the same, and a step shorter than `every` (most are)
    sends none — each beat is a request the Temporal server writes down."""
    while not local:
        await asyncio.sleep(every)
        activity.heartbeat()


def _for_temporal(exc: BaseException) -> BaseException:
    if _non_retryable(exc):
        return ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True)
    if isinstance(exc, RetryableResponse) and exc.retry_after:
        return ApplicationError(
            str(exc), type=type(exc).__name__, next_retry_delay=timedelta(seconds=exc.retry_after)
        )
    return ApplicationError(str(exc) or type(exc).__name__, type=type(exc).__name__)
