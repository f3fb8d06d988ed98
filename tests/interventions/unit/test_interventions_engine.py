"""The decision engine and the backtest on hand-computed cases."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.interventions.domain.backtest import backtest
from services.interventions.domain.engine import (
    SENT,
    SHADOW,
    SUPPRESSED,
    Signal,
    StudentState,
    TraceStep,
    arbitrate,
    in_canary,
    match,
)
from services.interventions.domain.policy import Condition, Policy, parse

POLICIES = Path(__file__).resolve().parents[3] / "policies"
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
STUDENT = "11111111-1111-1111-1111-111111111111"


def policy(name: str) -> Policy:
    return parse((POLICIES / f"{name}.md").read_text(), f"{name}.md")


def struggle(i: int, at: datetime, student: str = STUDENT) -> Signal:
    return Signal(
        id=f"s{i}",
        tenant_id="t",
        student_id=student,
        kind="struggle.detected",
        occurred_at=at,
        rule="repeated_error",
        key="NameError",
        error="NameError",
        topic="NameError",
        explanation="NameError 3 times in 7 minutes",
        teacher_ids=("teacher",),
    )


def no_repeats(*_: object) -> int:
    return 1


def test_the_trace_says_which_conditions_held_with_their_values() -> None:
    m = match(
        policy("calm_break"), Signal("s", "t", STUDENT, "work.session", T0, minutes=30), "UTC", no_repeats
    )
    assert not m.held
    assert [(s.condition, s.held, s.value) for s in m.trace] == [
        ("signal is work.session", True, "work.session"),
        ("minutes is at least 45", False, "30"),
        ("time of day between 07:00 and 23:00", True, "09:00"),
    ]


def test_time_of_day_is_the_students_own() -> None:
    late_in_tokyo = Signal(
        "s", "t", STUDENT, "work.session", T0 + timedelta(hours=6), minutes=50
    )  # 15:00 UTC
    assert match(policy("calm_break"), late_in_tokyo, "UTC", no_repeats).held
    assert not match(policy("calm_break"), late_in_tokyo, "Asia/Tokyo", no_repeats).held  # 00:00 there


def test_higher_urgency_wins_and_the_other_is_suppressed_as_outranked() -> None:
    review, ask = policy("review_concept"), policy("ask_teacher")
    ask = parse(
        ask.content.replace("hint.requested", "struggle.detected").replace(
            "    - repeated:\n        at_least: 3\n        within_minutes: 20\n        same: topic\n",
            "    - field: rule\n      is: repeated_error\n",
        ),
        "ask.md",
    )
    s = struggle(1, T0)
    decided = arbitrate(
        s, [match(review, s, "UTC", no_repeats), match(ask, s, "UTC", no_repeats)], StudentState(), "UTC"
    )
    assert [(d.policy.id, d.status) for d in decided] == [
        ("ask_teacher", SENT),
        ("review_concept", SUPPRESSED),
    ]
    assert decided[1].reason.startswith("outranked: ask_teacher (urgency 80)")


def test_the_daily_cap_and_cool_down() -> None:
    review = policy("review_concept")
    state = StudentState()
    outcomes = []
    for i in range(5):
        s = struggle(
            i, T0 + timedelta(hours=3 * i)
        )  # 09:00, 12:00, 15:00, 18:00, 21:00 UTC: past each cool-down
        (d,) = arbitrate(s, [match(review, s, "UTC", no_repeats)], state, "UTC")
        outcomes.append((d.status, d.reason.split(":")[0]))
    assert outcomes == [
        (SENT, ""),
        (SENT, ""),
        (SENT, ""),
        (SUPPRESSED, "daily cap"),
        (SUPPRESSED, "daily cap"),
    ]
    state = StudentState(sent_today=1, last_sent={"review_concept": T0})
    s = struggle(9, T0 + timedelta(minutes=30))
    (d,) = arbitrate(s, [match(review, s, "UTC", no_repeats)], state, "UTC")
    assert d.status == SUPPRESSED and d.reason.startswith(
        "cool-down: review_concept reached this student 30 minutes ago"
    )


def test_shadow_decisions_are_never_sent_and_canary_is_stable() -> None:
    shadow = parse(policy("review_concept").content.replace("mode: enforce", "mode: shadow"), "r.md")
    s = struggle(1, T0)
    state = StudentState()
    (d,) = arbitrate(s, [match(shadow, s, "UTC", no_repeats)], state, "UTC")
    assert (d.status, d.reason, state.sent_today) == (SHADOW, "would have been sent", 0)
    chosen = [in_canary(f"student-{i}", "review_concept", 10) for i in range(2000)]
    assert 150 < sum(chosen) < 250
    assert chosen == [in_canary(f"student-{i}", "review_concept", 10) for i in range(2000)]


def test_backtest_against_a_hand_computed_case() -> None:
    """Two students. A: struggles at 09:00, 09:30, 11:30, 14:00, 16:30; B: at 10:00. In force:
    review_concept with a 120-minute cool-down. Candidate: the cool-down at 30 minutes.
    Before: A gets 09:00, 11:30 (150 min later), 14:00 (150 min) = 3 sent; 09:30 cool-down; 16:30
    daily cap. B: 10:00 sent. After: A gets 09:00, 09:30 (exactly 30 min), 11:30 = 3 sent; 14:00 and
    16:30 daily cap. B unchanged. Flips: A 09:30 suppressed→sent, A 14:00 sent→suppressed."""
    in_force = [policy("review_concept")]
    candidate = parse(
        in_force[0].content.replace("cooldown_minutes: 120", "cooldown_minutes: 30"), "review_concept.md"
    )
    a, b = STUDENT, "22222222-2222-2222-2222-222222222222"
    times = [(0, a, 0), (1, a, 30), (2, b, 60), (3, a, 150), (4, a, 300), (5, a, 450)]
    signals = [struggle(i, T0 + timedelta(minutes=m), who) for i, who, m in times]
    report = backtest(signals, in_force, candidate, {})
    assert (report.signals, report.sent_before, report.sent_after) == (6, 4, 4)
    assert [(f.signal_id, f.before, f.after) for f in report.flips] == [
        ("s1", "suppressed", "sent"),
        ("s4", "sent", "suppressed"),
    ]
    assert [(c.student_id, c.day.isoformat(), c.count) for c in report.cap_hits] == [(a, "2026-12-07", 2)]
    assert report.students_affected == (a,)
    assert dict(report.urgency_mix) == {"high": 0, "medium": 4, "low": 0}


def test_a_stored_value_that_is_no_number_never_holds_and_never_raises() -> None:
    """parse refuses `minutes is "ten"` and NaN now; a version stored before must still decide."""
    session = Signal("s", "t", STUDENT, "work.session", T0, minutes=45)
    calm = policy("calm_break")
    for c in (
        Condition("is", field="minutes", value="ten"),
        Condition("is_one_of", field="minutes", value=("ten",)),
        Condition("at_least", field="minutes", value=float("nan")),
        Condition("at_most", field="minutes", value="ten"),
    ):
        m = match(replace(calm, conditions=(c,)), session, "UTC", no_repeats)
        assert not m.held and m.trace[1] == TraceStep(c.describe(), False, "45")
    held = [
        match(replace(calm, conditions=(c,)), session, "UTC", no_repeats).held
        for c in (
            Condition("is", field="minutes", value=45),
            Condition("is", field="minutes", value="45"),
            Condition("is_one_of", field="minutes", value=(30, 45)),  # 45.0 is 45
        )
    ]
    assert held == [True, True, True]


def test_a_stored_expression_that_loops_is_false_without_running() -> None:
    """parse refuses CEL's loops now; a version stored before (were it applied) decides at once."""
    calm = policy("calm_break")
    ten = "[" + ",".join("0" * 10) + "]"
    looping = "true"
    for name in "abcdefgh":
        looping = f"{ten}.all({name},{looping})"
    c = Condition("expression", expression=looping)
    m = match(
        replace(calm, conditions=(c,)), Signal("s", "t", STUDENT, "work.session", T0), "UTC", no_repeats
    )
    assert not m.held and m.trace[1].value.startswith("error: uses .all(), which repeats a condition")
