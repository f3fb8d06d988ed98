"""Every paginated RPC, through Envoy, with page tokens a client made up: a 400 naming page_token,
never a 500 (issue #10 found `Invalid isoformat string` and a KeyError behind forged tokens)."""

from __future__ import annotations

import base64
import json
import urllib.parse

import pytest
from google.protobuf import descriptor_pool
from test_bad_input_through_envoy import METHODS, SOME_ID, USER_FOR_ROLE

from services.runtime.testing import login, rest


def _forge(position: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


FORGED = {
    "garbage": "!!!not-a-token",
    "not-an-object": _forge([1]),
    "wrong-keys": _forge({"x": 1}),
    "bad-time": _forge({"t": "yesterday", "i": SOME_ID}),
    "bad-number": _forge({"v": "high", "s": "x"}),
    "bad-sequence": _forge({"s": "1; select"}),
}
PAGINATED = [
    m
    for m in METHODS
    if "page_token" in descriptor_pool.Default().FindMessageTypeByName(m.input_type).fields_by_name
    and m.bindings[0].verb == "GET"
]


def test_every_paginated_rest_rpc_is_covered():
    assert {m.name for m in PAGINATED} >= {"ListUsers", "ListStruggleAlerts", "ListDeadLetters"}


@pytest.mark.parametrize("forgery", sorted(FORGED))
@pytest.mark.parametrize("method", PAGINATED, ids=[m.name for m in PAGINATED])
def test_a_forged_page_token_is_a_400_naming_page_token(mesh, method, forgery):
    token = login(mesh, USER_FOR_ROLE[(method.roles or ("ROLE_ADMIN",))[0]])
    path = method.bindings[0].template
    for var in method.bindings[0].parsed.variables:
        path = path.replace("{" + var.field_path + "}", SOME_ID)
    reply = rest(mesh, "GET", f"{path}?{urllib.parse.urlencode({'pageToken': FORGED[forgery]})}", token=token)
    assert reply.status == 400, (reply.status, reply.body)
    fields = {v["field"] for d in reply.body["details"] for v in d.get("fieldViolations", [])}
    assert fields == {"page_token"}, reply.body
