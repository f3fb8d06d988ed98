import pytest

from services.runtime import pagination
from services.runtime.errors import InvalidArgument


def test_page_size_rules():
    assert pagination.page_size(0) == pagination.DEFAULT_PAGE_SIZE
    assert pagination.page_size(10_000) == pagination.MAX_PAGE_SIZE
    assert pagination.page_size(7) == 7
    with pytest.raises(InvalidArgument):
        pagination.page_size(-1)


def test_tokens_round_trip_and_garbage_is_invalid_argument():
    token = pagination.encode_token({"e": "a@b.c", "i": "x"})
    assert pagination.decode_token(token) == {"e": "a@b.c", "i": "x"}
    assert pagination.decode_token("") is None
    with pytest.raises(InvalidArgument) as err:
        pagination.decode_token("!!!not-a-token")
    assert err.value.violations[0].field == "page_token"
