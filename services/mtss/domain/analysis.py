"""Progress-monitoring analysis: aimline, rate of improvement, decision rules and projection.

Deterministic and pure, so a teacher's question "why does it say change instruction?" is answered by
the numbers returned with the verdict (`Analysis`), and tests can check them against worked examples.
x is weeks since the baseline date (days / 7), y the probe score.

- Aimline: from (0, baseline) to (goal weeks, target). Baseline: the median of the first three probes
  when the program does not give one (`baseline_from_probes`).
- Rate of improvement (ROI): ordinary least squares b = (nΣxy - ΣxΣy)/(nΣx² - (Σx)²), and Tukey's
  method (three groups in time order; slope between the medians of the first and the last group).
- Four-point rule, only with at least MIN_POINTS (6) points: the last four consecutive points all
  below the aimline → change instruction; all above → raise the goal; otherwise continue. For a goal
  that should go down (errors, behaviour incidents) below and above swap.
- Trend rule, reported beside it: OLS slope flatter than the aimline → change; steeper → raise.
- Projection at the goal date: ŷ(T) = a + bT with the 95 % prediction interval
  ± t(0.975, n-2) · s · √(1 + 1/n + (T - x̄)²/Sxx).
- Below MIN_POINTS the verdict is "insufficient_data"; the numbers that can be computed still are.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import date

MIN_POINTS = 6
FOUR = 4

INSUFFICIENT = "insufficient_data"
CHANGE = "change_instruction"
RAISE = "raise_goal"
CONTINUE = "continue"

# Two-sided 95 % Student t quantiles t(0.975, df) from the standard table; between rows the smaller
# df's (larger, so wider and conservative) value is used.
_T975 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
    10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
    18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060,
    26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980,
}  # fmt: skip


def t975(df: int) -> float:
    if df < 1:
        raise ValueError("df must be at least 1")
    if df > 120:
        return 1.960
    return _T975[max(k for k in _T975 if k <= df)]


@dataclass(frozen=True)
class Point:
    on: date
    score: float


@dataclass(frozen=True)
class Goal:
    baseline: float
    baseline_date: date
    target: float
    goal_date: date

    @property
    def increasing(self) -> bool:
        return self.target >= self.baseline

    @property
    def weeks(self) -> float:
        return (self.goal_date - self.baseline_date).days / 7

    def aim_at(self, x: float) -> float:
        return self.baseline + (self.target - self.baseline) * x / self.weeks if self.weeks else self.target

    @property
    def aim_slope(self) -> float:
        return (self.target - self.baseline) / self.weeks if self.weeks else 0.0


@dataclass(frozen=True)
class Fit:
    slope: float
    intercept: float
    residual_sd: float  # s = √(SSE/(n-2)); 0 with two points
    x_mean: float
    sxx: float


@dataclass(frozen=True)
class Projection:
    at_weeks: float
    value: float
    low: float
    high: float
    t: float


@dataclass(frozen=True)
class Analysis:
    verdict: str
    reasons: tuple[str, ...]
    n: int
    min_points: int
    aimline_slope: float
    ols: Fit | None
    tukey_slope: float | None
    four_point: str  # below, above, mixed or "" (fewer than MIN_POINTS)
    trend: str  # flatter, steeper, equal or ""
    needed_roi: float | None  # (target - last)/weeks left
    projection: Projection | None
    last_four_aim: tuple[float, ...]  # the aimline's values at the last four points


def weeks_between(start: date, day: date) -> float:
    return (day - start).days / 7


def baseline_from_probes(scores: list[float]) -> float:
    """Median of the first three probes (fewer if fewer were given)."""
    if not scores:
        raise ValueError("no probes")
    return float(statistics.median(scores[:3]))


def _power_of_two_below(values: list[float]) -> float:
    """A power of two at most the largest |value| (1.0 for none or all zero): dividing by it is
    exact, so a fit on the scaled values, scaled back, is bit for bit the fit on the values."""
    top = max((abs(v) for v in values), default=0.0)
    if top == 0 or not math.isfinite(top):
        return 1.0
    return math.ldexp(1.0, math.frexp(top)[1] - 1)


def ols(xs: list[float], ys: list[float]) -> Fit | None:
    """Least squares of y on x. The scores are scaled by a power of two into [-2, 2] first, so no
    sum or square overflows whatever finite scores are stored (a score of 1e200 squared is past
    float's range: OverflowError); what is scaled back may still be ±inf for scores near float's
    limit, never an exception."""
    n = len(xs)
    if n < 2:
        return None
    scale = _power_of_two_below(ys)
    zs = [y / scale for y in ys]
    sx, sz = sum(xs), sum(zs)
    sxz = sum(x * z for x, z in zip(xs, zs, strict=True))
    sxx_raw = sum(x * x for x in xs)
    denominator = n * sxx_raw - sx * sx
    if denominator == 0:
        return None  # every point the same week: no slope
    b = (n * sxz - sx * sz) / denominator
    x_mean, z_mean = sx / n, sz / n
    a = z_mean - b * x_mean
    sse = sum((z - (a + b * x)) ** 2 for x, z in zip(xs, zs, strict=True))
    s = math.sqrt(sse / (n - 2)) if n > 2 else 0.0
    return Fit(
        slope=b * scale,
        intercept=a * scale,
        residual_sd=s * scale,
        x_mean=x_mean,
        sxx=sum((x - x_mean) ** 2 for x in xs),
    )


def tukey_groups(n: int) -> tuple[int, int, int]:
    """Sizes of the three groups: equal when n divides by 3; one extra goes to the middle group;
    two extra go to the outer groups (the usual convention in CBM texts)."""
    k, r = divmod(n, 3)
    return (k, k + 1, k) if r == 1 else (k + 1, k, k + 1) if r == 2 else (k, k, k)


def tukey(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < 3:
        return None
    first, _, last = tukey_groups(len(xs))
    x1, y1 = statistics.median(xs[:first]), statistics.median(ys[:first])
    x3, y3 = statistics.median(xs[-last:]), statistics.median(ys[-last:])
    return (y3 - y1) / (x3 - x1) if x3 != x1 else None


def project(fit: Fit, n: int, at_weeks: float) -> Projection | None:
    if n < 3 or fit.sxx == 0:
        return None
    value = fit.intercept + fit.slope * at_weeks
    t = t975(n - 2)
    half = t * fit.residual_sd * math.sqrt(1 + 1 / n + (at_weeks - fit.x_mean) ** 2 / fit.sxx)
    return Projection(at_weeks=at_weeks, value=value, low=value - half, high=value + half, t=t)


def analyze(points: list[Point], goal: Goal, *, min_points: int = MIN_POINTS) -> Analysis:
    pts = sorted(points, key=lambda p: p.on)
    xs = [weeks_between(goal.baseline_date, p.on) for p in pts]
    ys = [p.score for p in pts]
    n = len(pts)
    fit = ols(xs, ys)
    slope_t = tukey(xs, ys)
    projection = project(fit, n, goal.weeks) if fit else None
    weeks_left = goal.weeks - xs[-1] if xs else goal.weeks
    needed = (goal.target - ys[-1]) / weeks_left if xs and weeks_left > 0 else None
    aims = tuple(goal.aim_at(x) for x in xs[-FOUR:])
    trend = ""
    if fit is not None:
        up = goal.increasing
        if math.isclose(fit.slope, goal.aim_slope, abs_tol=1e-9):
            trend = "equal"
        else:
            trend = "steeper" if (fit.slope > goal.aim_slope) == up else "flatter"
    if n < min_points:
        return Analysis(
            verdict=INSUFFICIENT,
            reasons=(f"{n} data points; the decision rules need at least {min_points}",),
            n=n, min_points=min_points, aimline_slope=goal.aim_slope, ols=fit, tukey_slope=slope_t,
            four_point="", trend=trend, needed_roi=needed, projection=projection, last_four_aim=aims,
        )  # fmt: skip
    last = ys[-FOUR:]
    below = [y < a for y, a in zip(last, aims, strict=True)]
    above = [y > a for y, a in zip(last, aims, strict=True)]
    if not goal.increasing:
        below, above = above, below  # "below" means "worse than the aimline" from here on
    if all(below):
        four, verdict = "below", CHANGE
        reason = "the last 4 consecutive points are all on the wrong side of the aimline"
    elif all(above):
        four, verdict = "above", RAISE
        reason = "the last 4 consecutive points all beat the aimline"
    else:
        four, verdict = "mixed", CONTINUE
        reason = "the last 4 points fall on both sides of the aimline"
    scores = ", ".join(f"{y:g}" for y in last)
    aim_text = ", ".join(f"{a:.2f}" for a in aims)
    reasons = [f"{reason} (scores {scores}; aimline {aim_text})"]
    if fit is not None:
        reasons.append(f"trend {fit.slope:.3f}/week is {trend} than the aimline's {goal.aim_slope:.3f}/week")
    return Analysis(
        verdict=verdict, reasons=tuple(reasons), n=n, min_points=min_points,
        aimline_slope=goal.aim_slope, ols=fit, tukey_slope=slope_t, four_point=four, trend=trend,
        needed_roi=needed, projection=projection, last_four_aim=aims,
    )  # fmt: skip
