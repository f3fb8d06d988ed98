"""The abuse suite through the real service (gRPC Execute on the shared mesh): every program ends
with the right verdict and the service stays healthy afterwards."""

import grpc
import pytest
from abuse_cases import SECRET_ENV, SECRET_VALUE, abuse_cases, assert_no_sandbox_processes, host_listener
from grpc_health.v1 import health_pb2, health_pb2_grpc
from learnflow.sandbox.v1 import resources_pb2
from learnflow.sandbox.v1 import sandbox_service_pb2 as pb
from learnflow.sandbox.v1 import sandbox_service_pb2_grpc as pb_grpc

from services.runtime.testing import bearer, login
from services.sandbox import cgroups
from services.sandbox.engine import BubblewrapSandbox

UNAVAILABLE = BubblewrapSandbox.unavailable_reason()
pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=f"isolation unavailable: {UNAVAILABLE}")


@pytest.fixture(scope="module")
def listener():
    with host_listener() as s:
        yield s


@pytest.fixture(scope="module")
def channel(mesh):
    with grpc.insecure_channel(mesh.grpc_addr) as ch:
        yield ch


@pytest.fixture(scope="module")
def student(mesh):
    return login(mesh, "student@demo.test")


@pytest.mark.parametrize("name", [case.name for case in abuse_cases()])
def test_abuse_case_through_grpc(mesh, channel, student, listener, name):
    # The server process was started with the test process's environment: a secret planted there
    # must not be visible to the program.
    assert mesh.env.get(SECRET_ENV) == SECRET_VALUE
    case = {c.name: c for c in abuse_cases(listener)}[name]
    if case.needs_whole_run_limits and (no_cgroup := cgroups.probe()[1]) is not None:
        pytest.skip(f"no cgroup per run on this host (the server probes the same way): {no_cgroup}")
    run = pb_grpc.SandboxServiceStub(channel).Execute(
        pb.ExecuteRequest(code=case.code, stdin=case.stdin), metadata=bearer(student), timeout=30
    )
    assert run.verdict == resources_pb2.Verdict.Value(f"VERDICT_{case.expected_verdict.value}"), (
        resources_pb2.Verdict.Name(run.verdict),
        run.stdout[:300],
        run.stderr[-600:],
    )
    if case.check is not None:
        case.check(run)
    assert_no_sandbox_processes()
    status = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service="learnflow.sandbox.v1.SandboxService"), timeout=5
    )
    assert status.status == health_pb2.HealthCheckResponse.SERVING
    assert mesh.server.poll() is None
