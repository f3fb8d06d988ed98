"""SandboxService over gRPC: proto in (convert.py), one service call, proto out (convert.py)."""

from __future__ import annotations

from learnflow.sandbox.v1 import resources_pb2, sandbox_service_pb2
from learnflow.sandbox.v1 import sandbox_service_pb2_grpc as pb_grpc

from services.runtime import request_context
from services.sandbox import convert
from services.sandbox.service import SandboxService

_caller = request_context.require_principal


class SandboxApi(pb_grpc.SandboxServiceServicer):
    def __init__(self, service: SandboxService):
        self.service = service

    async def Execute(
        self, request: sandbox_service_pb2.ExecuteRequest, context: object
    ) -> resources_pb2.Execution:
        execution = await self.service.execute(
            _caller(),
            request.code,
            request.stdin,
            convert.limits_from_proto(request.limits),
            request.exercise_id,
            request.request_id,
            request.on_behalf_of,
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
        return convert.exercise_to_proto(exercise)

    async def GetExercise(
        self, request: sandbox_service_pb2.GetExerciseRequest, context: object
    ) -> resources_pb2.Exercise:
        return convert.exercise_to_proto(await self.service.get_exercise(_caller(), request.exercise_id))

    async def GradeSubmission(
        self, request: sandbox_service_pb2.GradeSubmissionRequest, context: object
    ) -> sandbox_service_pb2.GradeSubmissionResponse:
        grade = await self.service.grade(_caller(), request.exercise_id, request.code, request.request_id)
        return convert.grade_to_proto(grade)
