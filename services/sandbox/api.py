"""SandboxService over gRPC: proto in (convert.py), one service call, proto out (convert.py)."""

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
        return convert.execution_to_proto(execution)

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
        return convert.grade_to_proto(grade)
