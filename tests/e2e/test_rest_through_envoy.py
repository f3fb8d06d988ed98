"""The REST API as the browser meets it: through Envoy, with JWT auth, JSON errors in one shape."""

import json
import re
import uuid

import pytest

from gateway import descriptors
from services.runtime.contexts import REPO_ROOT
from services.runtime.testing import DEMO_PASSWORD, login, rest, upload


def _error_info(body):
    return next(d for d in body["details"] if d["@type"].endswith("google.rpc.ErrorInfo"))


@pytest.fixture(scope="module")
def teacher(mesh):
    reply = rest(
        mesh,
        "POST",
        "/v1/auth:login",
        {"tenant": "demo", "email": "teacher@demo.test", "password": DEMO_PASSWORD},
    )
    assert reply.status == 200, reply.body
    return reply.body["tokens"]["accessToken"]


@pytest.fixture(scope="module")
def admin(mesh):
    return login(mesh, "admin@demo.test")


def test_login_through_envoy_returns_a_token_that_authorizes_a_rest_call(mesh, teacher):
    me = rest(mesh, "GET", "/v1/users/me", token=teacher)
    assert me.status == 200
    assert me.body["email"] == "teacher@demo.test"
    assert me.body["roles"] == ["ROLE_TEACHER"]
    assert "x-request-id" in me.headers


def test_jwks_is_public_and_well_formed(mesh):
    for path in ("/v1/jwks", "/.well-known/jwks.json"):
        reply = rest(mesh, "GET", path)
        assert reply.status == 200
        key = reply.body["keys"][0]
        assert key["kty"] == "EC" and key["crv"] == "P-256" and key["alg"] == "ES256" and key["kid"]


def test_no_token_is_401_json(mesh):
    reply = rest(mesh, "GET", "/v1/users")
    assert reply.status == 401
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.body["code"] == 16 and reply.body["message"]


def test_forged_token_is_401(mesh, teacher):
    header, payload, _sig = teacher.split(".")
    reply = rest(mesh, "GET", "/v1/users/me", token=f"{header}.{payload}.AAAA")
    assert reply.status == 401
    assert reply.body["code"] == 16


def test_wrong_role_is_403_json_with_reason(mesh):
    student = login(mesh, "student@demo.test")
    reply = rest(mesh, "GET", "/v1/users", token=student)
    assert reply.status == 403
    assert reply.body["code"] == 7
    assert _error_info(reply.body)["reason"] == "ROLE_REQUIRED"


def test_invalid_input_is_400_with_field_violations_and_changes_nothing(mesh, admin):
    before = rest(mesh, "GET", "/v1/users?pageSize=200", token=admin).body["users"]
    reply = rest(mesh, "POST", "/v1/users", {"user": {"email": "not-an-email", "roles": []}}, token=admin)
    assert reply.status == 400
    assert reply.body["code"] == 3
    bad = next(d for d in reply.body["details"] if d["@type"].endswith("google.rpc.BadRequest"))
    fields = {v["field"] for v in bad["fieldViolations"]}
    # The contract's rules (protovalidate, checked before the service runs) report these together...
    assert {"user.email", "password"} <= fields
    # ...and the service's own rules what the contract cannot say (a person needs a role).
    reply = rest(
        mesh,
        "POST",
        "/v1/users",
        {"user": {"email": "new@demo.test", "roles": []}, "password": "a-long-password"},
        token=admin,
    )
    fields = {v["field"] for d in reply.body["details"] for v in d.get("fieldViolations", [])}
    assert reply.status == 400 and "user.roles" in fields
    after = rest(mesh, "GET", "/v1/users?pageSize=200", token=admin).body["users"]
    assert after == before


def test_unknown_user_is_404_and_duplicate_is_409(mesh, admin):
    missing = rest(mesh, "GET", f"/v1/users/{uuid.uuid4()}", token=admin)
    assert missing.status == 404
    assert _error_info(missing.body)["reason"] == "USER_NOT_FOUND"
    user = {"email": f"dup-{uuid.uuid4().hex[:6]}@demo.test", "roles": ["ROLE_STUDENT"]}
    created = rest(mesh, "POST", "/v1/users", {"user": user}, token=admin)
    assert created.status == 400  # the password is required
    created = rest(mesh, "POST", "/v1/users", {"user": user, "password": "long-enough-pw"}, token=admin)
    assert created.status == 200, created.body
    again = rest(mesh, "POST", "/v1/users", {"user": user, "password": "long-enough-pw"}, token=admin)
    assert again.status == 409
    assert _error_info(again.body)["reason"] == "USER_EXISTS"


def test_stale_etag_is_409(mesh, admin):
    user = rest(mesh, "GET", "/v1/users/me", token=admin).body
    ok = rest(
        mesh,
        "PATCH",
        f"/v1/users/{user['id']}?updateMask=displayName",
        {"displayName": "Ada A.", "etag": user["etag"]},
        token=admin,
    )
    assert ok.status == 200, ok.body
    stale = rest(
        mesh,
        "PATCH",
        f"/v1/users/{user['id']}?updateMask=displayName",
        {"displayName": "Ada B.", "etag": user["etag"]},
        token=admin,
    )
    assert stale.status == 409
    assert _error_info(stale.body)["reason"] == "STALE_ETAG"


def test_envoys_own_errors_share_the_json_shape(mesh, teacher):
    unknown_route = rest(mesh, "GET", "/v1/nothing-here", token=teacher)
    assert unknown_route.status == 404 and unknown_route.body["code"] == 5
    for raw in (b"{not json", b'{"tenant": ', b'{"tenant": 5}', b"[1]"):
        malformed = rest(mesh, "POST", "/v1/auth:login", raw=raw)
        assert malformed.status == 400, (raw, malformed.body)
        assert malformed.body["code"] == 3
    unknown_param = rest(mesh, "GET", "/v1/users/me?colour=blue", token=teacher)
    assert unknown_param.status == 400 and unknown_param.body["code"] == 3


def test_cross_tenant_read_denied_through_rest(mesh):
    operator = login(mesh, "operator@demo.test")
    slug = f"rest-{uuid.uuid4().hex[:6]}"
    made = rest(
        mesh,
        "POST",
        "/v1/tenants",
        {"tenant": {"slug": slug}, "adminEmail": "boss@rest.test", "adminPassword": "boss-password"},
        token=operator,
    )
    assert made.status == 200, made.body
    other = rest(
        mesh,
        "POST",
        "/v1/auth:login",
        {"tenant": slug, "email": "boss@rest.test", "password": "boss-password"},
    ).body["tokens"]["accessToken"]
    teacher_id = rest(mesh, "GET", "/v1/users/me", token=login(mesh, "teacher@demo.test")).body["id"]
    assert rest(mesh, "GET", f"/v1/users/{teacher_id}", token=other).status == 404


RULES = [
    (m.grpc_path, b.verb, b.template, b.body)
    for m in descriptors.load(REPO_ROOT / "gen" / "descriptor.binpb").methods
    for b in m.bindings
]


@pytest.mark.parametrize(("rpc", "verb", "template", "body"), RULES, ids=[f"{r[1]} {r[2]}" for r in RULES])
def test_every_http_rule_reaches_its_service_through_envoy(mesh, rpc, verb, template, body):
    """Each REST binding is routed and transcoded to the service: the answer comes from upstream
    (Envoy marks those with x-envoy-upstream-service-time), never Envoy's own 404."""

    token = login(mesh, "operator@demo.test")
    path = re.sub(r"\{[^}]+\}", "me", template)
    reply = rest(mesh, verb, path, {} if body else None, token=token)
    assert "x-envoy-upstream-service-time" in reply.headers, (rpc, reply.status, reply.body)
    assert isinstance(reply.body, dict)


# --- the fuzzer's findings, against the whole mesh --------------------------------------------------


@pytest.mark.parametrize(("rpc", "verb", "template", "body"), RULES, ids=[f"{r[1]} {r[2]}" for r in RULES])
def test_invalid_utf8_in_path_or_query_is_400_on_every_route(mesh, rpc, verb, template, body):
    """`%FF%FE` (never UTF-8) in a path variable or a query parameter: 400 JSON from the gateway,
    never the service's 500 (it cannot parse a proto string that is not UTF-8)."""
    token = login(mesh, "operator@demo.test")
    paths = [re.sub(r"\{[^}]+\}", "%FF%FE", template)] if "{" in template else []
    paths.append(re.sub(r"\{[^}]+\}", "me", template) + "?pageToken=%FF%FE")
    for path in paths:
        reply = rest(mesh, verb, path, {} if body else None, token=token)
        assert reply.status == 400, (path, reply.status, reply.body)
        assert reply.body["code"] == 3 and "UTF-8" in reply.body["message"], reply.body
        assert _error_info(reply.body)["reason"] == "INVALID_ARGUMENT"


def test_valid_utf8_reaches_the_service(mesh, admin):
    # A well-formed multi-byte escape passes the gateway: the service answers (not found), not Envoy.
    reply = rest(mesh, "GET", "/v1/users/caf%C3%A9", token=admin)
    assert "x-envoy-upstream-service-time" in reply.headers, reply.body
    assert reply.status in (400, 404), reply.body


def test_non_json_body_is_400_and_json_body_is_fine(mesh):
    creds = {"tenant": "demo", "email": "teacher@demo.test", "password": DEMO_PASSWORD}
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        reply = rest(mesh, "POST", "/v1/auth:login", creds, headers={"Content-Type": content_type})
        assert reply.status == 400, (content_type, reply.body)
        assert reply.body["code"] == 3 and "application/json" in reply.body["message"]
    ok = rest(
        mesh, "POST", "/v1/auth:login", creds, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert ok.status == 200, ok.body


def test_oversized_body_is_413_json(mesh, admin):
    title = "x" * (5 * 1024 * 1024)  # the fuzzer's 5 MB title
    reply = upload(
        mesh.rest_url + "/v1/users",
        json.dumps({"user": {"email": "a@b.test", "displayName": title}}).encode(),
        {"Authorization": f"Bearer {admin}"},
    )
    assert reply.status == 413, reply.body
    assert reply.body["code"] == 8 and _error_info(reply.body)["reason"] == "PAYLOAD_TOO_LARGE"


def test_secrets_never_reach_the_access_log(mesh, admin):
    """Passwords in bodies (login, create user) and secret-looking query parameters: none of the
    values appear in Envoy's access log (.data/envoy.log), though every request is logged."""
    import time

    tag = uuid.uuid4().hex[:8]
    secrets = [f"login-pw-{tag}", f"create-pw-{tag}", f"query-pw-{tag}", f"api-key-{tag}"]
    email = f"logcheck-{tag}@demo.test"
    calls = [
        ("POST", "/v1/auth:login", {"tenant": "demo", "email": "teacher@demo.test", "password": secrets[0]}),
        ("POST", "/v1/users", {"user": {"email": email, "roles": ["ROLE_STUDENT"]}, "password": secrets[1]}),
        ("POST", f"/v1/users?password={secrets[2]}", {"user": {"email": email, "roles": ["ROLE_STUDENT"]}}),
        ("GET", f"/v1/users?pageSize=1&apiKey={secrets[3]}", None),
    ]
    statuses = []
    for i, (method, path, body) in enumerate(calls):
        token = None if path == "/v1/auth:login" else admin
        reply = rest(mesh, method, path, body, token=token, headers={"x-request-id": f"log-{tag}-{i}"})
        statuses.append(reply.status)
    assert statuses == [401, 200, 400, 400], statuses
    # The created user can log in with the password sent in the body.
    assert (
        rest(
            mesh, "POST", "/v1/auth:login", {"tenant": "demo", "email": email, "password": secrets[1]}
        ).status
        == 200
    )
    log_path = mesh.envoy.log
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and log_path.read_text().count(f"log-{tag}-") < len(calls):
        time.sleep(0.1)
    text = log_path.read_text()
    assert text.count(f"log-{tag}-") == len(calls), "every request is in the access log"
    for secret in secrets:
        assert secret not in text, secret


def test_reflection_through_the_edge_is_for_operators(mesh):
    import grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    def list_services(target, token=None):
        metadata = (("authorization", f"Bearer {token}"),) if token else ()
        with grpc.insecure_channel(target) as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            (reply,) = list(stub.ServerReflectionInfo(iter([request]), metadata=metadata, timeout=10))
            return {s.name for s in reply.list_services_response.service}

    edge = mesh.rest_url.removeprefix("http://")
    for token in (None, login(mesh, "admin@demo.test")):
        with pytest.raises(grpc.RpcError) as err:
            list_services(edge, token)
        expected = grpc.StatusCode.UNAUTHENTICATED if token is None else grpc.StatusCode.PERMISSION_DENIED
        assert err.value.code() == expected
    assert "learnflow.identity.v1.IdentityService" in list_services(edge, login(mesh, "operator@demo.test"))
    # The mesh port (grpcurl's) needs no token.
    assert "learnflow.identity.v1.IdentityService" in list_services(mesh.grpc_addr)
