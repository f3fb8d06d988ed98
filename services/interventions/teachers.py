"""Who teaches a student: progress's ListStudentTeachers, for ask_teacher's note to the student's
teachers when the signal it was decided on named none (tutoring's hint and unclear-question events:
tutoring does not know the student's classes).

The lookup is never on the decision's path: the decision commits with a teacher-lookup job
(service.teachers_job), which asks progress once for all the students of the decisions it carries
and then enqueues their delivery. progress unreachable → the job retries with backoff; the student's
own message is decided and delivered meanwhile (docs/interventions.md, "Teachers of tutoring's
signals")."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Protocol

from learnflow.progress.v1 import progress_service_pb2, progress_service_pb2_grpc

from services.runtime.calls import mesh_call
from services.runtime.errors import Unavailable
from services.runtime.workload import WorkloadIdentity

# ListStudentTeachers takes at most this many students a call (its protovalidate rule).
PER_CALL = 1000
TIMEOUT = 10.0


class TeacherDirectory(Protocol):
    """Each student's teachers; students in no class are absent. Raises Unavailable when the answer
    may come later (retry), anything else when it will not."""

    async def teachers_of(self, tenant_id: str, student_ids: Sequence[str]) -> dict[str, tuple[str, ...]]: ...


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class ProgressTeachers:
    """TeacherDirectory over progress's ListStudentTeachers (internal; progress grants it to
    interventions' workload only), one call for up to PER_CALL students. A transient failure is
    raised as Unavailable, progress's refusal as FailedPrecondition (services/runtime/calls.py)."""

    def __init__(self, workload: WorkloadIdentity, progress_addr: str):
        self.workload = workload
        self.stub = progress_service_pb2_grpc.ProgressServiceStub(workload.channel(progress_addr))

    async def teachers_of(self, tenant_id: str, student_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        # Classes hold user ids (UUIDs): an EvaluateSignal's free-form student id is in no class.
        wanted = sorted({s.lower() for s in student_ids if _is_uuid(s)})
        found: dict[str, tuple[str, ...]] = {}
        if not wanted:
            return found
        metadata = await self.workload.metadata(tenant_id)
        for start in range(0, len(wanted), PER_CALL):
            reply = await mesh_call(
                "progress ListStudentTeachers",
                self.stub.ListStudentTeachers(
                    progress_service_pb2.ListStudentTeachersRequest(
                        student_ids=wanted[start : start + PER_CALL]
                    ),
                    metadata=metadata,
                    timeout=TIMEOUT,
                ),
            )
            for s in reply.students:
                found[s.student_id.lower()] = tuple(t.lower() for t in s.teacher_ids)
        return found


class NoDirectory:
    """The directory of a context built without a workload identity (a test building it alone):
    every lookup fails, visibly, and the job retries it until its attempts are spent."""

    async def teachers_of(self, tenant_id: str, student_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        raise Unavailable("no workload identity to call progress with", reason="NO_WORKLOAD")
