"""A consecutive-failure circuit breaker, one per remote destination (tutoring's AI provider, each
host the outbound HTTP client calls).

Why: when a destination is down or throttling us, every call would otherwise pay the full
timeout-and-retry budget before failing (for tutoring: before falling back to the offline agent).
After `failures` failed calls in a row the breaker opens and calls are refused at once; after
`reset_seconds` it lets exactly ONE trial call through (half-open) and closes again only if that
call succeeds.

The clock is injected (`time.monotonic` by default) so tests can move time instead of sleeping.
The breaker is used from one event loop and never awaits, so it needs no lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """closed → open after N consecutive failures → half-open after the reset time (one trial call)
    → closed on success, open again (for another full reset time) on failure."""

    def __init__(
        self,
        failures: int = 5,
        reset_seconds: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        if failures < 1:
            raise ValueError("failures must be at least 1")
        if reset_seconds < 0:
            raise ValueError("reset_seconds must not be negative")
        self.failures = failures
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        if self._trial_in_flight or self._clock() - self._opened_at >= self.reset_seconds:
            return "half_open"
        return "open"

    @property
    def consecutive_failures(self) -> int:
        return self._consecutive

    def retry_after(self) -> float:
        """Seconds until an open breaker lets its trial call through (0 unless open)."""
        if self._opened_at is None or self.state != "open":
            return 0.0
        return max(self.reset_seconds - (self._clock() - self._opened_at), 0.0)

    def allow(self) -> bool:
        """May a call go out now? In half-open this reserves the single trial slot, so the caller
        MUST then report `record_success`, `record_failure` or (if it never finished) `release`."""
        state = self.state
        if state == "closed":
            return True
        if state == "open" or self._trial_in_flight:
            return False
        self._trial_in_flight = True
        return True

    def record_success(self) -> None:
        self._consecutive = 0
        self._opened_at = None
        self._trial_in_flight = False

    def record_failure(self) -> None:
        self._consecutive += 1
        if self._trial_in_flight or self._consecutive >= self.failures:
            self._opened_at = self._clock()
        self._trial_in_flight = False

    def release(self) -> None:
        """The trial call ended without a verdict (e.g. cancelled): let another call try."""
        self._trial_in_flight = False
