"""What ImportEdFi refuses before storing anything (domain/edfi_import.py); the values that used to
answer INTERNAL are sent through gRPC in tests/mtss/integration/test_mtss_api.py."""

import json

import pytest

from services.mtss.domain import edfi_import
from services.runtime.errors import InvalidArgument

RESOURCES = ("interventions", "studentInterventionAssociations", "studentInterventionAttendanceEvents")
EMPTY = {r: [] for r in RESOURCES}


def _refusal(text: str) -> list[tuple[str, str]]:
    with pytest.raises(InvalidArgument) as err:
        edfi_import.read_export(text)
    return [(v.field, v.description) for v in err.value.violations]


def test_an_empty_export_is_read():
    assert edfi_import.read_export(json.dumps(EMPTY)) == EMPTY


@pytest.mark.parametrize("text", ["[" * 200_000, "nul", '{"a": NaN'])
def test_text_that_is_not_json_is_one_violation_on_json(text):
    [(field, description)] = _refusal(text)
    assert field == "json" and description.startswith("is not JSON")


def test_each_missing_resource_is_named_once():
    assert _refusal('{"interventions": 5}') == [
        ("json.studentInterventionAssociations", "is required"),
        ("json.studentInterventionAttendanceEvents", "is required"),
        ("json.interventions", "must be array"),
    ]


def test_a_reply_names_at_most_twenty_problems_and_counts_the_rest():
    doc = {**EMPTY, "interventions": [{"name": "\x00"} for _ in range(30)]}
    got = _refusal(json.dumps(doc))
    assert len(got) == edfi_import.MAX_VIOLATIONS + 1
    assert got[-1] == ("json", "and 10 more problems")
