"""The breaker's state machine, driven by an injected clock (no sleeping)."""

from __future__ import annotations

import pytest

from services.runtime.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_consecutive_failures_only():
    breaker = CircuitBreaker(3, 30.0, clock=Clock())
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # a success resets the count
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open"
    assert not breaker.allow()


def test_half_open_lets_one_trial_through_then_closes_on_success():
    clock = Clock()
    breaker = CircuitBreaker(1, 30.0, clock=clock)
    breaker.record_failure()
    clock.now += 29.9
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 0.1
    assert breaker.state == "half_open"
    assert breaker.allow()  # the one trial
    assert not breaker.allow()  # everyone else waits for its verdict
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()


def test_failed_trial_opens_again_for_a_full_reset_period():
    clock = Clock()
    breaker = CircuitBreaker(2, 10.0, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.now += 10
    assert breaker.allow()
    breaker.record_failure()  # a single failed trial is enough
    assert breaker.state == "open"
    clock.now += 9.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()


def test_released_trial_lets_another_call_try():
    clock = Clock()
    breaker = CircuitBreaker(1, 5.0, clock=clock)
    breaker.record_failure()
    clock.now += 5
    assert breaker.allow()
    breaker.release()  # e.g. the trial call was cancelled
    assert breaker.state == "half_open"
    assert breaker.allow()


def test_rejects_nonsense_limits():
    with pytest.raises(ValueError, match="failures"):
        CircuitBreaker(0)


def test_retry_after_counts_down_the_open_time():
    clock = Clock()
    breaker = CircuitBreaker(1, 30.0, clock=clock)
    assert breaker.retry_after() == 0.0
    breaker.record_failure()
    clock.now += 10
    assert breaker.retry_after() == 20.0
    clock.now += 25
    assert breaker.state == "half_open" and breaker.retry_after() == 0.0
