"""tutoring's calls to other contexts, as its workload on behalf of one tenant (runtime/workload.py):
the sandbox runs a student's code and validates generated exercises; progress tells the student's
mastery level per topic."""

from __future__ import annotations

from dataclasses import dataclass

from learnflow.progress.v1 import progress_service_pb2, progress_service_pb2_grpc
from learnflow.progress.v1 import resources_pb2 as progress_pb
from learnflow.sandbox.v1 import resources_pb2 as sandbox_pb
from learnflow.sandbox.v1 import sandbox_service_pb2, sandbox_service_pb2_grpc

from services.runtime.calls import mesh_call
from services.runtime.workload import WorkloadIdentity
from services.tutoring.domain.exercises import GeneratedExercise
from services.tutoring.domain.review import RunResult

TIMEOUT = 15.0  # a run is at most the sandbox's 10 s maximum plus queueing
# A callee that is down, busy or not ready yet: worth retrying later. Anything else is an answer.


@dataclass(frozen=True)
class Grade:
    passed: int
    total: int


class MeshCalls:
    def __init__(self, workload: WorkloadIdentity, sandbox_addr: str, progress_addr: str):
        self.workload = workload
        self.sandbox = sandbox_service_pb2_grpc.SandboxServiceStub(workload.channel(sandbox_addr))
        self.progress = progress_service_pb2_grpc.ProgressServiceStub(workload.channel(progress_addr))

    async def run(
        self, tenant_id: str, student_id: str, code: str, request_id: str, wall_time_ms: int = 2000
    ) -> RunResult:
        """Runs the student's code as theirs (on_behalf_of): their rate limit, their sandbox.executed
        — once per request_id, however often a redelivered event runs it."""
        execution = await mesh_call(
            "sandbox Execute",
            self.sandbox.Execute(
                sandbox_service_pb2.ExecuteRequest(
                    code=code,
                    limits=sandbox_pb.Limits(wall_time_ms=wall_time_ms),
                    on_behalf_of=student_id,
                    request_id=request_id,
                ),
                metadata=await self.workload.metadata(tenant_id),
                timeout=TIMEOUT,
            ),
        )
        verdict = sandbox_pb.Verdict.Name(execution.verdict).removeprefix("VERDICT_").lower()
        return RunResult(
            verdict=verdict,
            exception_type=execution.diagnosis.exception_type,
            message=execution.diagnosis.message,
            line=execution.diagnosis.line,
            stdout=execution.stdout[:4000],
        )

    async def mastery_levels(self, tenant_id: str, student_id: str) -> dict[str, str]:
        """Topic -> "attempted" / "familiar" / "proficient" / "mastered"."""
        progress = await mesh_call(
            "progress GetProgress",
            self.progress.GetProgress(
                progress_service_pb2.GetProgressRequest(student_id=student_id),
                metadata=await self.workload.metadata(tenant_id),
                timeout=5,
            ),
        )
        return {
            t.topic: progress_pb.MasteryLevel.Name(t.level).removeprefix("MASTERY_LEVEL_").lower()
            for t in progress.topics
            if t.level
        }

    async def create_exercise(self, tenant_id: str, exercise: GeneratedExercise, request_id: str) -> str:
        """Creates it once per request_id: a redelivered request finds the exercise it created."""
        created = await mesh_call(
            "sandbox CreateExercise",
            self.sandbox.CreateExercise(
                sandbox_service_pb2.CreateExerciseRequest(
                    exercise=sandbox_pb.Exercise(
                        title=exercise.title,
                        prompt=exercise.prompt,
                        topic=exercise.topic,
                        test_cases=[
                            sandbox_pb.TestCase(
                                name=c.name,
                                kind=sandbox_pb.TEST_CASE_KIND_STDIO,
                                stdin=c.stdin,
                                expected_stdout=c.expected_stdout,
                                hidden=c.hidden,
                            )
                            for c in exercise.cases
                        ],
                    ),
                    request_id=request_id,
                ),
                metadata=await self.workload.metadata(tenant_id),
                timeout=TIMEOUT,
            ),
        )
        return created.id

    async def grade(self, tenant_id: str, exercise_id: str, code: str) -> Grade:
        graded = await mesh_call(
            "sandbox GradeSubmission",
            self.sandbox.GradeSubmission(
                sandbox_service_pb2.GradeSubmissionRequest(exercise_id=exercise_id, code=code),
                metadata=await self.workload.metadata(tenant_id),
                timeout=TIMEOUT * 3,
            ),
        )
        return Grade(graded.passed, graded.total)
