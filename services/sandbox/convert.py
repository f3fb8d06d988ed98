"""The one place where the sandbox's domain objects and its protobuf messages meet."""

from __future__ import annotations

from learnflow.sandbox.v1 import resources_pb2 as pb

from services.sandbox import domain
from services.sandbox.diagnosis import Diagnosis, Verdict
from services.sandbox.domain import Exercise, RequestedLimits, TestCase

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


def exercise_to_proto(exercise: Exercise, hidden_total: int) -> pb.Exercise:
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
        hidden_case_count=hidden_total,
    )
    if exercise.created_at:
        msg.create_time.FromDatetime(exercise.created_at)
    return msg
