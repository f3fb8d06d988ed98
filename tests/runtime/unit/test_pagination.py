import uuid
from datetime import UTC, datetime

import pytest

from services.runtime import pagination
from services.runtime.errors import InvalidArgument


def test_page_size_rules():
    assert pagination.page_size(0) == pagination.DEFAULT_PAGE_SIZE
    assert pagination.page_size(10_000) == pagination.MAX_PAGE_SIZE
    assert pagination.page_size(7) == 7
    with pytest.raises(InvalidArgument):
        pagination.page_size(-1)


def test_tokens_round_trip_typed():
    when, ident = datetime(2026, 12, 6, 10, 0, tzinfo=UTC), uuid.uuid4()
    token = pagination.encode_token({"t": when.isoformat(), "i": str(ident), "v": 0.5, "n": 3})
    position = pagination.decode_token(token, t=datetime, i=uuid.UUID, v=float, n=int)
    assert position == {"t": when, "i": ident, "v": 0.5, "n": 3}
    assert pagination.decode_token("", t=datetime) is None


def forged(position: object) -> str:
    return pagination.encode_token(position)  # type: ignore[arg-type]


# A well-formed id in the forged tokens: fixed, not uuid4(), because it is part of the test ids, which
# every pytest-xdist worker must collect the same.
AN_ID = "0d5e3c1a-7b2f-4e8d-9a61-3f0c2b7d8e15"


@pytest.mark.parametrize(
    "token",
    [
        "!!!not-a-token",
        forged([1, 2]),  # not an object
        forged({"t": "2026-12-06T10:00:00+00:00"}),  # a key missing
        forged({"t": "2026-12-06T10:00:00+00:00", "i": AN_ID, "x": 1}),  # a key too many
        forged({"t": "yesterday", "i": AN_ID}),  # the ListStruggleAlerts 500 of issue #10
        forged({"t": "2026-12-06T10:00:00", "i": AN_ID}),  # no time zone
        forged({"t": "2026-12-06T10:00:00+00:00", "i": "'; drop table users"}),
        forged({"t": 7, "i": AN_ID}),
    ],
)
def test_a_token_that_is_not_exactly_a_position_of_this_list_is_invalid_argument(token):
    with pytest.raises(InvalidArgument) as err:
        pagination.decode_token(token, t=datetime, i=uuid.UUID)
    assert err.value.violations[0].field == "page_token"


@pytest.mark.parametrize("value", [True, "1.5", float("inf"), float("nan"), None])
def test_numbers_must_be_finite_numbers(value):
    with pytest.raises(InvalidArgument):
        pagination.decode_token(forged({"v": value, "s": "x"}), v=float, s=str)


@pytest.mark.parametrize(
    "position",
    [
        {"n": 2**63, "s": "x", "t": "2026-12-06T10:00:00+00:00"},  # over a bigint: 22003 in PostgreSQL
        {"n": -(2**63) - 1, "s": "x", "t": "2026-12-06T10:00:00+00:00"},
        {"n": 1, "s": "a\x00b", "t": "2026-12-06T10:00:00+00:00"},  # PostgreSQL text refuses NUL
        {"n": 1, "s": "\ud800", "t": "2026-12-06T10:00:00+00:00"},  # a lone surrogate: not UTF-8
        {"n": 1, "s": "x", "t": "2026-12-06T10:00:00+20:00"},  # Python's offset, not PostgreSQL's
    ],
)
def test_a_value_the_database_cannot_take_is_invalid_argument(position):
    token = pagination.encode_token(position)  # json.dumps escapes the NUL and the surrogate as \uXXXX
    with pytest.raises(InvalidArgument) as err:
        pagination.decode_token(token, n=int, s=str, t=datetime)
    assert err.value.violations[0].field == "page_token"


def test_the_edges_the_database_takes_pass():
    position = {"n": 2**63 - 1, "s": "é ✓", "t": "2026-12-06T10:00:00-15:59"}
    decoded = pagination.decode_token(pagination.encode_token(position), n=int, s=str, t=datetime)
    assert decoded["n"] == 2**63 - 1 and decoded["s"] == "é ✓"


def test_the_fields_must_be_named():
    with pytest.raises(TypeError):
        pagination.decode_token("abc")
