"""Mastery: the formula against hand-computed cases (arithmetic in the comments), and the levels.

H = 14 days; d = 0.5 ** (days / 14); weight' = weight*d + w; score' = (score*weight*d + x*w) / weight'."""

import ast
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.progress.domain import Activity, ActivityKind
from services.progress.domain.mastery import (
    Level,
    MasteryState,
    Observation,
    apply,
    level,
    observation_for,
)

T0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def run(*observations: tuple[float, float, float, bool], state: MasteryState | None = None) -> MasteryState:
    """(day, x, w, graded) observations on topic 'loops', applied in the order given."""
    s = state or MasteryState()
    for d, x, w, graded in observations:
        s = apply(s, Observation("loops", x, w, day(d), graded))
    return s


def test_first_observation_sets_the_score_to_its_value():
    # weight' = 0*1 + 0.8 = 0.8; score' = (0*0*1 + 0.6*0.8) / 0.8 = 0.6
    s = run((0, 0.6, 0.8, True))
    assert s.score == pytest.approx(0.6)
    assert s.weight == pytest.approx(0.8)
    assert (s.last_at, s.attempts, s.successes) == (day(0), 1, 0)
    assert s.level is Level.ATTEMPTED and s.level_changed_at == day(0)


def test_worked_example_of_the_docs():
    # day 0, exercise 0.6 (w 0.8):  weight 0.8, score 0.6                                  -> attempted
    # day 14, quiz 1.0 (w 1): d = 0.5**(14/14) = 0.5; weight = 0.8*0.5 + 1 = 1.4
    #   score = (0.6*0.4 + 1*1) / 1.4 = 1.24 / 1.4 = 0.885714                                -> familiar
    # day 21, quiz 1.0: d = 0.5**(7/14) = 0.707107; weight = 1.4*0.707107 + 1 = 1.989949
    #   score = (0.885714*0.989949 + 1) / 1.989949 = 1.876812 / 1.989949 = 0.943146         -> proficient
    # day 22, exercise 1.0 (w 0.8): d = 0.5**(1/14) = 0.951695; weight = 1.989949*0.951695 + 0.8 = 2.693825
    #   score = (0.943146*1.893825 + 0.8) / 2.693825 = 2.586153 / 2.693825 = 0.960030       -> mastered
    #   (a graded success 1 day after becoming proficient on day 21)
    s = run((0, 0.6, 0.8, True))
    s = run((14, 1.0, 1.0, True), state=s)
    assert (s.score, s.weight, s.level) == (
        pytest.approx(0.885714, abs=1e-6),
        pytest.approx(1.4),
        Level.FAMILIAR,
    )
    s = run((21, 1.0, 1.0, True), state=s)
    assert s.score == pytest.approx(0.943146, abs=1e-6) and s.weight == pytest.approx(1.989949, abs=1e-6)
    assert s.level is Level.PROFICIENT and s.proficient_since == day(21) and s.level_changed_at == day(21)
    s = run((22, 1.0, 0.8, True), state=s)
    assert s.score == pytest.approx(0.960030, abs=1e-6) and s.weight == pytest.approx(2.693825, abs=1e-6)
    assert s.level is Level.MASTERED and s.level_changed_at == day(22)
    assert (s.attempts, s.successes) == (4, 3)


def test_decay_halves_old_evidence_every_half_life():
    # 0.0 on day 0 and 1.0 on day 14, both w 1: score = (0*0.5 + 1) / (0.5 + 1) = 0.666667
    assert run((0, 0.0, 1, True), (14, 1.0, 1, True)).score == pytest.approx(2 / 3)
    # the same 1.0 on day 28: d = 0.25; score = 1 / 1.25 = 0.8
    assert run((0, 0.0, 1, True), (28, 1.0, 1, True)).score == pytest.approx(0.8)
    # a year later the old evidence is gone: d = 0.5**(365/14) ~ 1.4e-8, score ~ 1
    assert run((0, 0.0, 1, True), (365, 1.0, 1, True)).score == pytest.approx(1.0, abs=1e-7)


def test_scores_are_clamped_to_zero_and_one():
    # 1.7 counts as 1.0 and -0.5 as 0.0: score = (1*1 + 0*1) / 2 = 0.5
    assert run((0, 1.7, 1, True)).score == 1.0
    assert run((0, 1.7, 1, True), (0, -0.5, 1, True)).score == pytest.approx(0.5)
    quiz = Activity("e1", "s", ActivityKind.QUIZ_SUBMISSION, T0, topic="loops", score=1.25)
    obs = observation_for(quiz)
    assert obs is not None and obs.value == 1.0


def test_an_out_of_order_observation_is_faded_by_its_age_and_does_not_move_time_back():
    # state: 1.0 on day 10 (w 1). A 0.0 dated day 3 arrives late: it is 7 days older than the state,
    # so it counts 0.5**(7/14) = 0.707107: weight = 1 + 0.707107 = 1.707107
    # score = (1*1 + 0*0.707107) / 1.707107 = 0.585786, and last_at stays day 10.
    s = run((10, 1.0, 1, True), (3, 0.0, 1, True))
    assert s.score == pytest.approx(0.585786, abs=1e-6)
    assert s.weight == pytest.approx(1.707107, abs=1e-6)
    assert s.last_at == day(10)
    # ...which is exactly what the in-order sequence gives: the state does not depend on arrival order.
    in_order = run((3, 0.0, 1, True), (10, 1.0, 1, True))
    assert (in_order.score, in_order.weight) == (pytest.approx(s.score), pytest.approx(s.weight))


def test_a_zero_weight_leaves_the_score_alone():
    # weight' = 0.8*d + 0 and score' = (0.6*0.8*d + x*0) / (0.8*d) = 0.6; the clock still moves on
    s = run((0, 0.6, 0.8, True), (14, 0.0, 0.0, False))
    assert s.score == pytest.approx(0.6) and s.weight == pytest.approx(0.4) and s.last_at == day(14)
    # a zero-weight first observation: weight' = 0, no division, score stays 0, but the topic is started
    first = run((0, 1.0, 0.0, False))
    assert (first.score, first.weight, first.level) == (0.0, 0.0, Level.ATTEMPTED)
    # a NaN says nothing
    assert apply(first, Observation("loops", float("nan"), 1.0, day(1))) == first


def test_many_observations_converge():
    # one 0.0 then 99 perfect quizzes at the same moment: score = 99 / (1 + 99) = 0.99
    s = run((0, 0.0, 1, True), *[(0, 1.0, 1, True)] * 99)
    assert s.score == pytest.approx(0.99)
    # a quiz a day at 0.8 for a year: the score is 0.8 and the weight settles at w / (1 - d),
    # d = 0.5**(1/14) = 0.951695, 1 / 0.048305 = 20.7017: old evidence fades, it does not pile up
    s = run(*[(n, 0.8, 1, True) for n in range(365)])
    assert s.score == pytest.approx(0.8)
    assert s.weight == pytest.approx(20.7017, abs=1e-3)


def test_familiar_at_seventy_percent_exactly():
    # 0.7 as the weighted mean (0.5*1 + 0.9*1) / 2 = 0.7 (0.69999999999 in floats) is familiar
    assert run((0, 0.5, 1, True), (0, 0.9, 1, True)).level is Level.FAMILIAR
    assert run((0, 0.69, 1, True)).level is Level.ATTEMPTED


def test_proficient_needs_a_graded_success_and_a_quizs_worth_of_evidence():
    # three perfect reviews: score 1.0, weight 1.5, but no quiz or exercise success -> familiar
    reviews = run((0, 1.0, 0.5, False), (0, 1.0, 0.5, False), (0, 1.0, 0.5, False))
    assert reviews.level is Level.FAMILIAR
    # one perfect exercise alone: score 1.0 but weight 0.8 < 1.0 -> familiar
    assert run((0, 1.0, 0.8, True)).level is Level.FAMILIAR
    # a perfect quiz: score 1.0, weight 1.0, one success -> proficient
    assert run((0, 1.0, 1.0, True)).level is Level.PROFICIENT
    # add the quiz to the reviews: weight 2.5, score 1.0 -> proficient
    assert run((0, 1.0, 1.0, True), state=reviews).level is Level.PROFICIENT


def test_proficiency_has_hysteresis_and_mastery_needs_a_day():
    s = run((0, 1.0, 1.0, True))  # score 1.0, weight 1.0, proficient since day 0
    # a failed run (x 0, w 0.05): score = 1 / 1.05 = 0.952381 -> still proficient
    s = run((0, 0.0, 0.05, False), state=s)
    assert s.score == pytest.approx(0.952381, abs=1e-6) and s.level is Level.PROFICIENT
    # a quiz at 0.5: weight 2.05, score = (0.952381*1.05 + 0.5) / 2.05 = 1.5 / 2.05 = 0.731707
    # below 0.85 -> falls out of proficiency, familiar
    dropped = run((0, 0.5, 1.0, True), state=s)
    assert dropped.score == pytest.approx(0.731707, abs=1e-6)
    assert dropped.level is Level.FAMILIAR and dropped.proficient_since is None
    # from proficient (score 0.952381, weight 1.05), a quiz at 0.8 gives (1 + 0.8) / 2.05 = 0.878049:
    # under the 0.90 entry bar but above the 0.85 exit bar -> stays proficient
    held = run((0, 0.8, 1.0, True), state=s)
    assert held.score == pytest.approx(0.878049, abs=1e-6) and held.level is Level.PROFICIENT
    # a second success 23 hours after becoming proficient is not yet "sustained"; 24 hours is
    assert run((23 / 24, 1.0, 1.0, True), state=s).level is Level.PROFICIENT
    assert run((1, 1.0, 1.0, True), state=s).level is Level.MASTERED


def test_level_changed_at_moves_only_on_a_change():
    s = run((0, 0.2, 1, True), (1, 0.3, 1, True))
    assert s.level is Level.ATTEMPTED and s.level_changed_at == day(0)
    assert level(MasteryState()) is Level.NOT_STARTED


@pytest.mark.parametrize(
    ("kind", "extra", "expected"),
    [
        (ActivityKind.QUIZ_SUBMISSION, {"score": 0.75}, (0.75, 1.0, True)),
        (ActivityKind.EXERCISE_ATTEMPT, {"score": 0.5}, (0.5, 0.8, True)),
        (ActivityKind.CODE_REVIEW, {"score": 0.9}, (0.9, 0.5, False)),
        (ActivityKind.CODE_RUN, {"verdict": "OK"}, (1.0, 0.05, False)),
        (
            ActivityKind.CODE_RUN,
            {"verdict": "RUNTIME_ERROR", "exception_type": "NameError"},
            (0.0, 0.05, False),
        ),
        (ActivityKind.CODE_RUN, {"verdict": "TIMED_OUT"}, (0.0, 0.05, False)),
        (ActivityKind.HINT_REQUEST, {}, (0.3, 0.1, False)),
        (ActivityKind.CODE_RUN, {"verdict": "REJECTED"}, None),
        (ActivityKind.QUIZ_SUBMISSION, {}, None),
        (ActivityKind.QUIZ_SUBMISSION, {"score": float("inf")}, None),
        (ActivityKind.TIME_ON_TASK, {"duration_seconds": 60.0}, None),
        (ActivityKind.CONTENT_VIEW, {}, None),
    ],
)
def test_observation_for_each_kind(kind, extra, expected):
    obs = observation_for(Activity("e", "s", kind, T0, topic="loops", **extra))
    assert (None if obs is None else (obs.value, obs.weight, obs.graded)) == expected
    assert observation_for(Activity("e", "s", kind, T0, **extra)) is None  # no topic, no observation


def test_the_progress_domain_imports_only_the_standard_library_and_itself():
    root = Path(__file__).resolve().parents[3] / "services" / "progress" / "domain"
    allowed = ("services.progress.domain", "services.runtime.errors", "__future__")
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert name.startswith(allowed) or top in sys.stdlib_module_names, (
                    f"{path.name} imports {name}"
                )
