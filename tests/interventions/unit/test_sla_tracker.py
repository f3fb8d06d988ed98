"""The SLA compliance gauge: the share of the trailing window's interventions delivered within the
SLA of their signal, per tenant, with older outcomes leaving the window."""

from datetime import UTC, datetime, timedelta

from services.interventions.service import SlaTracker

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_the_ratio_covers_the_window_and_older_outcomes_leave_it():
    now = [1000.0]
    gauge: dict[str, float] = {}
    sla = SlaTracker(180, 3600, gauge.__setitem__, monotonic=lambda: now[0])
    assert sla.record("a", T0, T0 + timedelta(seconds=180)) is True  # at the limit: compliant
    assert sla.record("a", T0, T0 + timedelta(seconds=181)) is False
    assert sla.record("a", T0, None) is False  # failed: late
    assert sla.record("b", T0, T0 + timedelta(seconds=1)) is True
    assert gauge == {"a": 1 / 3, "b": 1.0}
    now[0] += 1800
    sla.record("a", T0, T0 + timedelta(seconds=5))
    assert gauge["a"] == 2 / 4
    now[0] += 1801  # the first three are now older than the window; the fourth is not
    sla.record("a", T0, None)
    assert gauge["a"] == 1 / 2
    now[0] += 3601
    sla.refresh()  # everything has left the window: the gauge keeps its last value, b's too
    assert gauge == {"a": 1 / 2, "b": 1.0}
    sla.record("a", T0, T0)
    assert gauge["a"] == 1.0


def test_many_outcomes_keep_an_exact_count():
    now = [0.0]
    gauge: dict[str, float] = {}
    sla = SlaTracker(180, 100, gauge.__setitem__, monotonic=lambda: now[0])
    for i in range(1000):
        now[0] = i * 0.5  # two a second, one in four compliant
        sla.record("t", T0, T0 if i % 4 == 0 else None)
    # At 499.5 s the window (100 s) holds the outcomes from 399.5 s on: i = 799..999, 201 of them, of
    # which 800, 804, ..., 996 (50) were compliant.
    assert gauge["t"] == 50 / 201
