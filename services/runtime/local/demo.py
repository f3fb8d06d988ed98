"""The demo class of the embedded local mesh: "Demo Class", taught by teacher@demo.test, with
student@demo.test in it, so the README's struggle-alert walk-through shows an alert in the teacher's
list (three NameErrors of the student → one repeated_error alert for the student's teachers).

identity seeds the demo tenant and its users in its on_start (services/identity/seed.py). A class
belongs to progress, and the runtime imports no context (tests/contracts/test_architecture.py), so
the class is made here, after the server serves, the way any client would: log in through identity's
API as the demo admin and call progress's CreateClass. Whatever rule progress applies to who may set
a class's members applies to the seed too.

Idempotent without a lookup RPC: the class exists when the demo teacher may already read the demo
student's progress (progress allows a teacher that only for the students of their classes), so a
second `make up` on the same .data/ finds it and makes no second class.
"""

from __future__ import annotations

import logging

import grpc
from learnflow.identity.v1 import identity_service_pb2 as id_pb
from learnflow.identity.v1 import identity_service_pb2_grpc as id_grpc
from learnflow.progress.v1 import progress_service_pb2 as pr_pb
from learnflow.progress.v1 import progress_service_pb2_grpc as pr_grpc
from learnflow.progress.v1 import resources_pb2 as pr_resources

log = logging.getLogger(__name__)

# The demo tenant identity seeds (services/identity/seed.py; written twice because the runtime may
# not import a context: a test logs in with these on the embedded mesh, so a drift fails there).
DEMO_TENANT = "demo"
DEMO_PASSWORD = "learnflow-demo"
DEMO_ADMIN = "admin@demo.test"
DEMO_TEACHER = "teacher@demo.test"
DEMO_STUDENT = "student@demo.test"
DEMO_CLASS = "Demo Class"


class DemoSeedError(RuntimeError):
    """The demo class could not be made; the message says which call failed and why."""


def seed_demo_class(grpc_addr: str, timeout: float = 10) -> bool:
    """Makes the demo class unless it exists; True when this call made it."""
    with grpc.insecure_channel(grpc_addr) as channel:
        identity = id_grpc.IdentityServiceStub(channel)
        progress = pr_grpc.ProgressServiceStub(channel)

        def login(email: str) -> id_pb.LoginResponse:
            try:
                reply: id_pb.LoginResponse = identity.Login(
                    id_pb.LoginRequest(tenant=DEMO_TENANT, email=email, password=DEMO_PASSWORD),
                    timeout=timeout,
                )
            except grpc.RpcError as err:
                raise DemoSeedError(f"demo class: cannot log in as {email}: {_describe(err)}") from err
            return reply

        admin, teacher, student = login(DEMO_ADMIN), login(DEMO_TEACHER), login(DEMO_STUDENT)
        try:
            progress.GetProgress(
                pr_pb.GetProgressRequest(student_id=student.user.id),
                metadata=_bearer(teacher),
                timeout=timeout,
            )
            return False  # the teacher already teaches the student: seeded on an earlier start
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.PERMISSION_DENIED:
                raise DemoSeedError(f"demo class: cannot check for it: {_describe(err)}") from err
        klass = pr_resources.StudentClass(
            name=DEMO_CLASS, teacher_ids=[teacher.user.id], student_ids=[student.user.id]
        )
        try:
            made = progress.CreateClass(
                pr_pb.CreateClassRequest(**{"class": klass}), metadata=_bearer(admin), timeout=timeout
            )
        except grpc.RpcError as err:
            raise DemoSeedError(f"demo class: CreateClass as {DEMO_ADMIN} failed: {_describe(err)}") from err
    log.info(
        "seeded the demo class", extra={"class_id": made.id, "teacher": DEMO_TEACHER, "student": DEMO_STUDENT}
    )
    return True


def _bearer(reply: id_pb.LoginResponse) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {reply.tokens.access_token}"),)


def _describe(err: grpc.RpcError) -> str:
    code, details = err.code(), err.details()
    return f"{code.name}: {details}"
