"""A workload of the mesh calling another context for a tenant: identity issues a short-lived
service-role token only for the right secret and an existing tenant; the token works like any other
(roles, tenancy); only services may run code on behalf of a user."""

from __future__ import annotations

import grpc
import jwt
import pytest
from learnflow.identity.v1 import identity_service_pb2 as pb
from learnflow.identity.v1 import identity_service_pb2_grpc as pb_grpc
from learnflow.sandbox.v1 import sandbox_service_pb2 as sandbox_pb
from learnflow.sandbox.v1 import sandbox_service_pb2_grpc as sandbox_grpc

from services.runtime.testing import bearer, login, rest


@pytest.fixture(scope="module")
def tenant(mesh):
    return rest(mesh, "GET", "/v1/users/me", token=login(mesh, "student@demo.test")).body["tenantId"]


def issue(mesh, workload: str, secret: str, tenant_id: str) -> pb.IssueWorkloadTokenResponse:
    with grpc.insecure_channel(mesh.grpc_addr) as channel:
        return pb_grpc.IdentityServiceStub(channel).IssueWorkloadToken(
            pb.IssueWorkloadTokenRequest(workload=workload, secret=secret, tenant_id=tenant_id), timeout=10
        )


def test_a_workload_gets_a_service_token_for_one_tenant(mesh, tenant):
    reply = issue(mesh, "tutoring", mesh.workload_secrets["tutoring"], tenant)
    claims = jwt.decode(reply.access_token, options={"verify_signature": False})
    assert claims["sub"] == "workload:tutoring" and claims["tid"] == tenant and claims["roles"] == ["service"]
    assert 60 <= reply.expires_in <= 3600
    # It is a real token: the sandbox accepts it, and runs code on behalf of a user of that tenant.
    student_id = rest(mesh, "GET", "/v1/users/me", token=login(mesh, "student@demo.test")).body["id"]
    with grpc.insecure_channel(mesh.grpc_addr) as channel:
        ran = sandbox_grpc.SandboxServiceStub(channel).Execute(
            sandbox_pb.ExecuteRequest(code="print(6 * 7)", on_behalf_of=student_id),
            metadata=bearer(reply.access_token),
            timeout=30,
        )
    assert ran.stdout == "42\n"


@pytest.mark.parametrize(
    ("workload", "secret", "tenant_id"),
    [
        ("tutoring", "not-the-secret-at-all", None),
        ("nobody", "whatever-secret-value", None),
        # the right secret, a tenant that does not exist (a fixed id: it is part of the test id, which
        # every pytest-xdist worker must collect the same)
        ("tutoring", None, "6a1f0e9c-2d4b-4c7e-8f35-b0d9e2a71c46"),
    ],
)
def test_wrong_secrets_unknown_workloads_and_tenants_get_the_same_refusal(
    mesh, tenant, workload, secret, tenant_id
):
    with pytest.raises(grpc.RpcError) as err:
        issue(mesh, workload, secret or mesh.workload_secrets["tutoring"], tenant_id or tenant)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert err.value.details() == "the workload or its secret is not right"


def test_missing_fields_are_invalid_arguments(mesh):
    with pytest.raises(grpc.RpcError) as err:
        issue(mesh, "", "", "")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_only_services_run_code_on_behalf_of_someone_else(mesh):
    student = login(mesh, "student@demo.test")
    with grpc.insecure_channel(mesh.grpc_addr) as channel, pytest.raises(grpc.RpcError) as err:
        sandbox_grpc.SandboxServiceStub(channel).Execute(
            sandbox_pb.ExecuteRequest(code="print(1)", on_behalf_of="someone-else"),
            metadata=bearer(student),
            timeout=30,
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_the_gateway_never_routes_the_internal_rpc(mesh, tenant):
    """Through Envoy's listener (which carries native gRPC too) the right secret still gets nothing."""
    host = mesh.rest_url.removeprefix("http://")
    for metadata in ((), bearer(login(mesh, "student@demo.test"))):
        with grpc.insecure_channel(host) as channel, pytest.raises(grpc.RpcError) as err:
            pb_grpc.IdentityServiceStub(channel).IssueWorkloadToken(
                pb.IssueWorkloadTokenRequest(
                    workload="tutoring", secret=mesh.workload_secrets["tutoring"], tenant_id=tenant
                ),
                metadata=metadata,
                timeout=10,
            )
        assert err.value.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.UNIMPLEMENTED)
