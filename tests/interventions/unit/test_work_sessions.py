"""The work-session rules (domain/sessions.py): gaps start a new session, a late activity of an
earlier session changes nothing, each threshold is crossed once per session, and the signal's
duration is in whole minutes unless the threshold needs the fraction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import count

from services.interventions.domain.policy import parse
from services.interventions.domain.sessions import WorkSession, advance, signal_of, thresholds

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
GAP = timedelta(minutes=10)


def at(minutes: float) -> tuple[datetime, str]:
    return (T0 + timedelta(minutes=minutes), "loops")


def ids() -> Callable[[], str]:
    """New session ids s1, s2, ... (the service's are UUIDs)."""
    n = count(1)
    return lambda: f"s{next(n)}"


def test_a_session_crosses_each_threshold_once_and_a_gap_starts_another():
    start = WorkSession("s0", T0, T0)
    after, crossed = advance(start, [at(m) for m in range(5, 55, 5)], GAP, (30.0, 45.0), ids())
    assert [(c.session_id, c.threshold, c.minutes) for c in crossed] == [
        ("s0", 30.0, 30.0),
        ("s0", 45.0, 45.0),
    ]
    assert after == WorkSession("s0", T0, T0 + timedelta(minutes=50), (30.0, 45.0))
    # The same activities again: nothing new.
    again, crossed = advance(after, [at(m) for m in range(5, 55, 5)], GAP, (30.0, 45.0), ids())
    assert (again, crossed) == (after, [])
    # 11 minutes after the last: a new session, with its own thresholds to cross.
    fresh, crossed = advance(after, [at(61), at(70)], GAP, (30.0, 45.0), ids())
    assert (fresh.session_id, fresh.started_at, fresh.signalled, crossed) == (
        "s1",
        T0 + timedelta(minutes=61),
        (),
        [],
    )


def test_out_of_order_activities_and_a_late_one_of_an_earlier_session():
    start = WorkSession("s0", T0 + timedelta(minutes=20), T0 + timedelta(minutes=20))
    # Within the gap before the start: the session started earlier than thought.
    after, _ = advance(start, [at(12)], GAP, (), ids())
    assert after.started_at == T0 + timedelta(minutes=12)
    # More than the gap before the start: an earlier session's, ignored.
    same, crossed = advance(after, [at(0)], GAP, (45.0,), ids())
    assert (same, crossed) == (after, [])
    # Taken in time order whatever the order given: 40 then 50 then 57 keeps one session to 57.
    longer, crossed = advance(after, [at(57), at(40), at(30), at(50)], GAP, (45.0,), ids())
    assert longer.last_activity_at == T0 + timedelta(minutes=57) and [c.threshold for c in crossed] == [45.0]


def test_the_signal_names_the_session_and_threshold_and_says_whole_minutes():
    (c,) = advance(WorkSession("s0", T0, T0), [at(45.5)], timedelta(minutes=60), (45.0,))[1]
    sig = signal_of(c, "tenant", "ana")
    assert (sig.kind, sig.minutes, sig.key, sig.source) == ("work.session", 45.0, "s0", "work.session:s0:45")
    (short,) = advance(WorkSession("s0", T0, T0), [at(0.125)], GAP, (0.1,))[1]
    assert signal_of(short, "tenant", "ana").minutes == 0.125  # a whole 0 would not be "at least 0.1"


def test_the_thresholds_are_the_minutes_the_work_session_policies_ask_for():
    calm = parse(
        "---\nid: calm\ntitle: Calm\nintervention: calm_break\nurgency: 40\nwhen:\n  signal: work.session\n"
        '  all:\n    - field: minutes\n      at_least: 45\nmessage:\n  student: "{duration} minutes"\n---\n',
        "calm.md",
    )
    quick = parse(
        "---\nid: quick\ntitle: Quick\nintervention: calm_break\nurgency: 40\nwhen:\n  signal: work.session\n"
        '  all:\n    - field: minutes\n      at_least: 0.5\nmessage:\n  student: "{duration} minutes"\n---\n',
        "quick.md",
    )
    assert thresholds([calm, quick]) == (0.5, 45.0)
