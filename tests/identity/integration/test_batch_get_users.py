"""BatchGetUsers: the internal lookup other contexts use to check ids they are given (progress's
class members, the sandbox's on_behalf_of). Only services may call it, the gateway does not route
it, and it answers under the caller's tenant: another tenant's user is absent like nobody."""

from __future__ import annotations

import uuid

import grpc
import pytest
from learnflow.auth.v1 import auth_pb2
from learnflow.identity.v1 import identity_service_pb2 as pb
from learnflow.identity.v1 import identity_service_pb2_grpc as pb_grpc
from learnflow.identity.v1 import resources_pb2

from services.runtime.testing import bearer, login, new_student, rest


@pytest.fixture(scope="module")
def stub(mesh):
    with grpc.insecure_channel(mesh.grpc_addr) as channel:
        yield pb_grpc.IdentityServiceStub(channel)


def _workload_token(stub, mesh, tenant_id: str) -> str:
    return stub.IssueWorkloadToken(
        pb.IssueWorkloadTokenRequest(
            workload="progress", secret=mesh.workload_secrets["progress"], tenant_id=tenant_id
        )
    ).access_token


def test_a_service_gets_the_users_of_its_tenant_only(mesh, stub):
    admin = login(mesh, "admin@demo.test")
    student = new_student(mesh, admin_token=admin)
    teacher_id = rest(mesh, "GET", "/v1/users/me", token=login(mesh, "teacher@demo.test")).body["id"]
    slug = f"lookup-{uuid.uuid4().hex[:6]}"
    stub.CreateTenant(
        pb.CreateTenantRequest(
            tenant=resources_pb2.Tenant(slug=slug, display_name="Elsewhere"),
            admin_email=f"head@{slug}.test",
            admin_password="elsewhere-password",
        ),
        metadata=bearer(login(mesh, "operator@demo.test")),
    )
    foreign = new_student(
        mesh, admin_token=login(mesh, f"head@{slug}.test", "elsewhere-password", tenant=slug), tenant=slug
    )

    token = _workload_token(stub, mesh, student["tenant"])
    asked = [teacher_id, foreign["id"], str(uuid.uuid4()), student["id"].upper(), teacher_id]
    found = stub.BatchGetUsers(pb.BatchGetUsersRequest(user_ids=asked), metadata=bearer(token)).users
    # In the order asked, each once; another tenant's student and an id of nobody are absent.
    assert [u.id for u in found] == [teacher_id, student["id"]]
    assert list(found[0].roles) == [auth_pb2.ROLE_TEACHER]
    assert list(found[1].roles) == [auth_pb2.ROLE_STUDENT]
    assert all(u.tenant_id == student["tenant"] for u in found)
    # The other tenant's workload token sees its own student.
    theirs = _workload_token(stub, mesh, foreign["tenant"])
    assert [
        u.id
        for u in stub.BatchGetUsers(pb.BatchGetUsersRequest(user_ids=asked), metadata=bearer(theirs)).users
    ] == [foreign["id"]]


def test_people_may_not_call_it_and_ids_are_bounded(mesh, stub):
    admin = login(mesh, "admin@demo.test")
    with pytest.raises(grpc.RpcError) as err:
        stub.BatchGetUsers(pb.BatchGetUsersRequest(user_ids=[str(uuid.uuid4())]), metadata=bearer(admin))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    token = _workload_token(stub, mesh, rest(mesh, "GET", "/v1/users/me", token=admin).body["tenantId"])
    for ids in ([], ["not-a-uuid"], [str(uuid.uuid4()) for _ in range(1001)]):
        with pytest.raises(grpc.RpcError) as err:
            stub.BatchGetUsers(pb.BatchGetUsersRequest(user_ids=ids), metadata=bearer(token))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # Not routed by the gateway: REST has no such path.
    assert rest(mesh, "POST", "/v1/users:batchGet", {"userIds": []}, token=admin).status == 404
