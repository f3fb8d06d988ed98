"""SandboxService over gRPC: proto in, domain call, proto out."""

from __future__ import annotations

from dataclasses import replace

from learnflow.sandbox.v1 import resources_pb2, sandbox_service_pb2
from learnflow.sandbox.v1 import sandbox_service_pb2_grpc as pb_grpc

from services.runtime import request_context
from services.runtime.errors import PermissionDenied
from services.runtime.request_context import Principal
from services.sandbox import convert
from services.sandbox.service import SandboxService

_caller = request_context.require_principal


def on_behalf(caller: Principal, user_id: str) -> Principal:
    """A service may run code as one of its tenant's users (tutoring reviewing a student's code)."""
    if not user_id:
        return caller
    if not caller.has_any("service"):
        raise PermissionDenied("only services may run code on behalf of a user", reason="NOT_A_SERVICE")
    # The run is then the user's: their rate limit, their event; none of the service's roles.
    return replace(caller, subject=user_id, roles=frozenset())


class SandboxApi(pb_grpc.SandboxServiceServicer):
    def __init__(self, service: SandboxService):
        self.service = service

    async def Execute(
        self, request: sandbox_service_pb2.ExecuteRequest, context: object
    ) -> resources_pb2.Execution:
        execution = await self.service.execute(
            on_behalf(_caller(), request.on_behalf_of),
            request.code,
            request.stdin,
            convert.limits_from_proto(request.limits),
            request.exercise_id,
            request.request_id,
        )
        r = execution.result
        msg = resources_pb2.Execution(
            id=execution.id,
            verdict=convert.verdict_to_proto(r.verdict),
            stdout=r.stdout,
            stderr=r.stderr,
            stdout_truncated=r.stdout_truncated,
            stderr_truncated=r.stderr_truncated,
            exit_code=r.exit_code,
            duration_ms=r.duration_ms,
            diagnosis=convert.diagnosis_to_proto(r.diagnosis),
        )
        msg.create_time.FromDatetime(execution.created_at)
        return msg

    async def CreateExercise(
        self, request: sandbox_service_pb2.CreateExerciseRequest, context: object
    ) -> resources_pb2.Exercise:
        e = request.exercise
        exercise = await self.service.create_exercise(
            _caller(),
            e.title,
            e.prompt,
            e.topic,
            tuple(convert.case_from_proto(c) for c in e.test_cases),
            request.request_id,
        )
        return convert.exercise_to_proto(exercise, exercise.hidden_count)

    async def GetExercise(
        self, request: sandbox_service_pb2.GetExerciseRequest, context: object
    ) -> resources_pb2.Exercise:
        caller = _caller()
        exercise = await self.service.get_exercise(caller, request.exercise_id)
        return convert.exercise_to_proto(exercise.seen_by(caller), exercise.hidden_count)

    async def GradeSubmission(
        self, request: sandbox_service_pb2.GradeSubmissionRequest, context: object
    ) -> sandbox_service_pb2.GradeSubmissionResponse:
        grade = await self.service.grade(_caller(), request.exercise_id, request.code)
        return sandbox_service_pb2.GradeSubmissionResponse(
            submission_id=grade.submission_id,
            score=grade.score,
            passed=grade.passed,
            total=grade.total,
            cases=[
                resources_pb2.CaseResult(
                    name=o.name,
                    passed=o.passed,
                    hidden=o.hidden,
                    verdict=convert.verdict_to_proto(o.verdict),
                    first_difference=o.first_difference,
                    duration_ms=o.duration_ms,
                )
                for o in grade.cases
            ],
        )
