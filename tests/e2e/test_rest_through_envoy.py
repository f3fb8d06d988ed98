"""The REST API as the browser meets it: through Envoy, with JWT auth, JSON errors in one shape."""

import re
import uuid

import pytest

from gateway import descriptors
from services.runtime.contexts import REPO_ROOT
from services.runtime.testing import DEMO_PASSWORD, login, rest


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
    assert {"user.email", "user.roles", "password"} <= fields
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
