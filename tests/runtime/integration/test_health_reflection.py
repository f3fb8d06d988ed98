"""What operators and Kubernetes see: health per service name and server reflection (grpcurl)."""

import json
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.runtime.testing import login

GRPCURL = str(Path(sys.executable).parent / "grpcurl")


def _health(addr: str, service: str) -> int:
    with grpc.insecure_channel(addr) as ch:
        return (
            health_pb2_grpc.HealthStub(ch)
            .Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            .status
        )


def test_health_serving_per_service(mesh):
    for name in (
        "",
        "learnflow.identity.v1.IdentityService",
        "learnflow.ops.v1.OperationsService",
        "liveness",
    ):
        assert _health(mesh.grpc_addr, name) == health_pb2.HealthCheckResponse.SERVING


def test_unknown_health_name_is_not_found(mesh):
    with grpc.insecure_channel(mesh.grpc_addr) as ch, pytest.raises(grpc.RpcError) as err:
        health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service="nope"), timeout=5)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_grpcurl_lists_describes_and_calls(mesh):
    listed = subprocess.run(
        [GRPCURL, "-plaintext", mesh.grpc_addr, "list"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.split()
    assert {
        "learnflow.identity.v1.IdentityService",
        "learnflow.ops.v1.OperationsService",
        "grpc.health.v1.Health",
    } <= set(listed)
    described = subprocess.run(
        [GRPCURL, "-plaintext", mesh.grpc_addr, "describe", "learnflow.identity.v1.IdentityService"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert "rpc Login" in described
    called = subprocess.run(
        [
            GRPCURL,
            "-plaintext",
            "-d",
            '{"tenant":"demo","email":"teacher@demo.test","password":"learnflow-demo"}',
            mesh.grpc_addr,
            "learnflow.identity.v1.IdentityService/Login",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert json.loads(called)["user"]["email"] == "teacher@demo.test"


def test_grpcurl_through_envoy_lists_services_for_an_operator_only(mesh):
    def grpcurl_list(*headers: str) -> subprocess.CompletedProcess[str]:
        flags = [f for h in headers for f in ("-H", h)]
        return subprocess.run(
            [GRPCURL, "-plaintext", *flags, f"127.0.0.1:{mesh.ports.http}", "list"],
            capture_output=True,
            text=True,
            timeout=30,
        )

    # The public gateway does not describe the mesh to strangers (the mesh port still does).
    anonymous = grpcurl_list()
    assert anonymous.returncode != 0 and "Unauthenticated" in anonymous.stderr, anonymous
    operator = login(mesh, "operator@demo.test")
    listed = grpcurl_list(f"authorization: Bearer {operator}")
    assert listed.returncode == 0, listed.stderr
    assert "learnflow.identity.v1.IdentityService" in listed.stdout.split()


def test_metrics_endpoint_counts_rpcs(mesh):
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{mesh.ports.metrics}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    assert "learnflow_rpc_total" in text and "learnflow_dependency_up" in text
