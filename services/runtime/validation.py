"""Request validation from the contract, once, for every RPC.

The rules live in the protos as protovalidate constraints (`(buf.validate.field)`: lengths, formats,
enum values, list sizes, time bounds), so the gRPC API, the REST API through Envoy and the generated
OpenAPI document all state the same limits. The interceptor calls `check(request)` before a handler
runs; a request that breaks a rule is answered INVALID_ARGUMENT with one field violation per problem
(HTTP 400 through Envoy) and never reaches the service, so it changes nothing.

Two rules hold for every request without being written in each proto: no string field has a NUL
character (PostgreSQL text cannot store one, and JSONB refuses its `\u0000` escape), and every
`google.protobuf.Timestamp` lies between 1900-01-01 and 2999-12-31 UTC with nanos in 0..999,999,999
(Envoy's JSON parser already refuses what the Timestamp type cannot express, but gRPC carries any two
integers; and a time at the edge of Python's datetime range overflows the first day added to it).

A body that does not decode as the request message at all is INVALID_ARGUMENT too, not the INTERNAL
error gRPC gives a failed deserializer by default: that is how invalid UTF-8 arrives (`%FF` in a REST
path, or a JSON `"\ud800"` lone surrogate, which Envoy's transcoder passes on as bytes that are not
UTF-8), since protobuf refuses to decode a string field that is not valid UTF-8.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import protovalidate
from buf.validate import validate_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from services.runtime.errors import FieldViolation, InvalidArgument

_NUL = "\x00"
_validator = protovalidate.Validator()


class Undecodable:
    """Stands for a request whose bytes did not decode; `check` turns it into INVALID_ARGUMENT."""

    __slots__ = ("error", "type_name")

    def __init__(self, type_name: str, error: Exception):
        self.type_name = type_name
        self.error = error


def safe_deserializer(
    deserializer: Callable[[bytes], Any] | None, type_name: str = "request"
) -> Callable[[bytes], Any] | None:
    """Wraps a generated request deserializer so undecodable bytes become a value the interceptor can
    answer with INVALID_ARGUMENT (gRPC's own handling reports them as INTERNAL)."""
    if deserializer is None:
        return None

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except (DecodeError, UnicodeDecodeError, ValueError) as exc:
            return Undecodable(type_name, exc)

    return deserialize


def check(request: Any) -> None:
    """Raises InvalidArgument listing every rule the request breaks; returns quietly otherwise."""
    if isinstance(request, Undecodable):
        raise InvalidArgument(
            "the request body could not be decoded (strings must be valid UTF-8)",
            [FieldViolation("", f"not a valid {request.type_name}: {request.error}")],
            reason="UNDECODABLE_REQUEST",
        )
    if not isinstance(request, Message):
        return
    violations = _character_violations(request)
    if _has_rules(request.DESCRIPTOR):
        try:
            _validator.validate(request)
        except protovalidate.ValidationError as exc:
            violations += [
                FieldViolation(_path(v), v.proto.message or v.proto.rule_id) for v in exc.violations
            ]
        except protovalidate.EvaluationError as exc:
            # A rule that could not be evaluated on these values (a time out of CEL's range, say):
            # the values are the problem when the rules above already named one; otherwise say so.
            if not violations:
                violations.append(FieldViolation("", f"a value could not be checked: {exc}"))
    if violations:
        raise InvalidArgument("the request has invalid fields", violations)


@cache
def _has_rules(descriptor: Descriptor) -> bool:
    """Whether protovalidate has anything to check in this message type: a rule on the message, one
    of its oneofs or fields, or in a message type it contains (map values included). Without one the
    validator would find nothing, and calling it still costs a microsecond or more per request."""
    return _rules_within(descriptor, set())


def _rules_within(descriptor: Descriptor, seen: set[str]) -> bool:
    if descriptor.full_name in seen:  # a recursive type: its rules, if any, are found at its first visit
        return False
    seen.add(descriptor.full_name)
    if descriptor.GetOptions().HasExtension(validate_pb2.message):
        return True
    if any(o.GetOptions().HasExtension(validate_pb2.oneof) for o in descriptor.oneofs):
        return True
    for field in descriptor.fields:
        if field.GetOptions().HasExtension(validate_pb2.field):
            return True
        if field.type == FieldDescriptor.TYPE_MESSAGE and _rules_within(field.message_type, seen):
            return True
    return False


def _path(violation: Any) -> str:
    """`exercise.test_cases[2].name` from protovalidate's structured field path (its own message
    classes: a subscript is a oneof of index / string_key / int_key / uint_key / bool_key)."""
    parts: list[str] = []
    for element in violation.proto.field.elements:
        subscript = element.subscript
        if subscript is None:
            parts.append(element.field_name)
        elif subscript.field == "index" or subscript.field in ("int_key", "uint_key"):
            parts.append(f"{element.field_name}[{subscript.value}]")
        elif subscript.field == "bool_key":
            parts.append(f"{element.field_name}[{str(subscript.value).lower()}]")
        else:
            parts.append(f"{element.field_name}[{subscript.value!r}]")
    return ".".join(parts)


# --- the rule every string obeys ---------------------------------------------------------------


def _character_violations(message: Message) -> list[FieldViolation]:
    found: list[FieldViolation] = []
    _walk(message, "", found)
    return found


def _walk(message: Message, prefix: str, found: list[FieldViolation]) -> None:
    strings, messages = _fields_of(message.DESCRIPTOR)
    for field in strings:
        value = getattr(message, field.name)
        path = prefix + field.name
        if field.is_repeated:
            for i, item in enumerate(value):
                _check_string(item, f"{path}[{i}]", found)
        else:
            _check_string(value, path, found)
    for field in messages:
        if field.message_type.full_name == _TIMESTAMP:
            if field.is_repeated:
                for i, item in enumerate(getattr(message, field.name)):
                    _check_time(item, f"{prefix}{field.name}[{i}]", found)
            elif message.HasField(field.name):
                _check_time(getattr(message, field.name), prefix + field.name, found)
        elif field.message_type.GetOptions().map_entry:
            _walk_map(field, getattr(message, field.name), prefix + field.name, found)
        elif field.is_repeated:
            for i, item in enumerate(getattr(message, field.name)):
                _walk(item, f"{prefix}{field.name}[{i}].", found)
        elif message.HasField(field.name):
            _walk(getattr(message, field.name), f"{prefix}{field.name}.", found)


def _walk_map(field: FieldDescriptor, value: Any, path: str, found: list[FieldViolation]) -> None:
    key_field = field.message_type.fields_by_name["key"]
    value_field = field.message_type.fields_by_name["value"]
    for key, item in value.items():
        entry = f"{path}[{key!r}]"
        if key_field.type == FieldDescriptor.TYPE_STRING:
            _check_string(key, f"{path} key {key!r}", found)
        if value_field.type == FieldDescriptor.TYPE_STRING:
            _check_string(item, entry, found)
        elif value_field.type == FieldDescriptor.TYPE_MESSAGE:
            _walk(item, entry + ".", found)


def _check_string(value: str, path: str, found: list[FieldViolation]) -> None:
    if _NUL in value:
        found.append(FieldViolation(path, "must not contain a NUL character (\\u0000)"))


_TIMESTAMP = "google.protobuf.Timestamp"
EARLIEST_SECONDS = -2_208_988_800  # 1900-01-01T00:00:00Z
LATEST_SECONDS = 32_503_679_999  # 2999-12-31T23:59:59Z


def _check_time(value: Any, path: str, found: list[FieldViolation]) -> None:
    if not 0 <= value.nanos <= 999_999_999:
        found.append(FieldViolation(path, "nanos must be between 0 and 999,999,999"))
    elif not EARLIEST_SECONDS <= value.seconds <= LATEST_SECONDS:
        found.append(FieldViolation(path, "must be a time between 1900-01-01 and 2999-12-31 (UTC)"))


# Well-known types carry no text a user typed; their own strings (Any.type_url, FieldMask paths) are
# checked by the service that reads them.
_OPAQUE = frozenset({"google.protobuf.Any", "google.protobuf.Struct", "google.protobuf.Value"})


@cache
def _fields_of(descriptor: Descriptor) -> tuple[tuple[FieldDescriptor, ...], tuple[FieldDescriptor, ...]]:
    """The string fields and the message fields of a message type (computed once per type)."""
    strings = tuple(f for f in descriptor.fields if f.type == FieldDescriptor.TYPE_STRING)
    messages = tuple(
        f
        for f in descriptor.fields
        if f.type == FieldDescriptor.TYPE_MESSAGE and f.message_type.full_name not in _OPAQUE
    )
    return strings, messages
