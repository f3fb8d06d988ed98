"""Struggle detection: each rule, its explanation, its switch, and one alert per episode."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.progress.domain import Activity, ActivityKind
from services.progress.domain.mastery import MasteryState, Observation, apply
from services.progress.domain.streaks import StreakState, record_activity
from services.progress.domain.struggle import (
    ACTIVITY_DROP,
    EXERCISE_TIMEOUT,
    FAILED_QUIZ,
    REPEATED_ERROR,
    WHEEL_SPINNING,
    Detection,
    EpisodeKey,
    RuleSettings,
    Severity,
    StruggleDetector,
    StruggleState,
)

T0 = datetime(2024, 5, 6, 14, 0, tzinfo=UTC)
DETECTOR = StruggleDetector()


def crash(minute: float, exception_type: str = "NameError", exercise: str = "fizzbuzz") -> Activity:
    return Activity(
        f"run-{minute}-{exception_type}",
        "s1",
        ActivityKind.CODE_RUN,
        T0 + timedelta(minutes=minute),
        topic="loops",
        exercise_id=exercise,
        verdict="RUNTIME_ERROR",
        exception_type=exception_type,
    )


def feed(
    activities: list[Activity],
    detector: StruggleDetector = DETECTOR,
    open_episodes: set[EpisodeKey] | None = None,
    state: StruggleState | None = None,
) -> tuple[StruggleState, list[Detection]]:
    """Evaluate in order; detections open episodes as the store would."""
    state = state or StruggleState()
    episodes = open_episodes if open_episodes is not None else set()
    found: list[Detection] = []
    for a in activities:
        state, new = detector.evaluate(state, a, None, episodes)
        episodes.update(d.episode for d in new)
        found += new
    return state, found


def test_three_name_errors_in_ten_minutes_make_exactly_one_detection():
    _, found = feed([crash(0), crash(3), crash(7)])
    assert len(found) == 1
    d = found[0]
    assert (d.rule, d.key, d.severity) == (REPEATED_ERROR, "NameError", Severity.MEDIUM)
    assert d.explanation == "NameError 3 times in 7 minutes on exercise fizzbuzz"
    assert d.evidence["count"] == "3" and d.evidence["exercise_ids"] == "fizzbuzz"
    assert d.at == T0 + timedelta(minutes=7)


def test_two_name_errors_and_a_type_error_make_none():
    assert feed([crash(0), crash(1, "TypeError"), crash(2)])[1] == []


def test_three_name_errors_over_thirty_minutes_make_none():
    state, found = feed([crash(0), crash(15), crash(30)])
    assert found == []
    assert state.sightings("NameError") == state.sightings("NameError")[-1:]  # older ones trimmed


def test_errors_arriving_out_of_order_still_count_within_the_window():
    _, found = feed([crash(9), crash(2), crash(5, exercise="primes")])
    assert len(found) == 1
    assert found[0].explanation == "NameError 3 times in 7 minutes on exercises fizzbuzz, primes"


def test_no_second_alert_while_the_episode_is_open_and_a_new_one_after_resolve():
    episodes: set[EpisodeKey] = set()
    state, found = feed([crash(0), crash(1), crash(2)], open_episodes=episodes)
    assert len(found) == 1 and episodes == {(REPEATED_ERROR, "NameError")}
    # the fourth, and three more while the episode is open: nothing
    state, found = feed([crash(3)], open_episodes=episodes, state=state)
    assert found == []
    state, found = feed([crash(4), crash(5)], open_episodes=episodes, state=state)
    assert found == []
    # a teacher resolves it: three fresh errors open a new episode
    episodes.clear()
    _, found = feed([crash(6), crash(7), crash(8)], open_episodes=episodes, state=state)
    assert [(d.rule, d.key) for d in found] == [(REPEATED_ERROR, "NameError")]


def test_a_timeout_on_an_exercise():
    run = replace(crash(0), verdict="TIMED_OUT", exception_type="")
    _, found = DETECTOR.evaluate(StruggleState(), run, None, set())
    assert [(d.rule, d.key, d.severity) for d in found] == [(EXERCISE_TIMEOUT, "fizzbuzz", Severity.LOW)]
    assert "exercise fizzbuzz timed out" in found[0].explanation
    assert DETECTOR.evaluate(StruggleState(), run, None, {(EXERCISE_TIMEOUT, "fizzbuzz")})[1] == []
    # a timeout outside an exercise (a scratch run) is not this rule
    assert DETECTOR.evaluate(StruggleState(), replace(run, exercise_id=""), None, set())[1] == []


def quiz(score: float, quiz_id: str = "q-loops-1") -> Activity:
    return Activity("q", "s1", ActivityKind.QUIZ_SUBMISSION, T0, topic="loops", quiz_id=quiz_id, score=score)


def test_a_failed_quiz():
    _, found = DETECTOR.evaluate(StruggleState(), quiz(0.45), None, set())
    assert [(d.rule, d.key) for d in found] == [(FAILED_QUIZ, "q-loops-1")]
    assert found[0].explanation == "Quiz q-loops-1 on loops scored 45% (below 60%)"
    assert DETECTOR.evaluate(StruggleState(), quiz(0.6), None, set())[1] == []


def attempts(n: int, score: float) -> MasteryState:
    m = MasteryState()
    for i in range(n):
        m = apply(m, Observation("loops", score, 0.8, T0 + timedelta(minutes=i), graded=True))
    return m


def test_wheel_spinning_from_the_tenth_attempt_without_proficiency():
    exercise = Activity(
        "x", "s1", ActivityKind.EXERCISE_ATTEMPT, T0, topic="loops", exercise_id="e", score=0.5
    )
    assert DETECTOR.evaluate(StruggleState(), exercise, attempts(9, 0.5), set())[1] == []
    _, found = DETECTOR.evaluate(StruggleState(), exercise, attempts(10, 0.5), set())
    assert [(d.rule, d.key, d.severity) for d in found] == [(WHEEL_SPINNING, "loops", Severity.HIGH)]
    assert found[0].explanation == "10 attempts on loops without reaching proficiency (score 50%, attempted)"
    # ten attempts that reached proficiency are practice, not wheel-spinning
    assert DETECTOR.evaluate(StruggleState(), exercise, attempts(10, 1.0), set())[1] == []


def active_on(tz: str, *days: int) -> StreakState:
    s = StreakState()
    for d in days:
        s = record_activity(s, datetime(2024, 5, d, 12, 0, tzinfo=UTC), tz)
    return s


def test_activity_drop_after_a_regular_week():
    tz = "Europe/Berlin"
    streak = active_on(tz, 1, 2, 4, 6)  # 4 of the 7 days up to 6 May
    # 10 May: 7, 8, 9 May passed without activity -> 3 missed days
    now = datetime(2024, 5, 10, 8, 0, tzinfo=UTC)
    d = DETECTOR.check_activity_drop(streak, now, tz, set())
    assert d is not None and (d.rule, d.key) == (ACTIVITY_DROP, "2024-05-06")
    assert (
        d.explanation
        == "No activity for 3 days (last active 2024-05-06) after being active on 4 of the 7 days before"
    )
    assert DETECTOR.check_activity_drop(streak, now, tz, {(ACTIVITY_DROP, "2024-05-06")}) is None
    # only 2 missed days: not yet
    assert DETECTOR.check_activity_drop(streak, datetime(2024, 5, 9, 8, 0, tzinfo=UTC), tz, set()) is None
    # a student who was hardly active (2 of 7 days) is not "dropping"
    assert DETECTOR.check_activity_drop(active_on(tz, 4, 6), now, tz, set()) is None
    assert DETECTOR.check_activity_drop(StreakState(), now, tz, set()) is None


@pytest.mark.parametrize(
    ("switch", "rule"),
    [
        ("repeated_error_enabled", REPEATED_ERROR),
        ("exercise_timeout_enabled", EXERCISE_TIMEOUT),
        ("failed_quiz_enabled", FAILED_QUIZ),
        ("wheel_spinning_enabled", WHEEL_SPINNING),
        ("activity_drop_enabled", ACTIVITY_DROP),
    ],
)
def test_each_rule_can_be_disabled(switch, rule):
    tz = "Europe/Berlin"
    spinning = attempts(12, 0.3)
    timeout = replace(crash(4), verdict="TIMED_OUT", exception_type="")
    failed = replace(quiz(0.2), occurred_at=T0 + timedelta(minutes=5))

    def rules(detector: StruggleDetector) -> set[str]:
        _, found = feed([crash(0), crash(1), crash(2), timeout], detector)
        found += detector.evaluate(StruggleState(), failed, spinning, set())[1]
        drop = detector.check_activity_drop(
            active_on(tz, 1, 2, 3), datetime(2024, 5, 9, tzinfo=UTC), tz, set()
        )
        return {d.rule for d in found} | ({drop.rule} if drop else set())

    everything = {REPEATED_ERROR, EXERCISE_TIMEOUT, FAILED_QUIZ, WHEEL_SPINNING, ACTIVITY_DROP}
    assert rules(DETECTOR) == everything
    assert rules(StruggleDetector(RuleSettings(**{switch: False}))) == everything - {rule}


def test_settings_tune_the_thresholds():
    strict = StruggleDetector(
        RuleSettings(repeated_error_count=2, repeated_error_window=timedelta(minutes=1))
    )
    assert len(feed([crash(0), crash(0.5)], strict)[1]) == 1
    assert feed([crash(0), crash(2)], strict)[1] == []
    assert feed([quiz(0.7)], StruggleDetector(RuleSettings(failed_quiz_below=0.8)))[1][0].rule == FAILED_QUIZ


def test_the_students_own_progress_clears_episodes():
    open_ = {
        (REPEATED_ERROR, "NameError"),
        (EXERCISE_TIMEOUT, "fizzbuzz"),
        (FAILED_QUIZ, "q-loops-1"),
        (WHEEL_SPINNING, "loops"),
        (ACTIVITY_DROP, "2024-05-06"),
    }
    ok = replace(crash(0), verdict="OK", exception_type="")
    assert DETECTOR.cleared_by(ok, attempts(3, 0.5), open_) == [
        (ACTIVITY_DROP, "2024-05-06"),
        (EXERCISE_TIMEOUT, "fizzbuzz"),
        (REPEATED_ERROR, "NameError"),
    ]
    assert DETECTOR.cleared_by(quiz(0.9), attempts(3, 1.0), open_) == [
        (ACTIVITY_DROP, "2024-05-06"),
        (FAILED_QUIZ, "q-loops-1"),
        (WHEEL_SPINNING, "loops"),
    ]
    assert DETECTOR.cleared_by(quiz(0.9, quiz_id="other"), None, open_) == [(ACTIVITY_DROP, "2024-05-06")]


def test_an_episode_expires_after_the_quiet_period():
    assert not DETECTOR.expired(T0, T0 + timedelta(days=6, hours=23))
    assert DETECTOR.expired(T0, T0 + timedelta(days=7))
