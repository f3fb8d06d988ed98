"""Who may see which student, on the real mesh (gRPC and REST through Envoy): classes are granted by
the tenant's admins (or a service account's roster import), never claimed by a teacher; every member
is checked with identity to be a teacher or student of the tenant; the standard methods (Get, List,
UpdateClassMembership, Delete) follow the same rules; and anything of another tenant is NOT_FOUND."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from learnflow.identity.v1 import identity_service_pb2 as id_pb
from learnflow.identity.v1 import identity_service_pb2_grpc as id_grpc
from learnflow.identity.v1 import resources_pb2 as id_resources
from learnflow.progress.v1 import progress_service_pb2 as pb
from learnflow.progress.v1 import progress_service_pb2_grpc as pb_grpc
from learnflow.progress.v1 import resources_pb2

from services.runtime.testing import bearer, login, new_student, rest


def _me(mesh, token: str) -> str:
    return rest(mesh, "GET", "/v1/users/me", token=token).body["id"]


def _violations(err: grpc.RpcError) -> dict[str, str]:
    """The BadRequest field violations of a gRPC error, field -> description."""
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                bad = error_details_pb2.BadRequest()
                if detail.Unpack(bad):
                    return {v.field: v.description for v in bad.field_violations}
    return {}


def _rest_violations(body: dict) -> dict[str, str]:
    bad = next(d for d in body["details"] if d["@type"].endswith("google.rpc.BadRequest"))
    return {v["field"]: v["description"] for v in bad["fieldViolations"]}


@pytest.fixture(scope="module")
def stub(mesh):
    with grpc.insecure_channel(mesh.grpc_addr) as channel:
        yield pb_grpc.ProgressServiceStub(channel)


@pytest.fixture(scope="module")
def demo(mesh):
    admin = login(mesh, "admin@demo.test")
    teacher = login(mesh, "teacher@demo.test")
    return {
        "admin": admin,
        "teacher": teacher,
        "teacher_id": _me(mesh, teacher),
        "one": new_student(mesh, admin_token=admin),
        "two": new_student(mesh, admin_token=admin),
    }


@pytest.fixture(scope="module")
def other(mesh):
    """A second tenant with its own admin and student."""
    slug = f"other-{uuid.uuid4().hex[:6]}"
    with grpc.insecure_channel(mesh.grpc_addr) as ch:
        id_grpc.IdentityServiceStub(ch).CreateTenant(
            id_pb.CreateTenantRequest(
                tenant=id_resources.Tenant(slug=slug, display_name="Other school"),
                admin_email=f"head@{slug}.test",
                admin_password="other-password",
            ),
            metadata=bearer(login(mesh, "operator@demo.test")),
        )
    admin = login(mesh, f"head@{slug}.test", "other-password", tenant=slug)
    return {"admin": admin, "student": new_student(mesh, admin_token=admin, tenant=slug)}


def _create(stub, token, name, teacher_ids=(), student_ids=()):
    return stub.CreateClass(
        pb.CreateClassRequest(
            **{
                "class": resources_pb2.StudentClass(
                    name=name, teacher_ids=list(teacher_ids), student_ids=list(student_ids)
                )
            }
        ),
        metadata=bearer(token),
    )


def test_a_teacher_cannot_give_themselves_a_student(mesh, stub, demo):
    student_id = new_student(mesh, admin_token=demo["admin"])["id"]
    with pytest.raises(grpc.RpcError) as err:
        _create(stub, demo["teacher"], "Mine now", [demo["teacher_id"]], [student_id])
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    via_rest = rest(
        mesh, "POST", "/v1/classes", {"name": "Mine", "studentIds": [student_id]}, token=demo["teacher"]
    )
    assert via_rest.status == 403
    # Nor add one to a class they teach.
    klass = _create(stub, demo["admin"], "Given", [demo["teacher_id"]])
    with pytest.raises(grpc.RpcError) as err:
        stub.UpdateClassMembership(
            pb.UpdateClassMembershipRequest(class_id=klass.id, add_student_ids=[student_id]),
            metadata=bearer(demo["teacher"]),
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # So the student stays out of the teacher's sight: progress and alerts.
    with pytest.raises(grpc.RpcError) as err:
        stub.GetProgress(pb.GetProgressRequest(student_id=student_id), metadata=bearer(demo["teacher"]))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    alerts = rest(mesh, "GET", f"/v1/struggleAlerts?studentId={student_id}", token=demo["teacher"])
    assert alerts.status == 403
    assert (
        stub.GetClass(pb.GetClassRequest(class_id=klass.id), metadata=bearer(demo["admin"])).student_ids == []
    )


def test_the_admin_gives_a_teacher_a_student_and_the_teacher_then_sees_them(mesh, stub, demo):
    student_id = demo["one"]["id"]
    made = rest(
        mesh,
        "POST",
        "/v1/classes",
        {"name": "Algorithms", "teacherIds": [demo["teacher_id"]], "studentIds": [student_id.upper()]},
        token=demo["admin"],
    )
    assert made.status == 200, made.body
    assert made.body["studentIds"] == [student_id]  # as identity writes ids
    progress = rest(mesh, "GET", f"/v1/students/{student_id}/progress", token=demo["teacher"])
    assert progress.status == 200 and progress.body["studentId"] == student_id
    alerts = rest(mesh, "GET", f"/v1/struggleAlerts?studentId={student_id}", token=demo["teacher"])
    assert alerts.status == 200
    got = rest(mesh, "GET", f"/v1/classes/{made.body['id']}", token=demo["teacher"])
    assert got.status == 200 and got.body["studentIds"] == [student_id]
    assert got.body["teacherIds"] == [demo["teacher_id"]]


def test_members_must_be_teachers_and_students_of_the_tenant(mesh, stub, demo, other):
    nobody = str(uuid.uuid4())
    with pytest.raises(grpc.RpcError) as err:
        _create(
            stub,
            demo["admin"],
            "Bad roster",
            teacher_ids=[demo["one"]["id"]],  # a student, not a teacher
            student_ids=[demo["two"]["id"], other["student"]["id"], demo["teacher_id"], nobody],
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = _violations(err.value)
    assert set(violations) == {
        "class.teacher_ids[0]",
        "class.student_ids[1]",  # another tenant's student: as unknown as nobody
        "class.student_ids[2]",  # a teacher of the tenant, not a student
        "class.student_ids[3]",
    }
    assert "not a user of this tenant" in violations["class.student_ids[1]"]
    assert "not a student" in violations["class.student_ids[2]"]
    assert "not a teacher" in violations["class.teacher_ids[0]"]
    # REST says the same, and nothing was created.
    before = stub.ListClasses(pb.ListClassesRequest(page_size=1000), metadata=bearer(demo["admin"])).classes
    bad = rest(
        mesh,
        "POST",
        "/v1/classes",
        {"name": "Bad", "studentIds": [other["student"]["id"]]},
        token=demo["admin"],
    )
    assert bad.status == 400 and set(_rest_violations(bad.body)) == {"class.student_ids[0]"}
    not_an_id = rest(mesh, "POST", "/v1/classes", {"name": "Bad", "studentIds": ["x"]}, token=demo["admin"])
    assert not_an_id.status == 400 and set(_rest_violations(not_an_id.body)) == {"class.student_ids[0]"}
    after = stub.ListClasses(pb.ListClassesRequest(page_size=1000), metadata=bearer(demo["admin"])).classes
    assert [c.id for c in after] == [c.id for c in before]


def test_get_list_update_membership_and_delete(mesh, stub, demo):
    one, two = (new_student(mesh, admin_token=demo["admin"])["id"] for _ in range(2))
    prefix = f"zz-{uuid.uuid4().hex[:6]}"
    klass = _create(stub, demo["admin"], f"{prefix} a", [demo["teacher_id"]], [one])
    others = [_create(stub, demo["admin"], f"{prefix} {n}") for n in ("b", "c")]  # no teacher

    # Update membership: add the second student, remove the first; adding twice changes nothing.
    changed = stub.UpdateClassMembership(
        pb.UpdateClassMembershipRequest(
            class_id=klass.id, add_student_ids=[two, two], remove_student_ids=[one]
        ),
        metadata=bearer(demo["admin"]),
    )
    assert list(changed.student_ids) == [two] and list(changed.teacher_ids) == [demo["teacher_id"]]
    with pytest.raises(grpc.RpcError) as err:
        stub.GetProgress(pb.GetProgressRequest(student_id=one), metadata=bearer(demo["teacher"]))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (
        stub.GetProgress(pb.GetProgressRequest(student_id=two), metadata=bearer(demo["teacher"])).student_id
        == two
    )
    bad = rest(
        mesh,
        "POST",
        f"/v1/classes/{klass.id}:updateMembership",
        {"addStudentIds": [demo["teacher_id"]], "addTeacherIds": [two]},
        token=demo["admin"],
    )
    assert bad.status == 400
    assert set(_rest_violations(bad.body)) == {"add_student_ids[0]", "add_teacher_ids[0]"}
    assert list(
        stub.GetClass(pb.GetClassRequest(class_id=klass.id), metadata=bearer(demo["admin"])).student_ids
    ) == [two]

    # List, two per page: the admin sees all three (among the tenant's others), the teacher only theirs.
    seen, token = [], ""
    while True:
        page = stub.ListClasses(
            pb.ListClassesRequest(page_size=2, page_token=token), metadata=bearer(demo["admin"])
        )
        assert len(page.classes) <= 2
        seen += [c.id for c in page.classes if c.name.startswith(prefix)]
        token = page.next_page_token
        if not token:
            break
    assert seen == [klass.id, *(c.id for c in others)]  # by name, each once
    mine = rest(mesh, "GET", "/v1/classes?pageSize=1000", token=demo["teacher"]).body["classes"]
    assert klass.id in {c["id"] for c in mine}
    assert all(demo["teacher_id"] in c["teacherIds"] for c in mine)
    assert not {c.id for c in others} & {c["id"] for c in mine}
    # A class the teacher does not teach is not theirs to read.
    assert rest(mesh, "GET", f"/v1/classes/{others[0].id}", token=demo["teacher"]).status == 403

    # Delete: gone, the teacher no longer sees its students, and deleting again is 404.
    assert rest(mesh, "DELETE", f"/v1/classes/{klass.id}", token=demo["teacher"]).status == 403
    assert rest(mesh, "DELETE", f"/v1/classes/{klass.id}", token=demo["admin"]).status == 200
    assert rest(mesh, "GET", f"/v1/classes/{klass.id}", token=demo["admin"]).status == 404
    assert rest(mesh, "DELETE", f"/v1/classes/{klass.id}", token=demo["admin"]).status == 404
    assert rest(mesh, "GET", f"/v1/students/{two}/progress", token=demo["teacher"]).status == 403
    for c in others:
        stub.DeleteClass(pb.DeleteClassRequest(class_id=c.id), metadata=bearer(demo["admin"]))


def test_another_tenant_gets_not_found_for_everything_of_this_one(mesh, stub, demo, other):
    student_id = demo["two"]["id"]
    klass = _create(stub, demo["admin"], "Ours", [demo["teacher_id"]], [student_id])
    theirs = other["admin"]
    for method, path, body in (
        ("GET", f"/v1/classes/{klass.id}", None),
        ("POST", f"/v1/classes/{klass.id}:updateMembership", {"removeStudentIds": [student_id]}),
        ("DELETE", f"/v1/classes/{klass.id}", None),
        ("GET", f"/v1/classes/{klass.id}/summaries", None),
        ("GET", f"/v1/students/{student_id}/progress", None),
        ("GET", f"/v1/struggleAlerts?studentId={student_id}", None),
    ):
        reply = rest(mesh, method, path, body, token=theirs)
        assert reply.status == 404, (method, path, reply.status, reply.body)
    with pytest.raises(grpc.RpcError) as err:
        stub.GetProgress(pb.GetProgressRequest(student_id=student_id), metadata=bearer(theirs))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    listed = stub.ListClasses(pb.ListClassesRequest(page_size=1000), metadata=bearer(theirs)).classes
    assert klass.id not in {c.id for c in listed}
    # Still whole for its own tenant.
    assert list(
        stub.GetClass(pb.GetClassRequest(class_id=klass.id), metadata=bearer(demo["admin"])).student_ids
    ) == [student_id]
    # Their own student without any activity yet: the defaults, not 404; an id of nobody: 404.
    own = rest(mesh, "GET", f"/v1/students/{other['student']['id']}/progress", token=theirs)
    assert own.status == 200 and own.body["studentId"] == other["student"]["id"]
    assert rest(mesh, "GET", f"/v1/students/{uuid.uuid4()}/progress", token=theirs).status == 404


def _workload(mesh, workload: str, tenant_id: str) -> str:
    with grpc.insecure_channel(mesh.grpc_addr) as ch:
        return (
            id_grpc.IdentityServiceStub(ch)
            .IssueWorkloadToken(
                id_pb.IssueWorkloadTokenRequest(
                    workload=workload, secret=mesh.workload_secrets[workload], tenant_id=tenant_id
                )
            )
            .access_token
        )


def test_interventions_learns_its_students_teachers_and_nobody_else_may(mesh, stub, demo, other):
    """ListStudentTeachers: interventions' workload asks for a batch's students and gets each one's
    teachers through their classes (students in no class, and another tenant's, are absent); any
    other caller is refused (the service role alone is not enough)."""
    taught = new_student(mesh, admin_token=demo["admin"])
    alone = new_student(mesh, admin_token=demo["admin"])
    _create(stub, demo["admin"], f"lookup {uuid.uuid4().hex[:6]}", [demo["teacher_id"]], [taught["id"]])
    token = _workload(mesh, "interventions", taught["tenant"])
    asked = [alone["id"], taught["id"].upper(), other["student"]["id"], str(uuid.uuid4())]
    found = stub.ListStudentTeachers(pb.ListStudentTeachersRequest(student_ids=asked), metadata=bearer(token))
    assert [(s.student_id, list(s.teacher_ids)) for s in found.students] == [
        (taught["id"], [demo["teacher_id"]])
    ]

    for who in (_workload(mesh, "mtss", taught["tenant"]), demo["teacher"], demo["admin"]):
        with pytest.raises(grpc.RpcError) as err:
            stub.ListStudentTeachers(
                pb.ListStudentTeachersRequest(student_ids=[taught["id"]]), metadata=bearer(who)
            )
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        stub.ListStudentTeachers(
            pb.ListStudentTeachersRequest(student_ids=["not-an-id"]), metadata=bearer(token)
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "student_ids[0]" in _violations(err.value)
