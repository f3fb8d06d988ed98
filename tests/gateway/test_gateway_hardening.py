"""What the fuzzer found at the edge, checked against the real Envoy with render() output: malformed
requests (invalid UTF-8 escapes, non-JSON bodies, oversized bodies) are 4xx in the one JSON error
shape, never a 500 from a service; oversized replies are refused clearly; secrets never reach the
access log; every 429 carries Retry-After; reflection at the edge is for operators only."""

from __future__ import annotations

import http.client as http_client
import json
import socket
import time
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from gateway_harness import FakeIdentity, RunningEnvoy, http
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from test_gateway_envoy import ERROR_INFO, LOGIN, ORIGIN, assert_error

from gateway import envoy
from gateway.generate import DESCRIPTOR, render
from services.runtime.local.procs import free_port

RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


def _render(port: int, admin: int, upstream_port: int) -> dict[str, Any]:
    return render(
        DESCRIPTOR,
        listen_host="127.0.0.1",
        listen_port=port,
        admin_port=admin,
        grpc_upstream=("127.0.0.1", upstream_port),
        cors_origins=[ORIGIN],
    )


@pytest.fixture
def gateway(envoy_factory: Callable[..., RunningEnvoy]) -> RunningEnvoy:
    """Envoy with every upstream on a closed port: whatever is answered here, Envoy answered."""
    closed = free_port()
    return envoy_factory(lambda port, admin: _render(port, admin, closed))


@pytest.fixture
def live(envoy_factory: Callable[..., RunningEnvoy], fake_identity: FakeIdentity) -> RunningEnvoy:
    return envoy_factory(lambda port, admin: _render(port, admin, fake_identity.port))


def _raw_request(envoy: RunningEnvoy, target: bytes) -> tuple[int, dict[str, Any]]:
    """GET with the request target sent byte for byte (urllib would re-quote it)."""
    with socket.create_connection(("127.0.0.1", envoy.port), timeout=10) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body) if body.startswith(b"{") else {}


# --- invalid UTF-8 in a path or query -----------------------------------------------------------------------

BAD_TARGETS = [
    "/v1/users/%FF%FE",  # the fuzzer's case: never UTF-8
    "/v1/users?pageToken=%FF%FE",
    "/v1/auth:login?x=%FF",
    "/v1/users/%C0%AF",  # overlong "/"
    "/v1/users/%ED%A0%80",  # a UTF-16 surrogate
    "/v1/users/%F4%90%80%80",  # past U+10FFFF
    "/v1/users/%E2%82",  # truncated sequence
    "/v1/users/%80",  # lone continuation byte
    "/v1/jwks?x=%zz",  # not an escape at all
]


@pytest.mark.parametrize("target", BAD_TARGETS)
def test_invalid_utf8_escapes_are_400_json_before_auth(gateway: RunningEnvoy, target: str) -> None:
    # GET and POST, public and protected routes, with and without a token: always 400, never 401/500.
    body = assert_error(http("GET", gateway.url + target), 400, 3, "INVALID_ARGUMENT")
    assert "UTF-8" in body["message"]
    assert_error(http("POST", gateway.url + target, LOGIN), 400, 3, "INVALID_ARGUMENT")
    resp = http("GET", gateway.url + target, headers={"Origin": ORIGIN})
    assert_error(resp, 400, 3)
    assert resp.headers["access-control-allow-origin"] == ORIGIN


def test_raw_non_ascii_bytes_in_the_target_are_400(gateway: RunningEnvoy) -> None:
    status, _ = _raw_request(gateway, b"/v1/users/\xff\xfe")
    assert status == 400


def test_valid_utf8_escapes_reach_the_service_decoded(
    live: RunningEnvoy, fake_identity: FakeIdentity
) -> None:
    token = fake_identity.token()
    # é (2 bytes), € (3 bytes), 😀 (4 bytes), lower- and upper-case hex.
    resp = http(
        "GET",
        live.url + "/v1/users/caf%C3%A9-%e2%82%ac-%F0%9F%98%80",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status == 200, resp.raw
    assert resp.json["id"] == "café-€-😀"
    # The regex is the one Envoy runs; Python agrees with it on every BAD_TARGET and on the good one.
    import re

    for target in BAD_TARGETS:
        assert re.fullmatch(envoy.VALID_REQUEST_TARGET, target) is None, target
    assert re.fullmatch(envoy.VALID_REQUEST_TARGET, "/v1/users/caf%C3%A9-%e2%82%ac-%F0%9F%98%80?a=b+c&d=%20")


# --- request bodies: content type and size ------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "text/json", "application/jsonx"]
)
def test_non_json_body_is_400_json(gateway: RunningEnvoy, content_type: str) -> None:
    # A body that is valid JSON but declared as something else: refused before the transcoder parses it.
    resp = http(
        "POST",
        gateway.url + "/v1/auth:login",
        LOGIN,
        headers={"Content-Type": content_type, "Origin": ORIGIN},
    )
    body = assert_error(resp, 400, 3, "INVALID_ARGUMENT")
    assert "application/json" in body["message"]
    assert resp.headers["access-control-allow-origin"] == ORIGIN


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/merge-patch+json",
    ],
)
def test_json_content_types_pass(gateway: RunningEnvoy, content_type: str) -> None:
    # Past the check, the request meets the closed upstream: 503 from Envoy, not the 400.
    resp = http("POST", gateway.url + "/v1/auth:login", LOGIN, headers={"Content-Type": content_type})
    assert_error(resp, 503, 14, "UNAVAILABLE")


def test_request_body_over_the_limit_is_413_json(live: RunningEnvoy) -> None:
    big = {**LOGIN, "email": "x" * (envoy.MAX_REQUEST_BODY_BYTES + 1)}
    body = assert_error(http("POST", live.url + "/v1/auth:login", big), 413, 8, "PAYLOAD_TOO_LARGE")
    assert body["message"]
    # Just under the limit: transcoded and answered by the service (its 401 for these credentials).
    fits = {**LOGIN, "email": "x" * (envoy.MAX_REQUEST_BODY_BYTES - 1000)}
    assert http("POST", live.url + "/v1/auth:login", fits).status == 401
    # Chunked (no Content-Length): the buffer filter counts what arrives and refuses it all the same.
    status, reply = _chunked_post(live, "/v1/auth:login", json.dumps(big).encode())
    assert status == 413 and reply["code"] == 8, (status, reply)


def _chunked_post(envoy_: RunningEnvoy, path: str, payload: bytes) -> tuple[int, dict[str, Any]]:
    conn = http_client.HTTPConnection("127.0.0.1", envoy_.port, timeout=10)
    try:
        chunks = (payload[i : i + 65536] for i in range(0, len(payload), 65536))
        conn.request(
            "POST", path, body=chunks, headers={"Content-Type": "application/json"}, encode_chunked=True
        )
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    except (BrokenPipeError, ConnectionResetError):
        # Envoy may answer and close before the whole body is sent; read what it answered.
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_large_reply_under_the_limit_is_transcoded(live: RunningEnvoy, fake_identity: FakeIdentity) -> None:
    # 5 MB: what the fuzzer stored and could not read back (the transcoder's default buffer is 1 MiB).
    token = fake_identity.token()
    resp = http("GET", live.url + "/v1/users/big-5000000", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200, resp.raw[:300]
    assert len(resp.json["displayName"]) == 5_000_000


def test_reply_over_the_limit_is_a_clear_json_error(live: RunningEnvoy, fake_identity: FakeIdentity) -> None:
    token = fake_identity.token()
    size = envoy.MAX_RESPONSE_BODY_BYTES + 1000
    resp = http("GET", live.url + f"/v1/users/big-{size}", headers={"Authorization": f"Bearer {token}"})
    body = assert_error(resp, 502, 14, "RESPONSE_TOO_LARGE")
    assert "too large" in body["message"]


# --- Retry-After on the services' 429s ----------------------------------------------------------------------


@pytest.mark.parametrize(("wait", "header", "delay"), [("2.5", "3", "2.500s"), ("", "1", "1s")])
def test_service_429_carries_retry_after_and_retry_info(
    live: RunningEnvoy, fake_identity: FakeIdentity, wait: str, header: str, delay: str
) -> None:
    token = fake_identity.token()
    resp = http(
        "GET",
        live.url + f"/v1/users/busy-{wait}",
        headers={"Authorization": f"Bearer {token}", "x-request-id": "rid-busy", "Origin": ORIGIN},
    )
    body = assert_error(resp, 429, 8, "RATE_LIMITED")
    assert resp.headers["retry-after"] == header  # whole seconds, rounded up
    assert "retry-after" in resp.headers["access-control-expose-headers"]  # readable by the browser app
    (retry,) = [d for d in body["details"] if d["@type"] == RETRY_INFO]
    assert retry["retryDelay"] == delay
    (info,) = [d for d in body["details"] if d["@type"] == ERROR_INFO]
    assert info["metadata"] == {"correlation_id": "rid-busy", "retry_after_seconds": wait or "1"}


# --- secrets never in the access log ------------------------------------------------------------------------


def _log_entries(envoy_: RunningEnvoy, request_ids: set[str]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 5
    entries: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        entries = [
            json.loads(line)
            for line in envoy_.log.read_text().splitlines()
            if line.startswith("{") and json.loads(line).get("correlation_id") in request_ids
        ]
        if len(entries) == len(request_ids):
            break
        time.sleep(0.05)
    return entries


def test_no_secret_reaches_the_access_log(live: RunningEnvoy, fake_identity: FakeIdentity) -> None:
    token = fake_identity.token(roles=["admin"])
    auth = {"Authorization": f"Bearer {token}"}
    secrets = [
        "login-pw-7f3a9c",
        "create-pw-51be02",
        "query-pw-c0ffee",
        "api-key-9d8e7f",
        "page-tok-4a4a4a",
        "broken-pw-e1e1e1",
    ]
    calls = [
        ("POST", "/v1/auth:login", {**LOGIN, "password": secrets[0]}, {}),
        ("POST", "/v1/users", {"user": {"email": "n@x.test"}, "password": secrets[1]}, auth),
        # The old way (password as a query parameter) and any secret-named parameter: refused (400)...
        ("POST", f"/v1/users?password={secrets[2]}", {"user": {"email": "n@x.test"}}, auth),
        ("GET", f"/v1/users?api_key={secrets[3]}", None, auth),
        # ...but logged without its query either way, even when the request is fine.
        ("GET", f"/v1/users?pageToken={secrets[4]}", None, auth),
        # Malformed JSON: the transcoder's parse error quotes the body around the fault (to the
        # client), but the access log's details field does not carry it.
        ("POST", "/v1/auth:login", '{"password": "' + secrets[5] + '" "x"}', {}),
    ]
    replies = []
    for i, (method, path, body, headers) in enumerate(calls):
        replies.append(
            http(method, live.url + path, body, headers={**headers, "x-request-id": f"secret-{i}"})
        )
    assert [r.status for r in replies] == [401, 200, 400, 400, 200, 400], [r.raw[:200] for r in replies]
    for refused in replies[2:4]:
        assert "not accepted in the URL" in assert_error(refused, 400, 3, "INVALID_ARGUMENT")["message"]
    entries = _log_entries(live, {f"secret-{i}" for i in range(len(calls))})
    assert len(entries) == len(calls), entries  # every request was logged...
    assert {e["path"] for e in entries} == {"/v1/auth:login", "/v1/users"}  # ...with its path, no query
    text = live.log.read_text()
    for secret in [*secrets, token]:
        assert secret not in text, secret


# --- reflection at the edge ---------------------------------------------------------------------------------


def _list_services(target: str, metadata: tuple[tuple[str, str], ...] = ()) -> list[str]:
    with grpc.insecure_channel(target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        (reply,) = list(stub.ServerReflectionInfo(iter([request]), metadata=metadata, timeout=5))
        return [s.name for s in reply.list_services_response.service]


def test_reflection_at_the_edge_needs_an_operator_token(
    live: RunningEnvoy, fake_identity: FakeIdentity
) -> None:
    edge = f"127.0.0.1:{live.port}"
    with pytest.raises(grpc.RpcError) as err:
        _list_services(edge)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    for roles in ([], ["student"], ["admin", "teacher"], ["ROLE_OPERATOR"]):
        with pytest.raises(grpc.RpcError) as err:
            _list_services(edge, (("authorization", f"Bearer {fake_identity.token(roles=roles)}"),))
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, roles
    operator = fake_identity.token(roles=["operator"])
    listed = _list_services(edge, (("authorization", f"Bearer {operator}"),))
    assert "learnflow.identity.v1.IdentityService" in listed
    # The service's own port (the mesh port grpcurl uses) still answers without a token.
    assert "learnflow.identity.v1.IdentityService" in _list_services(f"127.0.0.1:{fake_identity.port}")


@pytest.mark.parametrize(
    ("given", "header", "seconds"),
    [
        ("0.2", "1", "0.2"),
        ("59.01", "60", "59.01"),
        ("1e300", "86400", "86400"),
        ("nan", "1", "1"),
        ("-3", "1", "1"),
        ("soon", "1", "1"),
        (None, "1", "1"),
    ],
)
def test_retry_after_is_whole_positive_bounded_seconds(given: str | None, header: str, seconds: str) -> None:
    """What status.py makes of a ResourceExhausted's wait, whatever the raising code put there."""
    from google.rpc import error_details_pb2, status_pb2

    from services.runtime import errors
    from services.runtime.status import to_status

    metadata = {"retry_after_seconds": given} if given is not None else {}
    status = to_status(errors.ResourceExhausted("slow down", metadata=metadata))
    trailers = dict(status.trailing_metadata)
    assert trailers["retry-after"] == header
    proto = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
    assert proto.details[0].Unpack(info) and proto.details[1].Unpack(retry)
    assert info.metadata["retry_after_seconds"] == seconds
    assert retry.retry_delay.ToNanoseconds() == round(float(seconds) * 1e9)
    # Other codes carry neither.
    other = to_status(errors.NotFound("nope"))
    assert "retry-after" not in dict(other.trailing_metadata)


@pytest.mark.parametrize("name", ["+", "x+y", "a$b", "a~b", "Upper!"])
def test_header_names_grpc_cannot_carry_are_400_json(gateway: RunningEnvoy, name: str) -> None:
    """HTTP allows these names; gRPC metadata does not, and the service's gRPC library would refuse the
    whole call as INTERNAL (schemathesis found `+` giving a 500). Refused at the edge, before auth."""
    body = assert_error(
        http("GET", gateway.url + "/v1/users/me", headers={name: "1"}), 400, 3, "INVALID_ARGUMENT"
    )
    assert "header name" in body["message"]


def test_ordinary_header_names_pass_the_name_check(gateway: RunningEnvoy) -> None:
    # No token: the next filter (jwt_authn) answers, so the name check let these through.
    resp = http("GET", gateway.url + "/v1/users/me", headers={"X-Request-Id": "r-1", "x-custom_name.v2": "1"})
    assert_error(resp, 401, 16)
