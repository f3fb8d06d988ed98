"""The progress analysis against a worked example done by hand (the arithmetic is in the comments),
against Python's own least squares, and its edge cases."""

import statistics
from datetime import date, timedelta

import pytest

from services.mtss.domain import analysis as a

MONDAY = date(2026, 9, 7)


def _weekly(scores, start=1):
    return [a.Point(MONDAY + timedelta(weeks=start + i), float(s)) for i, s in enumerate(scores)]


# Baseline 20 words correct per minute, goal 50 in 10 weeks: the aimline rises 3 a week.
GOAL = a.Goal(baseline=20, baseline_date=MONDAY, target=50, goal_date=MONDAY + timedelta(weeks=10))
SCORES = [22, 25, 24, 28, 27, 30, 29, 31]  # weeks 1..8


def test_the_worked_example():
    got = a.analyze(_weekly(SCORES), GOAL)
    # n = 8, Σx = 36, Σx² = 204, Σy = 216, Σxy = 1022
    # b = (8·1022 - 36·216)/(8·204 - 36²) = 400/336 = 1.190476; a = 27 - 1.190476·4.5 = 21.642857
    assert got.ols is not None
    assert got.ols.slope == pytest.approx(400 / 336)
    assert got.ols.intercept == pytest.approx(21.642857, abs=1e-6)
    # Tukey, 8 points → groups of 3, 2, 3: medians (2, 24) and (7, 30) → 6/5 = 1.2
    assert got.tukey_slope == pytest.approx(1.2)
    # Aimline at weeks 5..8: 35, 38, 41, 44; the scores 27, 30, 29, 31 are all below → change.
    assert got.last_four_aim == pytest.approx((35, 38, 41, 44))
    assert (got.four_point, got.verdict, got.trend) == ("below", a.CHANGE, "flatter")
    assert got.aimline_slope == pytest.approx(3.0)
    # Needed ROI = (50 - 31)/(10 - 8) = 9.5 a week.
    assert got.needed_roi == pytest.approx(9.5)
    # SSE = 8.4762 → s = √(8.4762/6) = 1.18857; Sxx = 42; at T = 10: ŷ = 33.5476,
    # ± 2.447 · 1.18857 · √(1 + 1/8 + 5.5²/42) = ± 3.9508
    p = got.projection
    assert p is not None and p.t == 2.447
    assert got.ols.residual_sd == pytest.approx(1.18857, abs=1e-4)
    assert (p.value, p.low, p.high) == pytest.approx((33.5476, 29.5968, 37.4984), abs=1e-3)
    assert any("27, 30, 29, 31" in r for r in got.reasons)


def test_least_squares_agrees_with_the_standard_library():
    xs = [0.0, 1.0, 2.5, 3.0, 4.0, 6.0, 7.5]
    ys = [10.0, 12.0, 11.0, 15.0, 14.0, 19.0, 18.0]
    fit = a.ols(xs, ys)
    ref = statistics.linear_regression(xs, ys)
    assert fit is not None
    assert (fit.slope, fit.intercept) == pytest.approx((ref.slope, ref.intercept))


def test_above_the_aimline_raises_the_goal_and_mixed_continues():
    above = a.analyze(_weekly([24, 27, 30, 36, 39, 42, 45, 48]), GOAL)
    assert (above.four_point, above.verdict) == ("above", a.RAISE)
    mixed = a.analyze(_weekly([23, 26, 29, 33, 34, 39, 40, 45]), GOAL)  # aim 35,38,41,44
    assert (mixed.four_point, mixed.verdict) == ("mixed", a.CONTINUE)


def test_a_goal_that_goes_down_inverts_the_rule():
    # Errors per passage from 20 down to 5 in 10 weeks: the aimline falls 1.5 a week.
    goal = a.Goal(baseline=20, baseline_date=MONDAY, target=5, goal_date=MONDAY + timedelta(weeks=10))
    got = a.analyze(_weekly([19, 19, 18, 18, 17, 17, 16, 16]), goal)  # aim 12.5, 11, 9.5, 8
    assert (got.four_point, got.verdict, got.trend) == ("below", a.CHANGE, "flatter")


def test_below_six_points_is_insufficient_data_with_the_numbers_anyway():
    got = a.analyze(_weekly([22, 25, 24, 28, 27]), GOAL)
    assert got.verdict == a.INSUFFICIENT and got.four_point == "" and got.n == 5
    assert got.ols is not None and got.projection is not None
    assert "at least 6" in got.reasons[0]
    assert a.analyze([], GOAL).verdict == a.INSUFFICIENT


def test_tukey_groups_and_baseline_and_t():
    assert [a.tukey_groups(n) for n in (6, 7, 8, 9)] == [(2, 2, 2), (2, 3, 2), (3, 2, 3), (3, 3, 3)]
    assert a.baseline_from_probes([31, 18, 25, 99]) == 25
    assert a.t975(1) == 12.706 and a.t975(35) == 2.042 and a.t975(500) == 1.96


@pytest.mark.parametrize("scores", [[1e200, 0, 0], [1.7e308, -1.7e308, 1.7e308, 0, -1.7e308, 1e-300, 5]])
def test_scores_near_float_limits_give_numbers_not_overflow(scores):
    got = a.analyze(_weekly(scores), GOAL)  # (y - ŷ)² of 1e200 once raised OverflowError
    assert got.ols is not None and got.n == len(scores)


def test_the_fit_of_huge_scores_is_the_fit_of_small_ones_scaled():
    # Weeks 1..3 with 1e200, 0, 0: b = -0.5e200, a = 4/3·1e200, residuals (1/6, -1/3, 1/6)·1e200,
    # SSE = 1/6·1e400 → s = √(1/6)·1e200.
    fit = a.ols([1.0, 2.0, 3.0], [1e200, 0.0, 0.0])
    assert fit is not None
    assert fit.slope == pytest.approx(-0.5e200)
    assert fit.intercept == pytest.approx(4 / 3 * 1e200)
    assert fit.residual_sd == pytest.approx((1 / 6) ** 0.5 * 1e200)
