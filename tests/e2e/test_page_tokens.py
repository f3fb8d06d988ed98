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


# Positions with the right keys and types whose values the database cannot take (the second review's
# findings: a bigint overflow, a NUL or a lone surrogate in text, an offset PostgreSQL refuses, an id
# that is not one): a 400 naming page_token too, never a 500 from the database.
A_TIME = "2026-01-01T00:00:00+00:00"
OUT_OF_RANGE = {
    "ListActivityEvents": {"s": 2**63},
    "ListAuditRecords": {"s": 2**63},
    "ListCheckpoints": {"s": 2**63, "t": A_TIME, "i": SOME_ID},
    "ListUsers": {"e": "\u0000", "i": SOME_ID},
    "ListInterventions": {"c": "\ud800", "i": SOME_ID},
    "ListClasses": {"n": "\u0000", "i": SOME_ID},
    "ListStruggleAlerts": {"t": A_TIME, "i": "x"},
    "ListDeadLetters": {"t": "2024-01-01T00:00:00+20:00", "id": SOME_ID},
    "ListDeadJobs": {"t": "2024-01-01T00:00:00+20:00", "id": SOME_ID},
}


@pytest.mark.parametrize("name", sorted(OUT_OF_RANGE))
def test_a_position_the_database_cannot_take_is_a_400_naming_page_token(mesh, name):
    [method] = [m for m in PAGINATED if m.name == name]
    token = login(mesh, USER_FOR_ROLE[(method.roles or ("ROLE_ADMIN",))[0]])
    path = method.bindings[0].template
    for var in method.bindings[0].parsed.variables:
        path = path.replace("{" + var.field_path + "}", SOME_ID)
    forged = _forge(OUT_OF_RANGE[name])
    reply = rest(mesh, "GET", f"{path}?{urllib.parse.urlencode({'pageToken': forged})}", token=token)
    assert reply.status == 400, (reply.status, reply.body)
    fields = {v["field"] for d in reply.body["details"] for v in d.get("fieldViolations", [])}
    assert fields == {"page_token"}, reply.body
