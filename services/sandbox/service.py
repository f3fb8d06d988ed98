"""The sandbox's use cases: run code, author exercises, grade submissions. Every run is recorded and
published (sandbox.executed) through the outbox; a grade also publishes sandbox.graded."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

from services.runtime import audit
from services.runtime.db import Database, parse_uuid
from services.runtime.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound, Violations
from services.runtime.events.outbox import Outbox
from services.runtime.ratelimit import RateLimiter
from services.runtime.request_context import Principal
from services.sandbox import convert, domain, store
from services.sandbox.diagnosis import Diagnosis, Verdict, check_syntax, diagnose
from services.sandbox.domain import (
    CaseOutcome,
    Execution,
    Exercise,
    GradeResult,
    RequestedLimits,
    RunRecord,
    TestCase,
)
from services.sandbox.engine import Limits, RunResult
from services.sandbox.pool import ExecutionPool

# Namespaces of ids derived from an idempotency key (request_id of Execute, CreateExercise and
# GradeSubmission).
_EXECUTIONS = uuid.UUID("5d0e7f1c-8f7e-4b8e-9d37-2c1f3a4b5e60")
_EXERCISES = uuid.UUID("0b6f4a3e-2d1c-4f5e-8a9b-7c6d5e4f3a21")
_SUBMISSIONS = uuid.UUID("7a2c9e41-5b3d-4f60-9e18-3d4c5b6a7f82")


def _id_for(namespace: uuid.UUID, caller: Principal, request_id: str) -> str:
    """A new id, or with an idempotency key the same id for the same key, tenant and caller."""
    if not request_id:
        return str(uuid.uuid4())
    return str(uuid.uuid5(namespace, f"{caller.tenant_id}:{caller.subject}:{request_id}"))


def _check_request_id(v: Violations, request_id: str) -> None:
    if len(request_id) > 200:
        v.add("request_id", "must be at most 200 characters")


class UserDirectory(Protocol):
    """Whether an id names a user of a tenant (identity, asked by runtime/directory.UserDirectory)."""

    async def is_user(self, tenant_id: str, user_id: str) -> bool: ...


class SandboxService:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        pool: ExecutionPool,
        per_user: RateLimiter,
        per_tenant: RateLimiter,
        users: UserDirectory | None = None,
    ):
        self.db = db
        self.users = users
        self.outbox = outbox
        self.pool = pool
        self.per_user = per_user
        self.per_tenant = per_tenant

    async def _admit(self, caller: Principal, runs: int = 1) -> None:
        """Charges the caller's limits for `runs` runs (a grade: one per test case): the person's
        first, so runs they are refused do not spend the tenant's budget (one person's flood of
        refused grades would otherwise refuse everyone else in the tenant)."""
        # A person's runs are limited per person. A service's own runs (tutoring validating the
        # exercises of a whole class) are limited by the tenant's budget only; a service acting on
        # behalf of a student arrives here as that student.
        if not caller.has_any("service"):
            await self.per_user.take(f"{caller.tenant_id}:{caller.subject}", cost=runs)
        await self.per_tenant.take(caller.tenant_id, cost=runs)

    async def _require_user(self, tenant_id: str, user_id: str) -> None:
        """A service runs code only as a user of its own tenant: the run, its rate limit and its
        sandbox.executed are then that user's. Another tenant's user (or nobody) is refused."""
        if self.users is None:
            raise FailedPrecondition(
                "the sandbox cannot check on_behalf_of without identity", reason="NO_DIRECTORY"
            )
        if not await self.users.is_user(tenant_id, user_id):
            raise InvalidArgument(
                "on_behalf_of must name a user of your tenant",
                [FieldViolation("on_behalf_of", "is not a user of this tenant")],
            )

    async def execute(
        self,
        caller: Principal,
        code: str,
        stdin: str,
        requested: RequestedLimits,
        exercise_id: str = "",
        request_id: str = "",
        on_behalf_of: str = "",
    ) -> Execution:
        caller = domain.on_behalf(caller, on_behalf_of)
        if on_behalf_of:
            await self._require_user(caller.tenant_id, on_behalf_of)
        v = Violations()
        domain.check_code(v, code)
        limits = domain.effective_limits(requested, v)
        if exercise_id and parse_uuid(exercise_id) is None:
            v.add("exercise_id", "must be an exercise id")
        _check_request_id(v, request_id)
        v.raise_if_any()
        if exercise_id:
            await self._exercise(caller, exercise_id)  # exists in the caller's tenant
        await self._admit(caller)
        result = await self.pool.run(
            code,
            stdin,
            Limits(wall_ms=limits.wall_ms, memory_mb=limits.memory_mb, output_bytes=limits.output_bytes),
        )
        # With an idempotency key the id is derived from it (per tenant and caller), so a retry is
        # recorded and announced once.
        execution = Execution(_id_for(_EXECUTIONS, caller, request_id), result, datetime.now(UTC))
        await self._record(
            caller, execution.id, exercise_id, result.verdict, result.diagnosis, result.duration_ms
        )
        return execution

    async def _record(
        self,
        caller: Principal,
        execution_id: str,
        exercise_id: str,
        verdict: Verdict,
        diagnosis: Diagnosis | None,
        duration_ms: int,
        grade: tuple[GradeResult, Exercise] | None = None,
    ) -> None:
        """Records the run and stages sandbox.executed (with a grade's sandbox.graded, in the same
        transaction: both or neither), once per execution id."""
        run = RunRecord(
            execution_id=execution_id,
            tenant_id=caller.tenant_id,
            user_id=caller.subject,
            exercise_id=exercise_id,
            verdict=verdict,
            diagnosis=diagnosis,
            duration_ms=duration_ms,
            occurred_at=datetime.now(UTC),
        )
        async with self.db.transaction(caller.tenant_id) as session:
            if await store.record_execution(session, run):
                await self.outbox.stage(session, "sandbox.executed", convert.executed_event(run))
                if grade is not None:
                    result, exercise = grade
                    graded = convert.graded_event(result, caller.subject, exercise, run.occurred_at)
                    await self.outbox.stage(session, "sandbox.graded", graded)

    async def create_exercise(
        self,
        caller: Principal,
        title: str,
        prompt: str,
        topic: str,
        cases: tuple[TestCase, ...],
        request_id: str = "",
    ) -> Exercise:
        domain.may_author(caller)
        v = Violations()
        domain.check_exercise(v, title, cases)
        _check_request_id(v, request_id)
        v.raise_if_any()
        exercise_id = _id_for(_EXERCISES, caller, request_id)
        exercise = Exercise(exercise_id, caller.tenant_id, title.strip(), prompt, topic.strip(), cases)
        async with self.db.transaction(caller.tenant_id) as session:
            created = await store.insert_exercise(session, exercise, caller.subject)
            if created is None:  # a retry with the same key gets the exercise the first call created
                created = await store.get_exercise(session, exercise_id)
            else:  # recorded once: a retry creates nothing
                await audit.record(
                    self.outbox,
                    session,
                    "exercise.created",
                    f"exercises/{created.id}",
                    after={
                        "title": created.title,
                        "topic": created.topic,
                        "test_cases": len(created.test_cases),
                    },
                )
        if created is None:
            raise FailedPrecondition("request_id was used for another exercise", reason="REQUEST_ID_REUSED")
        return created

    async def get_exercise(self, caller: Principal, exercise_id: str) -> Exercise:
        """The exercise as the caller may see it (hidden cases for authors only)."""
        return (await self._exercise(caller, exercise_id)).seen_by(caller)

    async def _exercise(self, caller: Principal, exercise_id: str) -> Exercise:
        if not exercise_id:
            raise InvalidArgument("exercise_id is required", [FieldViolation("exercise_id", "is required")])
        async with self.db.transaction(caller.tenant_id) as session:
            exercise = await store.get_exercise(session, exercise_id)
        if exercise is None:
            raise NotFound(f"exercise {exercise_id} not found", reason="EXERCISE_NOT_FOUND")
        return exercise

    async def grade(
        self, caller: Principal, exercise_id: str, code: str, request_id: str = ""
    ) -> GradeResult:
        v = Violations()
        domain.check_code(v, code)
        _check_request_id(v, request_id)
        v.raise_if_any()
        exercise = await self._exercise(caller, exercise_id)
        await self._admit(caller, runs=len(exercise.test_cases))
        syntax = check_syntax(code)
        labels = domain.case_labels(exercise.test_cases)  # hidden cases are not named by their content
        if syntax is not None:  # nothing to run: every case fails the same way
            runs: list[tuple[CaseOutcome, Diagnosis | None]] = [
                (
                    CaseOutcome(
                        label,
                        False,
                        c.hidden,
                        Verdict.SYNTAX_ERROR,
                        "" if c.hidden else f"SyntaxError: {syntax.message} at line {syntax.line}",
                        0,
                    ),
                    syntax,
                )
                for c, label in zip(exercise.test_cases, labels, strict=True)
            ]
        else:
            runs = list(
                await asyncio.gather(
                    *(
                        self._run_case(code, case, label)
                        for case, label in zip(exercise.test_cases, labels, strict=True)
                    )
                )
            )
        outcomes = tuple(outcome for outcome, _ in runs)
        passed = sum(1 for o in outcomes if o.passed)
        # A retry with the same key is the same submission (of the same exercise): graded again,
        # recorded and published once.
        submission_id = _id_for(_SUBMISSIONS, caller, f"{exercise_id}:{request_id}" if request_id else "")
        grade = GradeResult(submission_id, passed, len(outcomes), outcomes)
        # One sandbox.executed per submission (not per case, so one mistake is counted once): the
        # first failing case's verdict and diagnosis, cleaned of anything from a hidden test.
        first_failure = next(((o, d) for o, d in runs if not o.passed), None)
        verdict = first_failure[0].verdict if first_failure else Verdict.OK
        diagnosis = first_failure[1] if first_failure else None
        await self._record(
            caller,
            grade.submission_id,
            exercise.id,
            verdict,
            diagnosis,
            sum(o.duration_ms for o in outcomes),
            grade=(grade, exercise),
        )
        return grade

    async def _run_case(
        self, submission: str, case: TestCase, label: str
    ) -> tuple[CaseOutcome, Diagnosis | None]:
        limits = Limits()
        if case.kind == domain.STDIO:
            result = await self.pool.run(submission, case.stdin, limits)
            difference = domain.first_difference(case.expected_stdout, result.stdout)
            passed = result.verdict == Verdict.OK and not difference
            if result.verdict != Verdict.OK:
                difference = _describe(result)
            diagnosis = result.diagnosis
        else:
            result = await self.pool.run(domain.assert_program(submission, case.code), "", limits)
            passed = result.verdict == Verdict.OK
            # Where it failed: the submission's own line when the error came from it, else the test's
            # line (shown for visible cases only; events never carry a test's location or text).
            diagnosis = diagnose(result.stderr, submission, domain.SOLUTION_FILE)
            if passed:
                difference = ""
            elif diagnosis is not None and diagnosis.line:
                difference = _describe_diagnosis(diagnosis, result.verdict)
            else:
                difference = _describe(result)
            if diagnosis is not None and not diagnosis.line:
                diagnosis = replace(diagnosis, message="", source_line="")
        outcome = CaseOutcome(
            label,
            passed,
            case.hidden,
            result.verdict,
            "" if case.hidden or passed else difference,
            result.duration_ms,
        )
        return outcome, diagnosis


def _describe(result: RunResult) -> str:
    return _describe_diagnosis(result.diagnosis, result.verdict)


def _describe_diagnosis(d: Diagnosis | None, verdict: Verdict) -> str:
    if d is None:
        return verdict.value.lower().replace("_", " ")
    where = f" at line {d.line}: {d.source_line.strip()}" if d.line else ""
    return f"{d.exception_type}: {d.message}{where}".strip()
