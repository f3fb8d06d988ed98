"""The contract's validation (services/runtime/validation.py) on real generated request messages."""

from __future__ import annotations

import importlib
import time
from pathlib import Path

import pytest
from buf.validate import validate_pb2
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from learnflow.identity.v1 import identity_service_pb2 as identity
from learnflow.mtss.v1 import mtss_service_pb2 as mtss
from learnflow.progress.v1 import progress_service_pb2 as progress
from learnflow.progress.v1 import resources_pb2 as progress_resources
from learnflow.sandbox.v1 import resources_pb2 as sandbox_resources
from learnflow.sandbox.v1 import sandbox_service_pb2 as sandbox

from gateway.descriptors import load
from services.runtime import validation
from services.runtime.contexts import REPO_ROOT
from services.runtime.errors import InvalidArgument


def violations(request: object) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as err:
        validation.check(request)
    return {v.field: v.description for v in err.value.violations}


def test_every_problem_is_reported_with_its_field_path() -> None:
    activity = progress_resources.Activity(id="a\x00", student_id="s", kind=99, topic="t" * 101, score=2)
    activity.occur_time.FromSeconds(int(time.time()) + 3600)
    found = violations(progress.RecordActivityRequest(activity=activity))
    assert set(found) == {
        "activity.id",
        "activity.topic",
        "activity.kind",
        "activity.score",
        "activity.occur_time",
    }
    assert "NUL" in found["activity.id"] and "100" in found["activity.topic"]
    assert "future" in found["activity.occur_time"]


def test_every_timestamp_of_a_request_is_a_time_python_and_postgresql_can_hold() -> None:
    """gRPC carries any two integers as a Timestamp (Envoy's JSON parser refuses what the type cannot
    express); a rule-less field is bounded too, and a time at the edge of Python's range is refused
    before a day added to it overflows."""
    for seconds, nanos, problem in [
        (1_700_000_000, -1, "nanos must be between 0 and 999,999,999"),
        (1_700_000_000, 1_000_000_000, "nanos must be between 0 and 999,999,999"),
        (253_402_300_800, 0, "must be a time between 1900-01-01 and 2999-12-31 (UTC)"),  # year 10000
        (32_503_680_000, 0, "must be a time between 1900-01-01 and 2999-12-31 (UTC)"),  # 3000-01-01
        (-2_208_988_801, 0, "must be a time between 1900-01-01 and 2999-12-31 (UTC)"),  # 1899
    ]:
        request = mtss.ScanConflictsRequest()
        request.start_time.seconds, request.start_time.nanos = seconds, nanos
        assert violations(request) == {"start_time": problem}
        activity = progress_resources.Activity(id="a", student_id="s", topic="t")
        activity.occur_time.seconds, activity.occur_time.nanos = seconds, nanos
        with pytest.raises(InvalidArgument) as err:
            validation.check(progress.RecordActivityRequest(activity=activity))
        assert problem in [v.description for v in err.value.violations]
    edges = mtss.ScanConflictsRequest()
    edges.start_time.seconds, edges.end_time.seconds = -2_208_988_800, 32_503_679_999
    edges.end_time.nanos = 999_999_999
    validation.check(edges)


def test_list_items_are_named_by_index() -> None:
    exercise = sandbox_resources.Exercise(
        title="ok",
        test_cases=[sandbox_resources.TestCase(name="fine"), sandbox_resources.TestCase(name="x\x00")],
    )
    assert set(violations(sandbox.CreateExerciseRequest(exercise=exercise))) == {
        "exercise.test_cases[1].name"
    }
    too_many = sandbox_resources.Exercise(title="ok", test_cases=[sandbox_resources.TestCase(name="c")] * 51)
    assert "exercise.test_cases" in violations(sandbox.CreateExerciseRequest(exercise=too_many))


def test_ids_formats_and_the_me_alias() -> None:
    validation.check(identity.GetUserRequest(user_id="me"))
    validation.check(identity.GetUserRequest(user_id="3f2b8c1e-1111-4222-8333-444455556666"))
    assert violations(identity.GetUserRequest(user_id="../../etc/passwd")) == {
        "user_id": 'must be an id (a UUID) or "me"'
    }
    assert set(violations(progress.AcknowledgeAlertRequest(alert_id="nope"))) == {"alert_id"}


def test_a_valid_request_passes_and_an_empty_optional_id_is_not_checked() -> None:
    validation.check(sandbox.ExecuteRequest(code="print(1)"))
    validation.check(progress.ListStruggleAlertsRequest(page_size=20))


def test_bytes_that_do_not_decode_are_invalid_argument_not_internal() -> None:
    deserialize = validation.safe_deserializer(progress.GetProgressRequest.FromString, "GetProgress")
    assert deserialize is not None
    request = deserialize(b"\x0a\x02\xff\xfe")  # field 1 (student_id) holding bytes that are not UTF-8
    with pytest.raises(InvalidArgument) as err:
        validation.check(request)
    assert err.value.reason == "UNDECODABLE_REQUEST"
    assert deserialize(b"\x0a\x02me").student_id == "me"


# --- the contract itself ----------------------------------------------------------------------------


def _request_types() -> list[Descriptor]:
    for path in (REPO_ROOT / "gen" / "python" / "learnflow").rglob("*_pb2.py"):
        importlib.import_module(
            ".".join(path.relative_to(REPO_ROOT / "gen" / "python").with_suffix("").parts)
        )
    pool = descriptor_pool.Default()
    methods = load(Path(REPO_ROOT / "gen" / "descriptor.binpb")).methods
    assert methods, "no RPCs found: the check would pass vacuously"
    return [pool.FindMessageTypeByName(m.input_type) for m in methods]


def _unbounded(descriptor: Descriptor, seen: frozenset[str] = frozenset()) -> list[str]:
    if descriptor.full_name in seen or descriptor.full_name.startswith("google.protobuf."):
        return []
    found = []
    for f in descriptor.fields:
        options = f.GetOptions()
        rules = options.Extensions[validate_pb2.field] if options.HasExtension(validate_pb2.field) else None
        where = f"{descriptor.full_name}.{f.name}"
        if f.type == FieldDescriptor.TYPE_STRING:
            own = rules is not None and (
                rules.string.HasField("max_len") or rules.string.HasField("uuid") or len(rules.cel) > 0
            )
            item = rules is not None and rules.repeated.items.string.HasField("max_len")
            if not (own or (f.is_repeated and item)):
                found.append(f"{where}: a string needs a max_len (or a format such as uuid)")
        elif f.type == FieldDescriptor.TYPE_ENUM:
            if rules is None or not (rules.enum.defined_only or rules.repeated.items.enum.defined_only):
                found.append(f"{where}: an enum needs defined_only")
        elif f.type == FieldDescriptor.TYPE_MESSAGE and f.message_type.GetOptions().map_entry:
            # A map's keys and values are bounded by the map field's own rules (map.keys / map.values).
            for part, bound in (
                ("key", rules.map.keys if rules else None),
                ("value", rules.map.values if rules else None),
            ):
                kind = f.message_type.fields_by_name[part].type
                if kind == FieldDescriptor.TYPE_STRING and not (
                    bound is not None and bound.string.HasField("max_len")
                ):
                    found.append(f"{where} {part}: a string needs a max_len (map.{part}s.string.max_len)")
                elif kind == FieldDescriptor.TYPE_MESSAGE:
                    found += _unbounded(
                        f.message_type.fields_by_name[part].message_type, seen | {descriptor.full_name}
                    )
        elif f.type == FieldDescriptor.TYPE_MESSAGE:
            found += _unbounded(f.message_type, seen | {descriptor.full_name})
    return found


def test_every_string_and_enum_a_client_can_send_is_bounded_by_the_contract() -> None:
    """A new RPC or field without a bound fails here: over-long values must be refused at the door
    (not by PostgreSQL's index limit, nor by a reply too big for the transcoder)."""
    problems = sorted({p for request in _request_types() for p in _unbounded(request)})
    assert not problems, "\n".join(problems)


def test_protovalidate_is_skipped_only_for_types_without_any_rule() -> None:
    """`_has_rules` decides whether the validator runs at all: a type with a rule on a field, or in a
    message it contains, must count as having rules (a miss would let bad input through)."""
    assert not validation._has_rules(identity.GetJwksRequest.DESCRIPTOR)
    assert not validation._has_rules(identity.RotateSigningKeyRequest.DESCRIPTOR)
    assert validation._has_rules(identity.GetUserRequest.DESCRIPTOR)  # a rule on its own field
    # No rule on its own fields, only on those of the User it carries:
    update = identity.UpdateUserRequest.DESCRIPTOR
    assert not any(f.GetOptions().HasExtension(validate_pb2.field) for f in update.fields)
    assert validation._has_rules(update)
    assert "user.display_name" in violations(identity.UpdateUserRequest(user={"display_name": "x" * 5000}))
    validation.check(identity.GetJwksRequest())  # nothing to break
