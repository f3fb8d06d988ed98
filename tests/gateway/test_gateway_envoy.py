"""The real Envoy with render() output: Envoy's own errors come back as the one JSON error shape,
CORS preflights need no token, rate limits answer 429 JSON, and upstream errors keep the services'
google.rpc.Status JSON. Upstreams point to a closed port unless a fake IdentityService is started."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from gateway_harness import FakeIdentity, Response, RunningEnvoy, http
from learnflow.identity.v1 import identity_service_pb2 as id_pb
from learnflow.identity.v1 import identity_service_pb2_grpc as id_grpc

from gateway.generate import DESCRIPTOR, JwksConfig, RateLimits, TokenBucket, render
from services.runtime.local.envoyd import envoy_stat
from services.runtime.local.procs import free_port, wait_until
from services.runtime.testing import upload

ORIGIN = "http://localhost:3000"
LOGIN = {"tenant": "demo", "email": "someone@example.org", "password": "correct horse battery"}
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


def assert_error(resp: Response, status: int, code: int, reason: str | None = None) -> dict[str, Any]:
    """The one error shape: google.rpc.Status JSON with an ErrorInfo carrying the request id."""
    assert resp.status == status, (resp.status, resp.raw[:500])
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    body = resp.json
    assert set(body) == {"code", "message", "details"}, body
    assert body["code"] == code and isinstance(body["code"], int), body
    assert isinstance(body["message"], str) and body["message"], body
    assert isinstance(body["details"], list), body
    if reason is not None:
        (info,) = [d for d in body["details"] if d.get("@type") == ERROR_INFO]
        assert info["reason"] == reason and info["domain"] == "learnflow.dev"
        assert info["metadata"]["correlation_id"] == resp.headers["x-request-id"]
    return dict(body)


@pytest.fixture
def gateway(envoy_factory: Callable[..., RunningEnvoy]) -> RunningEnvoy:
    """Envoy with every upstream on a closed port (nothing listens there)."""
    closed = free_port()
    return envoy_factory(
        lambda port, admin: render(
            DESCRIPTOR,
            listen_host="127.0.0.1",
            listen_port=port,
            admin_port=admin,
            grpc_upstream=("127.0.0.1", closed),
            cors_origins=[ORIGIN],
        )
    )


def test_unknown_route_is_404_json(gateway: RunningEnvoy) -> None:
    body = assert_error(http("GET", gateway.url + "/v1/nope"), 404, 5, "ROUTE_NOT_FOUND")
    assert "no API route" in body["message"]
    # A known path with a verb it does not have: also 404, no token needed to learn that.
    assert_error(http("DELETE", gateway.url + "/v1/users"), 404, 5, "ROUTE_NOT_FOUND")
    # Browsers from an allowed origin can read it.
    resp = http("GET", gateway.url + "/v1/nope", headers={"Origin": ORIGIN})
    assert_error(resp, 404, 5)
    assert resp.headers["access-control-allow-origin"] == ORIGIN
    resp = http("GET", gateway.url + "/v1/nope", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in resp.headers


def test_protected_route_without_token_is_401_json(gateway: RunningEnvoy) -> None:
    for method, path in [("GET", "/v1/users"), ("GET", "/v1/users/me"), ("GET", "/v1/ops/deadLetters")]:
        resp = http(method, gateway.url + path, headers={"Origin": ORIGIN})
        body = assert_error(resp, 401, 16, "UNAUTHENTICATED")
        assert "Jwt is missing" in body["message"]
        assert resp.headers["access-control-allow-origin"] == ORIGIN  # readable by the browser app
    resp = http("GET", gateway.url + "/v1/users", headers={"Authorization": "Bearer not.a.jwt"})
    assert_error(resp, 401, 16, "UNAUTHENTICATED")


def test_cors_preflight_needs_no_token(gateway: RunningEnvoy) -> None:
    resp = http(
        "OPTIONS",
        gateway.url + "/v1/users",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert resp.status == 200, resp.raw
    assert resp.headers["access-control-allow-origin"] == ORIGIN
    allowed = resp.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert "POST" in resp.headers["access-control-allow-methods"]
    # A preflight from another origin gets no CORS headers (and never reaches a service).
    resp = http(
        "OPTIONS",
        gateway.url + "/v1/users",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in resp.headers
    assert_error(resp, 404, 5)
    # Actual (non-preflight) responses expose the request id to the browser.
    resp = http("GET", gateway.url + "/v1/users", headers={"Origin": ORIGIN})
    assert "x-request-id" in resp.headers["access-control-expose-headers"]


def test_upstream_down_on_public_route_is_503_json(gateway: RunningEnvoy) -> None:
    body = assert_error(http("POST", gateway.url + "/v1/auth:login", LOGIN), 503, 14, "UNAVAILABLE")
    assert "unavailable" in body["message"]
    assert_error(http("GET", gateway.url + "/v1/jwks"), 503, 14)
    assert_error(http("GET", gateway.url + "/.well-known/jwks.json"), 503, 14)


def test_unknown_body_fields_pass_the_transcoder(gateway: RunningEnvoy) -> None:
    # Envoy's transcoder drops unknown JSON body fields silently (only unknown query parameters are
    # rejected): such a request reaches the (here: absent) service, which must validate its input.
    # Malformed bodies are checked against the live mesh in tests/e2e: with no upstream, Envoy may
    # report the failed upstream connection (503) before the transcoder has parsed the body.
    assert_error(http("POST", gateway.url + "/v1/auth:login", '{"nope": 1}'), 503, 14)


def test_unknown_query_parameter_is_400_json(gateway: RunningEnvoy) -> None:
    body = assert_error(http("GET", gateway.url + "/v1/jwks?color=red"), 400, 3, "INVALID_ARGUMENT")
    assert "color" in body["message"]


def test_request_id_is_kept_and_echoed(gateway: RunningEnvoy) -> None:
    resp = http("GET", gateway.url + "/v1/nope", headers={"x-request-id": "req-12345"})
    assert resp.headers["x-request-id"] == "req-12345"
    assert resp.json["details"][0]["metadata"]["correlation_id"] == "req-12345"
    assert http("GET", gateway.url + "/v1/nope").headers["x-request-id"]  # generated when absent


def test_access_log_is_json_on_stdout(gateway: RunningEnvoy) -> None:
    http("GET", gateway.url + "/v1/nope", headers={"x-request-id": "log-me-1"})
    import time

    deadline = time.monotonic() + 5
    lines: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not lines:
        lines = [
            json.loads(line)
            for line in gateway.log.read_text().splitlines()
            if line.startswith("{") and "log-me-1" in line
        ]
        time.sleep(0.05)
    (entry,) = lines
    assert entry["correlation_id"] == "log-me-1" and entry["status"] == 404 and entry["path"] == "/v1/nope"


def test_login_rate_limit_is_429_json(envoy_factory: Callable[..., RunningEnvoy]) -> None:
    closed = free_port()
    envoy = envoy_factory(
        lambda port, admin: render(
            DESCRIPTOR,
            listen_host="127.0.0.1",
            listen_port=port,
            admin_port=admin,
            grpc_upstream=("127.0.0.1", closed),
            cors_origins=[ORIGIN],
            rate_limits=RateLimits(strict=TokenBucket(per_second=1, burst=2)),
        )
    )
    statuses = []
    limited: Response | None = None
    for _ in range(6):
        resp = http("POST", envoy.url + "/v1/auth:login", LOGIN, headers={"Origin": ORIGIN})
        statuses.append(resp.status)
        if resp.status == 429:
            limited = resp
            break
    assert limited is not None, statuses
    assert statuses[0] == 503  # the first ones pass the limiter and meet the closed upstream
    body = assert_error(limited, 429, 8, "RATE_LIMITED")
    assert "rate limit" in body["message"]
    assert limited.headers["retry-after"] == "1"
    assert limited.headers["access-control-allow-origin"] == ORIGIN
    # Other routes have their own buckets.
    assert_error(http("GET", envoy.url + "/v1/jwks"), 503, 14)


# --- with a (fake) identity service behind the gateway ------------------------------------------------------


@pytest.fixture
def gateway_with_identity(
    envoy_factory: Callable[..., RunningEnvoy], fake_identity: FakeIdentity
) -> RunningEnvoy:
    return envoy_factory(
        lambda port, admin: render(
            DESCRIPTOR,
            listen_host="127.0.0.1",
            listen_port=port,
            admin_port=admin,
            grpc_upstream=("127.0.0.1", fake_identity.port),
            cors_origins=[ORIGIN],
        )
    )


def test_tokens_are_verified_with_the_jwks_fetched_through_envoy(
    gateway_with_identity: RunningEnvoy, fake_identity: FakeIdentity
) -> None:
    token = fake_identity.token()
    resp = http(
        "GET",
        gateway_with_identity.url + "/v1/users?pageSize=7",
        headers={"Authorization": f"Bearer {token}", "x-request-id": "rid-42"},
    )
    assert resp.status == 200, resp.raw
    echo = json.loads(resp.json["nextPageToken"])
    assert echo == {"authorization": f"Bearer {token}", "x-request-id": "rid-42", "page_size": 7}
    assert resp.json["users"] == []  # always_print_primitive_fields: empty lists are printed
    # Wrong audience: Envoy's jwt_authn answers 403 (not 401) for a valid token meant for someone else.
    bad = fake_identity.token(aud="someone-else")
    resp = http("GET", gateway_with_identity.url + "/v1/users", headers={"Authorization": f"Bearer {bad}"})
    assert "Audiences" in assert_error(resp, 403, 7, "PERMISSION_DENIED")["message"]
    expired = fake_identity.token(exp=1)
    resp = http(
        "GET", gateway_with_identity.url + "/v1/users", headers={"Authorization": f"Bearer {expired}"}
    )
    assert "expired" in assert_error(resp, 401, 16, "UNAUTHENTICATED")["message"]


def test_a_large_body_never_waits_on_a_key_fetch(
    gateway_with_identity: RunningEnvoy, fake_identity: FakeIdentity
) -> None:
    """jwt_authn fetches the JWKS in the background, never on a request's path. A request that waited
    on a fetch while sending a body over 1 MiB would fill Envoy's stream buffer; Envoy stops reading
    then, and the request hangs instead of getting its 413."""
    wait_until(lambda: envoy_stat(gateway_with_identity.admin_port, "jwks_fetch_success") > 0, 20, "JWKS")
    fake_identity.jwks_delay = 30  # any fetch from now on outlasts the client's patience (8 s)
    body = json.dumps({"user": {"email": "a@b.test", "displayName": "x" * (2 << 20)}}).encode()
    headers = {"Authorization": f"Bearer {fake_identity.token()}"}
    # New connections land on each of Envoy's worker threads (each with its own key cache).
    for _ in range(6):
        reply = upload(gateway_with_identity.url + "/v1/users", body, headers, timeout=8)
        assert reply.status == 413, reply.body
        assert reply.body["code"] == 8 and reply.body["details"][0]["reason"] == "PAYLOAD_TOO_LARGE"


def test_service_errors_keep_the_services_status_json(gateway_with_identity: RunningEnvoy) -> None:
    resp = http(
        "POST", gateway_with_identity.url + "/v1/auth:login", LOGIN, headers={"x-request-id": "rid-7"}
    )
    # Not a local reply: local_reply_config leaves it alone; details need error_details.proto in the
    # descriptor set the transcoder got.
    assert resp.status == 401
    assert resp.json == {
        "code": 16,
        "message": "wrong email or password",
        "details": [
            {
                "@type": ERROR_INFO,
                "reason": "BAD_CREDENTIALS",
                "domain": "learnflow.dev",
                "metadata": {"correlation_id": "rid-7"},
            }
        ],
    }
    # An RPC the fake does not implement: the service's UNIMPLEMENTED as JSON.
    token_free = http("POST", gateway_with_identity.url + "/v1/auth:refresh", {"refreshToken": "x"})
    assert token_free.status == 501 and token_free.json["code"] == 12


def test_native_grpc_on_the_same_port(
    gateway_with_identity: RunningEnvoy, fake_identity: FakeIdentity
) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{gateway_with_identity.port}") as channel:
        stub = id_grpc.IdentityServiceStub(channel)
        assert stub.GetJwks(id_pb.GetJwksRequest(), timeout=5).keys[0].kid == "test-1"  # public
        with pytest.raises(grpc.RpcError) as err:
            stub.ListUsers(id_pb.ListUsersRequest(), timeout=5)
        # Envoy's own errors stay gRPC statuses for gRPC callers (no JSON in grpc-message).
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert err.value.details() == "Jwt is missing"
        token = fake_identity.token()
        reply = stub.ListUsers(
            id_pb.ListUsersRequest(page_size=3), timeout=5, metadata=(("authorization", f"Bearer {token}"),)
        )
        assert json.loads(reply.next_page_token)["page_size"] == 3
        with pytest.raises(grpc.RpcError) as err:
            stub.Login(id_pb.LoginRequest(), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert err.value.details() == "wrong email or password"
        unknown = channel.unary_unary("/learnflow.nope.v1.Nope/Nope")
        with pytest.raises(grpc.RpcError) as err:
            unknown(b"", timeout=5)
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_inline_jwks_option(envoy_factory: Callable[..., RunningEnvoy], fake_identity: FakeIdentity) -> None:
    closed = free_port()
    envoy = envoy_factory(
        lambda port, admin: render(
            DESCRIPTOR,
            listen_host="127.0.0.1",
            listen_port=port,
            admin_port=admin,
            grpc_upstream=("127.0.0.1", closed),
            jwks=JwksConfig(inline_jwks=json.dumps({"keys": [fake_identity.jwk]})),
        )
    )
    token = fake_identity.token()
    # The token passes jwt_authn (no JWKS fetch needed) and then meets the closed upstream.
    assert_error(http("GET", envoy.url + "/v1/users", headers={"Authorization": f"Bearer {token}"}), 503, 14)
