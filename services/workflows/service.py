"""workflows's use cases. Each opens one unit of work, applies the domain rules, writes through the
store and returns domain objects. Runs execute on Temporal (engine.py); this layer starts and cancels
them, and reads what the activities wrote down."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime import pagination
from services.runtime.db import Database
from services.runtime.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unavailable,
)
from services.runtime.jobs import Job, JobKind, JobQueue
from services.runtime.ratelimit import Limit, SharedRateLimiter
from services.runtime.registry import Registration
from services.runtime.request_context import Principal
from services.runtime.workload import SUBJECT_PREFIX, is_workload
from services.workflows import store
from services.workflows.catalog import TemplateFolder
from services.workflows.domain.runs import CANCELLED, RUNNING, Run, StepRun, UsageRow
from services.workflows.domain.templates import Template
from services.workflows.engine import Engine
from services.workflows.registry import Registry
from services.workflows.settings import WorkflowsConfig
from services.workflows.workflow import FINISH_LOCAL

WATCH_POLL_SECONDS = 0.2
START_RUN = "workflows.start_run"
ADMIN = "admin"
SERVICE = "service"


class WorkflowsService:
    def __init__(
        self,
        db: Database,
        config: WorkflowsConfig,
        templates: TemplateFolder,
        engine: Engine,
        limiter: SharedRateLimiter,
        registry: Registry,
        registry_ttl: float,
        jobs: JobQueue | None = None,
    ):
        self.db = db
        self.config = config
        self.templates = templates
        self.engine = engine
        self.limiter = limiter
        self.registry = registry
        self.registry_ttl = registry_ttl
        self.jobs = jobs or JobQueue("workflows", [self.start_kind()])
        self.per_user = Limit(config.runs_per_user_per_hour / 3600.0, config.runs_per_user_per_hour)
        self.per_tenant = Limit(config.runs_per_tenant_per_hour / 3600.0, config.runs_per_tenant_per_hour)
        self.daily_quota = Limit(config.tenant_daily_quota / 86400.0, config.tenant_daily_quota)

    # --- runs ------------------------------------------------------------------------------------------

    def start_kind(self) -> JobKind:
        """Starting a run on Temporal: a durable job written with the run (runtime/jobs.py), run by
        this process as soon as that commits. A crash between the two, or Temporal away, leaves the
        job to be taken over or retried (WORKFLOWS_START_ATTEMPTS, up to eight minutes); the run is never left
        "running" unknown to Temporal, nor started twice (the workflow id is the run's id)."""
        return JobKind(
            START_RUN,
            self.start_job,
            max_attempts=self.config.start_attempts,
            backoff_base_seconds=1.0,
            backoff_max_seconds=60.0,
            timeout_seconds=30.0,
            start_here=True,
        )

    async def start_job(self, job: Job, session: AsyncConnection) -> None:
        run = await store.get_run(session, job.payload["run_id"])
        if run is None or run.finished:
            return  # cancelled (or finished) before it started: nothing to start
        try:
            await self.engine.start(run.id, run.plan)
        except Unavailable as exc:
            if not job.last_attempt:
                raise
            # Temporal did not take it in all the attempts: the run is written down as failed, not
            # left "running" for ever.
            await store.run_finished(session, run.id, "failed", "", f"not started: {exc.message}")
            return
        # A cancel that came while it was starting (it ended the run, the workflow did not exist
        # yet): honoured now that it does. The row lock, taken only now (never across the start),
        # orders this with a cancel deciding whether the start is still pending (_end_unstarted).
        now = await store.get_run(session, run.id, for_update=True)
        if now is not None and now.status == CANCELLED:
            with contextlib.suppress(FailedPrecondition, Unavailable):
                await self.engine.cancel(run.id)

    def list_templates(self) -> list[Template]:
        return sorted(self.templates.catalog.templates.values(), key=lambda t: t.name)

    async def trigger(
        self, caller: Principal, name: str, given: dict[str, str], idempotency_key: str, correlation_id: str
    ) -> Run:
        template = self.templates.catalog.get(name)
        run_input = template.check_input(given)
        key = idempotency_key.strip() or None
        tenant = caller.tenant_id
        if key:
            async with self.db.transaction(tenant) as session:
                existing = await store.run_by_key(session, key)
            if existing is not None:
                return await self._resume(caller, existing)
        await self._admit(caller)
        run_id = str(uuid.uuid4())
        plan = self._plan(template, run_id, caller, run_input, correlation_id)
        new = Run(
            id=run_id,
            tenant_id=tenant,
            template=template.name,
            template_version=template.version,
            status=RUNNING,
            input=run_input,
            plan=plan,
            idempotency_key=key,
            created_by=caller.subject,
            correlation_id=correlation_id,
            steps=tuple(StepRun(s.id, s.type, i) for i, s in enumerate(template.steps)),
        )
        async with self.db.transaction(tenant) as session:
            made = await store.insert_run(session, new)
            if made is None:  # the same key, a moment ago, from another request
                existing = await store.run_by_key(session, key or "")
            else:
                await store.record_usage(
                    session, key=f"{run_id}/run/started", tenant_id=tenant, user_id=caller.subject,
                    run_id=run_id, kind="run", subject=template.name, outcome="started",
                )  # fmt: skip
                # Started on Temporal by a job committed with the run (start_kind).
                await self.jobs.enqueue(session, START_RUN, {"run_id": run_id}, key=run_id, tenant_id=tenant)
        if made is None:
            assert existing is not None
            return await self._resume(caller, existing)
        return made

    async def _resume(self, caller: Principal, run: Run) -> Run:
        """A repeated key: the first run, as it stands (its start job, committed with it, starts it).
        Keys are unique per tenant, but a run is its creator's: another user's key answers
        ALREADY_EXISTS, not their run (whose input and outputs get_run would not show them)."""
        if not _sees_every_run(caller) and run.created_by != caller.subject:
            raise AlreadyExists(
                "this idempotency key was used for another user's run; use a key of your own",
                reason="IDEMPOTENCY_KEY_TAKEN",
            )
        return run

    async def _admit(self, caller: Principal) -> None:
        """The model tokens the user and the tenant spent today (the ledger), then the user's and the
        tenant's hourly rate and the tenant's daily quota, in one round trip (SharedRateLimiter: token
        buckets in PostgreSQL shared by every replica; the quota is a bucket of a day's runs refilled
        over the day). Tokens are known only once a step has spent them, so the limit refuses the next
        run rather than stopping one midway."""
        tenant = caller.tenant_id
        async with self.db.transaction(tenant) as session:
            user_tokens, tenant_tokens = await store.tokens_spent(session, caller.subject)
        for who, spent, allowed in (
            ("user", user_tokens, self.config.model_tokens_per_user_per_day),
            ("tenant", tenant_tokens, self.config.tenant_daily_model_tokens),
        ):
            if spent >= allowed:
                wait = _seconds_to_midnight()
                raise ResourceExhausted(
                    f"this {who}'s runs spent {spent} model tokens today, the limit is {allowed}; "
                    f"try again after midnight UTC",
                    reason="MODEL_TOKENS_EXCEEDED",
                    metadata={"retry_after_seconds": f"{wait:.0f}", "limit": f"{who}_model_tokens"},
                )
        decisions = await self.limiter.take_all(
            [
                (f"workflows:user:{tenant}:{caller.subject}", self.per_user),
                (f"workflows:tenant:{tenant}", self.per_tenant),
                (f"workflows:quota:{tenant}", self.daily_quota),
            ]
        )
        for who, decision in zip(("user", "tenant", "quota"), decisions, strict=True):
            if decision.allowed:
                continue
            message = (
                f"the tenant's quota of {self.config.tenant_daily_quota} runs a day is spent"
                if who == "quota"
                else f"too many workflow runs for this {who}"
            )
            raise ResourceExhausted(
                f"{message}; try again in {decision.retry_after:.0f} s",
                reason="QUOTA_EXCEEDED" if who == "quota" else "RATE_LIMITED",
                metadata={"retry_after_seconds": f"{max(decision.retry_after, 1):.0f}", "limit": who},
            )

    def _plan(
        self,
        template: Template,
        run_id: str,
        caller: Principal,
        run_input: dict[str, str],
        correlation_id: str,
    ) -> dict[str, Any]:
        c = self.config
        return {
            **template.plan(),
            "run": {
                "id": run_id,
                "tenant_id": caller.tenant_id,
                "user_id": caller.subject,
                "correlation_id": correlation_id,
                "template": template.name,
                "version": template.version,
                "input": run_input,
            },
            "step_timeout_seconds": c.step_timeout_seconds,
            "heartbeat_seconds": c.heartbeat_seconds,
            "local_activities": c.local_activities,
            FINISH_LOCAL: True,  # the run's end as a local activity (workflow.TemplateRun._finish)
            "retry": {
                "initial_seconds": c.retry_initial_seconds,
                "maximum_seconds": c.retry_maximum_seconds,
                "attempts": c.step_attempts,
            },
        }

    async def get_run(self, caller: Principal, run_id: str) -> Run:
        """The run, if the caller may see it: its creator, an admin or a service (a workload, a
        service account). Anyone else's run is NOT_FOUND like a run that does not exist, so a user
        learns nothing of other users' runs, not even that they exist."""
        async with self.db.transaction(caller.tenant_id) as session:
            run = await store.get_run(session, run_id)
        if run is None or (not _sees_every_run(caller) and run.created_by != caller.subject):
            raise NotFound(f"run {run_id} not found", reason="RUN_NOT_FOUND")
        return run

    async def list_runs(
        self, caller: Principal, page_size: int, page_token: str, template: str, status: str
    ) -> tuple[list[Run], str]:
        size = pagination.page_size(page_size, default=self.config.default_page_size)
        position = pagination.decode_token(page_token, t=datetime, i=uuid.UUID)
        after = (position["t"], str(position["i"])) if position else None
        # A user lists their own runs; admins and services the tenant's.
        created_by = "" if _sees_every_run(caller) else caller.subject
        async with self.db.transaction(caller.tenant_id) as session:
            found = await store.list_runs(
                session, limit=size + 1, after=after, template=template, status=status,
                created_by=created_by,
            )  # fmt: skip
        token = ""
        if len(found) > size:
            last = found[size - 1]
            assert last.created_at is not None
            token = pagination.encode_token({"t": last.created_at.isoformat(), "i": last.id})
        return found[:size], token

    async def cancel(self, caller: Principal, run_id: str) -> Run:
        run = await self.get_run(caller, run_id)
        # A run whose start job has not started it yet (Temporal away, say) ends here, without
        # Temporal: the job, finding it ended, starts nothing, and one starting it right now cancels
        # what it started (start_job). Otherwise the cancel goes to Temporal.
        if not run.finished and not await self._end_unstarted(caller, run.id):
            await self.engine.cancel(run.id)
        return await self.get_run(caller, run_id)

    async def _end_unstarted(self, caller: Principal, run_id: str) -> bool:
        """Ends the run if its start job has not started it (under the run's row lock, which a job
        that has just started it holds until it is done); whether it did."""
        async with self.db.transaction(caller.tenant_id) as session:
            run = await store.get_run(session, run_id, for_update=True)
            if run is None or run.finished or not await store.start_pending(session, run_id, START_RUN):
                return False
            await store.run_finished(session, run_id, CANCELLED, "", "cancelled before it started")
            return True

    async def migrate(self, caller: Principal, run_id: str, to_version: str, acknowledge: bool) -> Run:
        """Moves a run still going to its template's current version (workflow.py checks the steps it
        has run against it, and records the move and its audit record before answering)."""
        run = await self.get_run(caller, run_id)  # another user's run: NOT_FOUND
        if run.created_by != caller.subject and not caller.has_any(ADMIN):
            raise PermissionDenied("only the run's creator or an admin moves a run", reason="NOT_RUN_OWNER")
        if run.finished:
            raise FailedPrecondition(f"run {run_id} has ended ({run.status})", reason="RUN_NOT_RUNNING")
        template = self.templates.catalog.templates.get(run.template)
        if template is None:
            raise InvalidArgument(
                "no such template any more",
                [FieldViolation("to_version", f"this service has no template {run.template} any more")],
            )
        if to_version != template.version:
            said = (
                "is the version the run is on"
                if to_version == run.template_version
                else "is not a version this service has"
            )
            raise InvalidArgument(
                f"cannot move run {run_id} to {to_version}",
                [
                    FieldViolation(
                        "to_version",
                        f"{to_version} {said}; a run moves to its template's current version, "
                        f"{template.version}",
                    )
                ],
            )
        await self.engine.migrate(
            run.id,
            {
                "version": template.version,
                "groups": template.plan()["groups"],
                "reads": template.reads(),
                "acknowledge": acknowledge,
                "requested_by": caller.subject,
            },
        )
        return await self.get_run(caller, run_id)

    async def watch(self, caller: Principal, run_id: str, max_wait_seconds: int) -> AsyncIterator[Run]:
        """The run now, then each time a step changes, until it ends or the wait is over."""
        deadline = time.monotonic() + (max_wait_seconds or 60)
        last: Any = None
        while True:
            run = await self.get_run(caller, run_id)
            seen = (run.status, tuple((s.status, s.attempts) for s in run.steps))
            if seen != last:
                last = seen
                yield run
            if run.finished or time.monotonic() >= deadline:
                return
            await asyncio.sleep(WATCH_POLL_SECONDS)

    # --- usage -----------------------------------------------------------------------------------------

    async def usage(self, caller: Principal, from_day: str, to_day: str, user_id: str) -> list[UsageRow]:
        v: list[FieldViolation] = []
        first, last = _day(from_day, "from_day", v), _day(to_day, "to_day", v)
        if v:
            raise InvalidArgument("bad days", v)
        if last < first:
            raise InvalidArgument(
                "to_day is before from_day", [FieldViolation("to_day", "is before from_day")]
            )
        who = caller.subject if user_id == "me" else user_id
        if who != caller.subject and not caller.has_any(ADMIN):
            raise PermissionDenied("only an admin reads other users' usage", reason="ADMIN_ONLY")
        async with self.db.transaction(caller.tenant_id) as session:
            return await store.usage_rows(session, first, last, who)

    # --- the registry ----------------------------------------------------------------------------------

    async def register(
        self, caller: Principal, capability: str, version: str, context: str, address: str, instance: str,
        limits: dict[str, str],
    ) -> Registration:  # fmt: skip
        """A workload of the mesh (re)registering one of its own capabilities. The registry is one for
        every tenant and research steps call what it names with the tenant's workload token, so a
        tenant's service account (role service too) must not write to it: only a workload token, for
        its own context, under an instance of that context (Registrar's "<context>@<address>/...";
        the entry's key is per instance, so another context's instance would overwrite its entry)."""
        workload = caller.subject.removeprefix(SUBJECT_PREFIX) if is_workload(caller.subject) else ""
        if not workload:
            raise PermissionDenied(
                "only a workload of the mesh registers capabilities", reason="WORKLOADS_ONLY"
            )
        if context != workload or not instance.startswith(f"{context}@"):
            raise PermissionDenied(
                f"workload {workload} registers only its own capabilities: context {workload!r} and "
                f"an instance starting with {workload + '@'!r}",
                reason="NOT_OWN_REGISTRATION",
                metadata={"workload": workload, "context": context},
            )
        return await self.registry.register(
            Registration(
                capability, version, context, address, instance, limits, self.registry_ttl, time.time()
            )
        )

    def discover(self, capability: str) -> list[Registration]:
        return self.registry.discover(capability)

    def capabilities(self) -> list[Registration]:
        return self.registry.live()


def _sees_every_run(caller: Principal) -> bool:
    """Admins and services (workloads, service accounts) see and cancel every run of their tenant;
    other users only their own."""
    return caller.has_any(ADMIN, SERVICE)


def _seconds_to_midnight() -> float:
    now = datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    return max(1.0, (midnight - now).total_seconds())


def _day(value: str, name: str, problems: list[FieldViolation]) -> date:
    if not value:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(FieldViolation(name, "a day as YYYY-MM-DD"))
        return datetime.now(UTC).date()
