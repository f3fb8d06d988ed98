"""On a mesh of its own (these tests disrupt it): signing-key rotation with two keys valid at once,
and health that follows PostgreSQL and NATS going away and coming back."""

import base64
import json
import shutil
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from learnflow.identity.v1 import identity_service_pb2 as pb
from learnflow.identity.v1 import identity_service_pb2_grpc as pb_grpc

from services.runtime.testing import bearer, login, mesh_dir, new_mesh


@pytest.fixture(scope="module")
def own_mesh():
    root = mesh_dir("learnflow-resilience-")
    # The publish delay must outlast every JWKS cache (the mesh's verifier refetches at most every 2 s;
    # in production it is 120 s against Envoy's 60 s cache).
    m = new_mesh(root, IDENTITY_KEY_PUBLISH_DELAY_SECONDS="3")
    try:
        m.start_infra()
        m.start_server()
        yield m
    finally:
        m.stop()
        shutil.rmtree(root, ignore_errors=True)


def _kid(token: str) -> str:
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def _status(addr: str) -> int:
    try:
        with grpc.insecure_channel(addr) as ch:
            return health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=2).status
    except grpc.RpcError:
        return -1


def _wait_status(addr: str, want: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _status(addr) == want:
            return
        time.sleep(0.1)
    raise AssertionError(f"health never became {want}; last {_status(addr)}")


def test_key_rotation_keeps_old_tokens_valid_and_signs_with_the_new_key(own_mesh):
    old_token = login(own_mesh, "teacher@demo.test")
    operator = login(own_mesh, "operator@demo.test")
    with grpc.insecure_channel(own_mesh.grpc_addr) as ch:
        stub = pb_grpc.IdentityServiceStub(ch)
        before = {k.kid for k in stub.GetJwks(pb.GetJwksRequest()).keys}
        rotated = stub.RotateSigningKey(pb.RotateSigningKeyRequest(), metadata=bearer(operator))
        published = {k.kid for k in stub.GetJwks(pb.GetJwksRequest()).keys}
        assert rotated.new_kid not in before
        assert published == before | {rotated.new_kid}  # two keys valid during the rotation
        time.sleep(3.2)  # the publish delay: the new key now signs
        new_token = login(own_mesh, "teacher@demo.test")
        assert _kid(new_token) == rotated.new_kid and _kid(old_token) != rotated.new_kid
        for token in (old_token, new_token):
            assert (
                stub.GetUser(pb.GetUserRequest(user_id="me"), metadata=bearer(token)).email
                == "teacher@demo.test"
            )
        student = login(own_mesh, "student@demo.test")
        with pytest.raises(grpc.RpcError) as err:
            stub.RotateSigningKey(pb.RotateSigningKeyRequest(), metadata=bearer(student))
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_health_follows_nats_and_postgres_and_recovers(own_mesh):
    addr = own_mesh.grpc_addr
    _wait_status(addr, health_pb2.HealthCheckResponse.SERVING)

    own_mesh.nats.stop()
    _wait_status(addr, health_pb2.HealthCheckResponse.NOT_SERVING)
    own_mesh.nats.start()
    _wait_status(addr, health_pb2.HealthCheckResponse.SERVING)

    own_mesh.postgres.stop()
    _wait_status(addr, health_pb2.HealthCheckResponse.NOT_SERVING)
    with grpc.insecure_channel(addr) as ch, pytest.raises(grpc.RpcError) as err:
        pb_grpc.IdentityServiceStub(ch).Login(
            pb.LoginRequest(tenant="demo", email="teacher@demo.test", password="learnflow-demo"), timeout=10
        )
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    own_mesh.postgres.start()
    _wait_status(addr, health_pb2.HealthCheckResponse.SERVING)
    assert login(own_mesh, "teacher@demo.test")  # the pool reconnected
