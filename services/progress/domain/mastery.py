"""Mastery of one topic by one student: a recency-weighted score in [0, 1], updated in O(1) per activity,
and the level a teacher reads (attempted / familiar / proficient / mastered, after Khan Academy's).

The formula (docs/progress-model.md works an example through):

    Each activity that says something about the skill becomes an observation: a value x in [0, 1] and a
    weight w, the amount of evidence it is worth (a quiz is 1.0; see MasterySettings). Evidence fades
    with a half-life of H days (14): evidence that is H days older counts half as much.

        T       = max(last_at, at)                    the state's clock never goes backwards
        d_state = 0.5 ** ((T - last_at) / H)          fading of the evidence already in the state
        d_obs   = 0.5 ** ((T - at) / H)               fading of the new observation (1 unless it is late)
        weight' = weight * d_state + w * d_obs
        score'  = (score * weight * d_state + x * w * d_obs) / weight'

    So the score is the weighted mean of every observation so far, each weighted by w * 0.5 ** (age / H)
    — the same number whatever order the observations arrive in — and the state is five numbers, not the
    history (pyBKT replays the whole history per prediction: O(n)). A first observation gives score = x;
    a zero weight (or weight' = 0) leaves the score as it was.

Levels (thresholds in MasterySettings):

    not started  no observation yet
    attempted    score < 0.70
    familiar     score >= 0.70                                        (Khan: 70% or more)
    proficient   score >= 0.90, weight >= 1.0 (a quiz's worth of       (Khan: 100% on a quiz; our score is
                 evidence) and at least one graded success (a quiz      a recency-weighted mean, so 0.90 of
                 or exercise at >= 0.90); once proficient, the topic    it is the bar, and runs, reviews and
                 stays so until the score falls below 0.85              hints alone never make a student
                 (hysteresis: one failed run does not flip the level)   proficient)
    mastered     proficient, and a graded success at least 1 day after  (Khan: proficient, then 100% again
                 the topic became proficient, without falling out of    on a later unit test: sustained)
                 proficiency in between
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.progress.domain import VERDICT_OK, VERDICT_REJECTED, Activity, ActivityKind

_SECONDS_PER_DAY = 86_400.0
# Float tolerance on thresholds: 0.7 computed as a weighted mean may come out as 0.69999999999.
_EPSILON = 1e-9


class Level(enum.IntEnum):
    NOT_STARTED = 0
    ATTEMPTED = 1
    FAMILIAR = 2
    PROFICIENT = 3
    MASTERED = 4

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", " ")


@dataclass(frozen=True)
class MasterySettings:
    half_life_days: float = 14.0
    familiar_at: float = 0.70
    proficient_at: float = 0.90
    stays_proficient_at: float = 0.85
    proficient_min_weight: float = 1.0
    mastered_after: timedelta = timedelta(days=1)
    # Evidence per kind (w) and, where the activity has no score of its own, its value (x).
    quiz_weight: float = 1.0
    exercise_weight: float = 0.8
    review_weight: float = 0.5
    # Runs come by the dozen per exercise, so each is worth a twentieth of a quiz.
    run_weight: float = 0.05
    run_ok_value: float = 1.0
    run_error_value: float = 0.0
    # Asking for a hint says "not yet": a low value with little weight.
    hint_weight: float = 0.1
    hint_value: float = 0.3


DEFAULT_SETTINGS = MasterySettings()


@dataclass(frozen=True)
class Observation:
    """What one activity says about one topic: value x in [0, 1], weight w >= 0. `graded` marks quizzes
    and exercises: they count as attempts (wheel-spinning) and, at >= proficient_at, as successes."""

    topic: str
    value: float
    weight: float
    at: datetime
    graded: bool = False


@dataclass(frozen=True)
class MasteryState:
    """Per (student, topic). `weight` is the effective evidence at `last_at`; `level` and
    `level_changed_at` are kept so the caller can see a level change and announce it."""

    score: float = 0.0
    weight: float = 0.0
    last_at: datetime | None = None
    attempts: int = 0
    successes: int = 0
    last_success_at: datetime | None = None
    proficient_since: datetime | None = None
    level: Level = Level.NOT_STARTED
    level_changed_at: datetime | None = None


def clamp(x: float) -> float:
    return min(1.0, max(0.0, x))


def observation_for(activity: Activity, settings: MasterySettings = DEFAULT_SETTINGS) -> Observation | None:
    """The observation an activity makes on its topic, or None when it says nothing about the skill
    (no topic, time on task, content viewed, a REJECTED run, a missing or non-numeric score)."""
    if not activity.topic:
        return None
    kind, at, topic = activity.kind, activity.occurred_at, activity.topic
    if kind in (ActivityKind.QUIZ_SUBMISSION, ActivityKind.EXERCISE_ATTEMPT, ActivityKind.CODE_REVIEW):
        if activity.score is None or not math.isfinite(activity.score):
            return None
        weight = {
            ActivityKind.QUIZ_SUBMISSION: settings.quiz_weight,
            ActivityKind.EXERCISE_ATTEMPT: settings.exercise_weight,
            ActivityKind.CODE_REVIEW: settings.review_weight,
        }[kind]
        return Observation(topic, clamp(activity.score), weight, at, graded=kind != ActivityKind.CODE_REVIEW)
    if kind == ActivityKind.CODE_RUN:
        if not activity.verdict or activity.verdict == VERDICT_REJECTED:
            return None  # refused before running: nothing about the skill
        ok = activity.verdict == VERDICT_OK
        value = settings.run_ok_value if ok else settings.run_error_value
        return Observation(topic, value, settings.run_weight, at)
    if kind == ActivityKind.HINT_REQUEST:
        return Observation(topic, settings.hint_value, settings.hint_weight, at)
    return None


def _decay(older: datetime, newer: datetime, half_life_days: float) -> float:
    """0.5 ** (days between / H): how much evidence at `older` still counts at `newer`."""
    days = (newer - older).total_seconds() / _SECONDS_PER_DAY
    return 0.5 ** (days / half_life_days)


def apply(
    state: MasteryState, obs: Observation, settings: MasterySettings = DEFAULT_SETTINGS
) -> MasteryState:
    """The state after one more observation (the formula in the module docstring). O(1)."""
    if not (math.isfinite(obs.value) and math.isfinite(obs.weight)):
        return state
    x, w = clamp(obs.value), max(0.0, obs.weight)
    last = state.last_at if state.last_at is not None else obs.at
    now = max(last, obs.at)
    d_state = _decay(last, now, settings.half_life_days)
    d_obs = _decay(obs.at, now, settings.half_life_days)
    kept = state.weight * d_state
    weight = kept + w * d_obs
    score = clamp((state.score * kept + x * w * d_obs) / weight) if weight > 0 else state.score

    success = obs.graded and x >= settings.proficient_at - _EPSILON
    last_success_at = state.last_success_at
    if success:
        last_success_at = obs.at if last_success_at is None else max(last_success_at, obs.at)
    successes = state.successes + int(success)

    bar = settings.stays_proficient_at if state.proficient_since is not None else settings.proficient_at
    proficient = (
        score >= bar - _EPSILON and weight >= settings.proficient_min_weight - _EPSILON and successes >= 1
    )
    proficient_since = (state.proficient_since or now) if proficient else None

    new = replace(
        state,
        score=score,
        weight=weight,
        last_at=now,
        attempts=state.attempts + int(obs.graded),
        successes=successes,
        last_success_at=last_success_at,
        proficient_since=proficient_since,
    )
    new_level = level(new, settings)
    if new_level != state.level:
        new = replace(new, level=new_level, level_changed_at=now)
    return new


def level(state: MasteryState, settings: MasterySettings = DEFAULT_SETTINGS) -> Level:
    """The level the state shows (the table in the module docstring). Pure: reads the state only."""
    if state.last_at is None:
        return Level.NOT_STARTED
    if state.proficient_since is not None:
        sustained = (
            state.last_success_at is not None
            and state.last_success_at - state.proficient_since >= settings.mastered_after
        )
        return Level.MASTERED if sustained else Level.PROFICIENT
    if state.score >= settings.familiar_at - _EPSILON:
        return Level.FAMILIAR
    return Level.ATTEMPTED
