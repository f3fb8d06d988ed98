"""Who teaches a student: the port (its client over progress's ListStudentTeachers is
clients.ProgressTeachers), for ask_teacher's note to the student's teachers when the signal it was
decided on named none (tutoring's hint and unclear-question events: tutoring does not know the
student's classes).

The lookup is never on the decision's path: the decision commits with a teacher-lookup job
(service.teachers_job), which asks progress once for all the students of the decisions it carries
and then enqueues their delivery. progress unreachable → the job retries with backoff; the student's
own message is decided and delivered meanwhile (docs/interventions.md, "Teachers of tutoring's
signals").

The same port answers whether a teacher calling EvaluateSignal or ListDecisions teaches the student
(service.may_act_on: progress's rule, docs/interventions.md "Who sees whom"); that lookup is on the
request's path, and progress away makes the request UNAVAILABLE."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.runtime.errors import Unavailable


class TeacherDirectory(Protocol):
    """Each student's teachers; students in no class are absent. Raises Unavailable when the answer
    may come later (retry), anything else when it will not."""

    async def teachers_of(self, tenant_id: str, student_ids: Sequence[str]) -> dict[str, tuple[str, ...]]: ...


class NoDirectory:
    """The directory of a context built without a workload identity (a test building it alone):
    every lookup fails, visibly, and the job retries it until its attempts are spent."""

    async def teachers_of(self, tenant_id: str, student_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        raise Unavailable("no workload identity to call progress with", reason="NO_WORKLOAD")
