"""Every RPC's request, field by field, through Envoy's REST API with values no client may send: a NUL
in each string, each string one character over its bound, an undefined value in each enum, a time that
is not one or lies at the edge of Python's range (year 1, year 9999). Every
answer must be a 4xx JSON error (the contract's INVALID_ARGUMENT → 400, or the edge's own 4xx), never a
5xx, and an RPC the caller may call must answer 400 naming the field."""

from __future__ import annotations

import importlib
import json
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from buf.validate import validate_pb2
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from gateway.descriptors import HttpBinding, Method, load
from gateway.envoy import MAX_REQUEST_BODY_BYTES
from services.runtime.contexts import REPO_ROOT
from services.runtime.testing import login, rest

SOME_ID = "3f2b8c1e-1111-4222-8333-444455556666"
# The demo user who holds each role (services/identity/seed.py); service-only RPCs are called as admin
# and may answer 403 before validation, which is still a 4xx.
USER_FOR_ROLE = {
    "ROLE_ADMIN": "admin@demo.test",
    "ROLE_TEACHER": "teacher@demo.test",
    "ROLE_STUDENT": "student@demo.test",
    "ROLE_OPERATOR": "operator@demo.test",
}


def _load_types() -> None:
    root = REPO_ROOT / "gen" / "python"
    for path in (root / "learnflow").rglob("*_pb2.py"):
        importlib.import_module(".".join(path.relative_to(root).with_suffix("").parts))


_load_types()
POOL = descriptor_pool.Default()
METHODS = [m for m in load(REPO_ROOT / "gen" / "descriptor.binpb").methods if m.bindings and not m.internal]


@dataclass(frozen=True)
class Case:
    method: Method
    binding: HttpBinding
    field: tuple[str, ...]  # proto field names from the request root
    value: Any
    what: str

    @property
    def id(self) -> str:
        return f"{self.method.name}-{'.'.join(self.field)}-{self.what}"


def _rules(f: FieldDescriptor) -> Any:
    options = f.GetOptions()
    return options.Extensions[validate_pb2.field] if options.HasExtension(validate_pb2.field) else None


def _too_long(f: FieldDescriptor) -> str:
    rules = _rules(f)
    limit = 0
    if rules is not None:
        limit = rules.string.max_len or rules.repeated.items.string.max_len
    length = (limit or 99) + 1  # formats (uuid, "me" or uuid) refuse any 100 x's
    # A bound above the edge's body limit (ImportEdFi's 5 MB document) is out of REST's reach: the edge
    # answers 413 first. Just over that limit is enough to show it; a 5 MB body would still be on its
    # way when Envoy answers, and the client would meet a reset instead of the 413.
    return "x" * min(length, MAX_REQUEST_BODY_BYTES + 1)


def _leaves(
    d: Descriptor, prefix: tuple[str, ...] = (), depth: int = 0
) -> Iterator[tuple[tuple[str, ...], FieldDescriptor]]:
    for f in d.fields:
        if f.type == FieldDescriptor.TYPE_MESSAGE:
            if _is_map(f):
                yield (*prefix, f.name), f  # a JSON object: a bad key and a bad value (cases())
            elif f.message_type.full_name == "google.protobuf.Timestamp":
                yield (*prefix, f.name), f  # an RFC 3339 string in JSON
            elif depth < 3 and not f.message_type.full_name.startswith("google.protobuf."):
                yield from _leaves(f.message_type, (*prefix, f.name), depth + 1)
        elif f.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_ENUM):
            yield (*prefix, f.name), f


def _is_map(f: FieldDescriptor) -> bool:
    return f.type == FieldDescriptor.TYPE_MESSAGE and f.message_type.GetOptions().map_entry


def _map_cases(
    method: Method, binding: HttpBinding, path: tuple[str, ...], f: FieldDescriptor
) -> Iterator[Case]:
    rules = _rules(f)
    keys = (rules.map.keys.string.max_len if rules is not None else 0) or 99
    values = (rules.map.values.string.max_len if rules is not None else 0) or 99
    yield Case(method, binding, path, {"a\x00b": "x"}, "key-nul")
    yield Case(method, binding, path, {"k" * (keys + 1): "x"}, "key-too-long")
    yield Case(method, binding, path, {"k": "a\x00b"}, "value-nul")
    yield Case(method, binding, path, {"k": "v" * (values + 1)}, "value-too-long")


def cases() -> Iterator[Case]:
    for method in METHODS:
        binding = method.bindings[0]
        for path, f in _leaves(POOL.FindMessageTypeByName(method.input_type)):
            if _is_map(f):
                yield from _map_cases(method, binding, path, f)
            elif f.type == FieldDescriptor.TYPE_ENUM:
                yield Case(method, binding, path, 999, "undefined-enum")
            elif f.type == FieldDescriptor.TYPE_MESSAGE:  # a Timestamp
                yield Case(method, binding, path, "yesterday at noon", "not-a-time")
                # Times the type can express that the mesh does not take: at the edges of Python's
                # datetime range, where the first day added overflows (1900..2999 is the contract).
                yield Case(method, binding, path, "9999-06-01T00:00:00Z", "year-9999")
                yield Case(method, binding, path, "0001-01-01T00:00:00Z", "year-1")
            else:
                yield Case(method, binding, path, "a\x00b", "nul")
                yield Case(method, binding, path, _too_long(f), "too-long")


def _camel(name: str) -> str:
    head, *rest_ = name.split("_")
    return head + "".join(p.title() for p in rest_)


def _nest(path: tuple[str, ...], value: Any, repeated_at: set[int]) -> Any:
    """{"a": {"b": value}} from ("a", "b"), lists where a field on the way is repeated."""
    out: Any = value
    for i in reversed(range(len(path))):
        out = {_camel(path[i]): [out] if i in repeated_at else out}
    return out


def request_for(case: Case) -> tuple[str, str, Any]:
    """(verb, path with query, JSON body or None) carrying the bad value in the right place."""
    d = POOL.FindMessageTypeByName(case.method.input_type)
    repeated_at: set[int] = set()
    cursor = d
    for i, name in enumerate(case.field):
        f = cursor.fields_by_name[name]
        if f.is_repeated and not _is_map(f):
            repeated_at.add(i)
        if f.type == FieldDescriptor.TYPE_MESSAGE:
            cursor = f.message_type
    dotted = ".".join(case.field)
    path = case.binding.template
    in_path = False
    for var in case.binding.parsed.variables:
        value = case.value if var.field_path == dotted else SOME_ID
        in_path |= var.field_path == dotted
        path = path.replace("{" + var.field_path + "}", urllib.parse.quote(str(value), safe=""), 1)
        path = path.replace("{" + var.field_path + "=*}", urllib.parse.quote(str(value), safe=""), 1)
    if in_path:
        return case.binding.verb, path, ({} if case.binding.body else None)
    body_root = case.binding.body
    if body_root == "*" or (body_root and case.field[0] == body_root):
        inner = case.field if body_root == "*" else case.field[1:]
        shift = 0 if body_root == "*" else 1
        body = (
            _nest(inner, case.value, {i - shift for i in repeated_at if i >= shift}) if inner else case.value
        )
        return case.binding.verb, path, body
    query = urllib.parse.urlencode({".".join(_camel(p) for p in case.field): case.value})
    return case.binding.verb, f"{path}?{query}", ({} if body_root else None)


def _violation_path(case: Case) -> str:
    """How a field violation names the case's field: `exercise.test_cases[0].name`."""
    parts, cursor = [], POOL.FindMessageTypeByName(case.method.input_type)
    for name in case.field:
        f = cursor.fields_by_name[name]
        parts.append(f"{name}[0]" if f.is_repeated and not _is_map(f) else name)
        if f.type == FieldDescriptor.TYPE_MESSAGE:
            cursor = f.message_type
    return ".".join(parts)


ALL = list(cases())


@pytest.fixture(scope="module")
def tokens(mesh) -> dict[str, str]:
    return {email: login(mesh, email) for email in set(USER_FOR_ROLE.values())}


def _caller(method: Method, tokens: dict[str, str]) -> tuple[str | None, bool]:
    """The token to call with, and whether that caller is allowed (so validation must answer)."""
    if method.public:
        return None, True
    for role in method.roles or ("ROLE_ADMIN",):
        if role in USER_FOR_ROLE:
            return tokens[USER_FOR_ROLE[role]], True
    return tokens["admin@demo.test"], False


def test_the_walk_covers_every_rpc_with_a_rest_binding() -> None:
    assert {c.method.name for c in ALL} >= {
        m.name for m in METHODS if POOL.FindMessageTypeByName(m.input_type).fields
    }
    assert len(ALL) > 100, len(ALL)


@pytest.mark.parametrize("case", ALL, ids=[c.id for c in ALL])
def test_bad_value_is_a_4xx_json_error(mesh, tokens, case: Case) -> None:
    verb, path, body = request_for(case)
    token, allowed = _caller(case.method, tokens)
    raw = json.dumps(body).encode() if body is not None else None
    if "max_wait_seconds" in POOL.FindMessageTypeByName(case.method.input_type).fields_by_name:
        path += ("&" if "?" in path else "?") + "maxWaitSeconds=1"  # a stream that waits: not long
    reply = rest(mesh, verb, path, token=token, raw=raw)
    assert 400 <= reply.status < 500, (verb, path[:200], reply.status, str(reply.body)[:300])
    assert isinstance(reply.body, dict) and "code" in reply.body, (reply.status, str(reply.body)[:300])
    details = reply.body.get("details", [])
    # Envoy refuses some values itself (a NUL in a path, a body over its limit): its replies carry no
    # correlation id. Anything the mesh answered must name the field when the caller was allowed in.
    from_mesh = any((d.get("metadata") or {}).get("correlation_id") for d in details)
    if allowed and from_mesh and reply.status != 413:  # 413: over the edge's 1 MiB body limit
        fields = {v["field"] for d in details for v in d.get("fieldViolations", [])}
        where = _violation_path(case)
        named = where in fields or "" in fields
        named |= any(v.startswith((where + "[", where + ".")) for v in fields)  # a map's key or value
        # The transcoder itself refuses an enum number it does not know, naming the field in words.
        named |= case.field[-1] in reply.body.get("message", "")
        assert reply.status == 400 and named, (case.id, reply.body)


# A folder of the tz database where a zone belongs: Python's zoneinfo raised IsADirectoryError (not
# ZoneInfoNotFoundError) for these, and each context's zone check let it through as a 500.
TZ_FIELDS = [
    Case(method, method.bindings[0], path, folder, f"tz-folder-{folder}")
    for method in METHODS
    for path, f in _leaves(POOL.FindMessageTypeByName(method.input_type))
    if f.type == FieldDescriptor.TYPE_STRING and path[-1] == "time_zone"
    for folder in ("America", "Etc")
]


def test_the_time_zone_walk_finds_the_zone_fields() -> None:
    assert {c.method.name for c in TZ_FIELDS} >= {"CreateUser", "SetQuietHours", "CreateIntervention"}


@pytest.mark.parametrize("case", TZ_FIELDS, ids=[c.id for c in TZ_FIELDS])
def test_a_time_zone_folder_is_a_4xx_not_a_5xx(mesh, tokens, case: Case) -> None:
    verb, path, body = request_for(case)
    token, _ = _caller(case.method, tokens)
    raw = json.dumps(body).encode() if body is not None else None
    reply = rest(mesh, verb, path, token=token, raw=raw)
    assert 400 <= reply.status < 500, (case.id, reply.status, str(reply.body)[:300])
