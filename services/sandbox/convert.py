"""The one place where the sandbox's domain objects and its protobuf messages meet: requests in,
resources out, and the events the service layer stages (it calls the `*_event` functions and hands
the message to the outbox unopened)."""

from __future__ import annotations

from datetime import datetime

from learnflow.sandbox.v1 import events_pb2
from learnflow.sandbox.v1 import resources_pb2 as pb
from learnflow.sandbox.v1 import sandbox_service_pb2 as api_pb

from services.sandbox import domain
from services.sandbox.diagnosis import Diagnosis, Verdict
from services.sandbox.domain import (
    CaseOutcome,
    Execution,
    Exercise,
    GradeResult,
    RequestedLimits,
    RunRecord,
    TestCase,
)

_KIND_TO_PROTO = {domain.STDIO: pb.TEST_CASE_KIND_STDIO, domain.ASSERT: pb.TEST_CASE_KIND_ASSERT}
_KIND_FROM_PROTO = {v: k for k, v in _KIND_TO_PROTO.items()}


def verdict_to_proto(verdict: Verdict) -> pb.Verdict.ValueType:
    return pb.Verdict.Value(f"VERDICT_{verdict.value}")


def diagnosis_to_proto(diagnosis: Diagnosis | None) -> pb.Diagnosis | None:
    if diagnosis is None:
        return None
    return pb.Diagnosis(
        exception_type=diagnosis.exception_type,
        message=diagnosis.message,
        line=diagnosis.line,
        source_line=diagnosis.source_line,
    )


def limits_from_proto(limits: pb.Limits) -> RequestedLimits:
    return RequestedLimits(limits.wall_time_ms, limits.memory_mb, limits.output_bytes)


def case_from_proto(case: pb.TestCase) -> TestCase:
    return TestCase(
        name=case.name,
        kind=_KIND_FROM_PROTO.get(case.kind, "unspecified"),
        stdin=case.stdin,
        expected_stdout=case.expected_stdout,
        code=case.code,
        hidden=case.hidden,
    )


def exercise_to_proto(exercise: Exercise) -> pb.Exercise:
    msg = pb.Exercise(
        id=exercise.id,
        title=exercise.title,
        prompt=exercise.prompt,
        topic=exercise.topic,
        test_cases=[
            pb.TestCase(
                name=c.name,
                kind=_KIND_TO_PROTO[c.kind],
                stdin=c.stdin,
                expected_stdout=c.expected_stdout,
                code=c.code,
                hidden=c.hidden,
            )
            for c in exercise.test_cases
        ],
        hidden_case_count=exercise.hidden_count,
    )
    if exercise.created_at:
        msg.create_time.FromDatetime(exercise.created_at)
    return msg


def execution_to_proto(execution: Execution) -> pb.Execution:
    r = execution.result
    msg = pb.Execution(
        id=execution.id,
        verdict=verdict_to_proto(r.verdict),
        stdout=r.stdout,
        stderr=r.stderr,
        stdout_truncated=r.stdout_truncated,
        stderr_truncated=r.stderr_truncated,
        exit_code=r.exit_code,
        duration_ms=r.duration_ms,
        diagnosis=diagnosis_to_proto(r.diagnosis),
    )
    msg.create_time.FromDatetime(execution.created_at)
    return msg


def case_outcome_to_proto(outcome: CaseOutcome) -> pb.CaseResult:
    return pb.CaseResult(
        name=outcome.name,
        passed=outcome.passed,
        hidden=outcome.hidden,
        verdict=verdict_to_proto(outcome.verdict),
        first_difference=outcome.first_difference,
        duration_ms=outcome.duration_ms,
    )


def grade_to_proto(grade: GradeResult) -> api_pb.GradeSubmissionResponse:
    return api_pb.GradeSubmissionResponse(
        submission_id=grade.submission_id,
        score=grade.score,
        passed=grade.passed,
        total=grade.total,
        cases=[case_outcome_to_proto(o) for o in grade.cases],
    )


# --- events out ------------------------------------------------------------------------------------


def executed_event(run: RunRecord) -> events_pb2.SandboxExecuted:
    event = events_pb2.SandboxExecuted(
        execution_id=run.execution_id,
        user_id=run.user_id,
        exercise_id=run.exercise_id,
        verdict=verdict_to_proto(run.verdict),
        diagnosis=diagnosis_to_proto(run.diagnosis),
        duration_ms=run.duration_ms,
    )
    event.occur_time.FromDatetime(run.occurred_at)
    return event


def graded_event(
    grade: GradeResult, user_id: str, exercise: Exercise, at: datetime
) -> events_pb2.SubmissionGraded:
    event = events_pb2.SubmissionGraded(
        submission_id=grade.submission_id,
        user_id=user_id,
        exercise_id=exercise.id,
        topic=exercise.topic,
        score=grade.score,
        passed=grade.passed,
        total=grade.total,
    )
    event.occur_time.FromDatetime(at)
    return event
