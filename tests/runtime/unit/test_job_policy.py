"""The job outcome policy without a database: backoff windows with full jitter, and how a handler's
failure is classified (retry after, retry with backoff, or dead)."""

from __future__ import annotations

import pytest

from services.runtime.errors import FailedPrecondition, InvalidArgument, Unavailable
from services.runtime.jobs import Retry, Terminal, backoff_seconds, classify
from services.runtime.outbound import CircuitOpen, RetryableResponse, TerminalResponse


def test_backoff_windows_double_from_the_base_up_to_the_cap():
    windows = [backoff_seconds(n, 30, 6 * 3600, rng=lambda: 1.0) for n in range(1, 13)]
    assert windows[:4] == [30, 60, 120, 240]
    assert windows[9] == 30 * 2**9  # 4.3 h
    assert windows[10:] == [6 * 3600, 6 * 3600]
    assert backoff_seconds(1000, 30, 6 * 3600, rng=lambda: 1.0) == 6 * 3600  # no overflow


def test_full_jitter_spreads_over_the_whole_window():
    assert backoff_seconds(3, 30, 3600, rng=lambda: 0.0) == 0.0
    assert backoff_seconds(3, 30, 3600, rng=lambda: 0.25) == 30.0


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (Retry("429", after=12.5), (False, 12.5)),
        (Retry(), (False, None)),
        (Unavailable("db down"), (False, None)),
        (ConnectionError("reset"), (False, None)),
        (TimeoutError(), (False, None)),
        (Terminal("no address"), (True, None)),
        (FailedPrecondition("gone"), (True, None)),
        (InvalidArgument("bad"), (True, None)),
        (RetryableResponse("503", destination="x", status=503, retry_after=None), (False, None)),
        (RetryableResponse("429", destination="x", status=429, retry_after=30.0), (False, 30.0)),
        (CircuitOpen("open", destination="x", status=None, retry_after=9.0), (False, 9.0)),
        (TerminalResponse("400", destination="x", status=400, body=""), (True, None)),
    ],
)
def test_classify(error, expected):
    assert classify(error) == expected
