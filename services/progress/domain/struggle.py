"""Struggle detection: explainable rules that turn a student's activity into alerts a teacher can act on.

Five rules, each on or off and tuned in RuleSettings (docs/progress-model.md lists the defaults and the
explanation each one writes):

    repeated_error    the same error type (NameError, or a verdict such as MEMORY_EXCEEDED) 3+ times
                      within 10 minutes                                          key: the error type
    exercise_timeout  a run on an exercise timed out                             key: the exercise id
    failed_quiz       a quiz scored below 0.6                                    key: the quiz id
    wheel_spinning    10+ graded attempts on a topic without being proficient    key: the topic
                      (Beck & Gong 2013: ten practice opportunities without mastery)
    activity_drop     3+ whole days without activity after being active on 3+    key: the last active
                      of the 7 days before (a periodic check, not per activity)       local date

Episodes: one alert per episode of (student, rule, key). The store owns the episodes and passes the open
ones in as a set of (rule, key); a rule whose episode is open detects nothing. An episode closes when a
teacher resolves it, when the student's own activity clears it (`cleared_by`), or when it has been open
for `quiet_period` (7 days: a student still stuck a week later is alerted again). Each detection also
consumes its evidence (the error trail is emptied), so a new episode needs fresh evidence.

State per student is small: for each error type seen in the last window, its last few sightings (at
most `repeated_error_count`). Attempt counts come from the mastery state, activity from the streak state.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Set
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from services.progress.domain import VERDICT_OK, VERDICT_REJECTED, VERDICT_TIMED_OUT, Activity, ActivityKind
from services.progress.domain.mastery import Level, MasteryState
from services.progress.domain.streaks import StreakState, active_days, missed_days

REPEATED_ERROR = "repeated_error"
EXERCISE_TIMEOUT = "exercise_timeout"
FAILED_QUIZ = "failed_quiz"
WHEEL_SPINNING = "wheel_spinning"
ACTIVITY_DROP = "activity_drop"

EpisodeKey = tuple[str, str]  # (rule, key)


class Severity(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True)
class RuleSettings:
    repeated_error_enabled: bool = True
    repeated_error_count: int = 3
    repeated_error_window: timedelta = timedelta(minutes=10)
    exercise_timeout_enabled: bool = True
    failed_quiz_enabled: bool = True
    failed_quiz_below: float = 0.6
    wheel_spinning_enabled: bool = True
    wheel_spinning_attempts: int = 10
    activity_drop_enabled: bool = True
    activity_drop_idle_days: int = 3
    activity_drop_active_days: int = 3
    activity_drop_lookback_days: int = 7
    quiet_period: timedelta = timedelta(days=7)


@dataclass(frozen=True)
class Detection:
    rule: str
    key: str
    explanation: str
    severity: Severity
    at: datetime
    evidence: Mapping[str, str] = field(default_factory=dict)

    @property
    def episode(self) -> EpisodeKey:
        return (self.rule, self.key)


@dataclass(frozen=True)
class Sighting:
    at: datetime
    exercise_id: str = ""


@dataclass(frozen=True)
class StruggleState:
    """Per student: (error type, its recent sightings oldest first), for the types seen in the window."""

    recent_errors: tuple[tuple[str, tuple[Sighting, ...]], ...] = ()

    def sightings(self, error_type: str) -> tuple[Sighting, ...]:
        return next((s for t, s in self.recent_errors if t == error_type), ())


def error_type(activity: Activity) -> str:
    """The error a run made, '' for none: the diagnosed exception, else the failing verdict."""
    if activity.kind != ActivityKind.CODE_RUN or activity.verdict in ("", VERDICT_OK, VERDICT_REJECTED):
        return ""
    return activity.exception_type or activity.verdict


def _duration(span: timedelta) -> str:
    minutes = round(span.total_seconds() / 60)
    if minutes < 1:
        return "under a minute"
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def _on_exercises(sightings: tuple[Sighting, ...]) -> str:
    ids = sorted({s.exercise_id for s in sightings if s.exercise_id})
    if not ids:
        return ""
    return f" on exercise {ids[0]}" if len(ids) == 1 else f" on exercises {', '.join(ids)}"


@dataclass(frozen=True)
class StruggleDetector:
    """Pure: the same inputs always give the same outputs, and nothing is stored here."""

    settings: RuleSettings = RuleSettings()

    def evaluate(
        self,
        state: StruggleState,
        activity: Activity,
        mastery_state: MasteryState | None,
        open_episodes: Set[EpisodeKey],
    ) -> tuple[StruggleState, list[Detection]]:
        """The state after `activity` and what it reveals. `mastery_state` is the activity's topic's state
        AFTER the activity was applied (None without a topic)."""
        state, found = self._repeated_error(state, activity)
        found += (
            self._timeout(activity)
            + self._failed_quiz(activity)
            + self._wheel_spinning(activity, mastery_state)
        )
        return state, [d for d in found if d.episode not in open_episodes]

    def check_activity_drop(
        self, streak: StreakState, now: datetime, tz: str, open_episodes: Set[EpisodeKey]
    ) -> Detection | None:
        """The periodic check of rule activity_drop, from the streak state and the clock."""
        s = self.settings
        if not s.activity_drop_enabled or streak.last_active_date is None:
            return None
        idle = missed_days(streak, now, tz)
        active = active_days(streak, s.activity_drop_lookback_days)
        if idle < s.activity_drop_idle_days or active < s.activity_drop_active_days:
            return None
        last = streak.last_active_date.isoformat()
        if (ACTIVITY_DROP, last) in open_episodes:
            return None
        return Detection(
            ACTIVITY_DROP,
            last,
            f"No activity for {idle} days (last active {last}) after being active on {active} of the "
            f"{s.activity_drop_lookback_days} days before",
            Severity.MEDIUM,
            now,
            {"idle_days": str(idle), "active_days": str(active), "last_active_date": last},
        )

    def cleared_by(
        self, activity: Activity, mastery_state: MasteryState | None, open_episodes: Set[EpisodeKey]
    ) -> list[EpisodeKey]:
        """The open episodes the student's own activity resolves: any activity ends an activity drop; a run
        that works ends repeated errors (and a timeout on its exercise); a graded attempt on the exercise
        ends its timeout; passing the quiz ends its failure; proficiency ends wheel-spinning."""
        s = self.settings
        ok_run = activity.kind == ActivityKind.CODE_RUN and activity.verdict == VERDICT_OK
        on_exercise = ok_run or activity.kind == ActivityKind.EXERCISE_ATTEMPT
        passed = (
            activity.kind == ActivityKind.QUIZ_SUBMISSION
            and activity.score is not None
            and activity.score >= s.failed_quiz_below
        )
        proficient = mastery_state is not None and mastery_state.level >= Level.PROFICIENT
        cleared = []
        for rule, key in sorted(open_episodes):
            if (
                rule == ACTIVITY_DROP
                or (rule == REPEATED_ERROR and ok_run)
                or (rule == EXERCISE_TIMEOUT and on_exercise and key == activity.exercise_id)
                or (rule == FAILED_QUIZ and passed and key == _quiz_key(activity))
                or (rule == WHEEL_SPINNING and proficient and key == activity.topic)
            ):
                cleared.append((rule, key))
        return cleared

    def expired(self, opened_at: datetime, now: datetime) -> bool:
        """Whether an episode left open this long closes by itself (the quiet period)."""
        return now - opened_at >= self.settings.quiet_period

    def _repeated_error(self, state: StruggleState, a: Activity) -> tuple[StruggleState, list[Detection]]:
        s = self.settings
        kind = error_type(a)
        if not kind or not s.repeated_error_enabled:
            return state, []
        newest = max([a.occurred_at, *(x.at for _, trail in state.recent_errors for x in trail)])
        horizon = newest - s.repeated_error_window
        trails: dict[str, tuple[Sighting, ...]] = {}
        for t, trail in state.recent_errors:
            trails[t] = tuple(x for x in trail if x.at >= horizon)
        mine = sorted([*trails.get(kind, ()), Sighting(a.occurred_at, a.exercise_id)], key=lambda x: x.at)
        trails[kind] = tuple(x for x in mine if x.at >= horizon)[-s.repeated_error_count :]
        found: list[Detection] = []
        trail = trails[kind]
        if len(trail) >= s.repeated_error_count:
            span = trail[-1].at - trail[0].at
            found.append(
                Detection(
                    REPEATED_ERROR,
                    kind,
                    f"{kind} {len(trail)} times in {_duration(span)}{_on_exercises(trail)}",
                    Severity.MEDIUM,
                    a.occurred_at,
                    {
                        "error_type": kind,
                        "count": str(len(trail)),
                        "first_at": trail[0].at.isoformat(),
                        "last_at": trail[-1].at.isoformat(),
                        "exercise_ids": ",".join(sorted({x.exercise_id for x in trail if x.exercise_id})),
                    },
                )
            )
            trails[kind] = ()  # a detection consumes its evidence
        kept = tuple((t, trail) for t, trail in sorted(trails.items()) if trail)
        return replace(state, recent_errors=kept), found

    def _timeout(self, a: Activity) -> list[Detection]:
        if not self.settings.exercise_timeout_enabled or a.kind != ActivityKind.CODE_RUN:
            return []
        if a.verdict != VERDICT_TIMED_OUT or not a.exercise_id:
            return []
        return [
            Detection(
                EXERCISE_TIMEOUT,
                a.exercise_id,
                f"A run on exercise {a.exercise_id} timed out: an endless loop, or an approach too slow "
                "for the tests",
                Severity.LOW,
                a.occurred_at,
                {"exercise_id": a.exercise_id, "topic": a.topic},
            )
        ]

    def _failed_quiz(self, a: Activity) -> list[Detection]:
        s = self.settings
        if not s.failed_quiz_enabled or a.kind != ActivityKind.QUIZ_SUBMISSION or a.score is None:
            return []
        if not math.isfinite(a.score) or a.score >= s.failed_quiz_below:
            return []
        key = _quiz_key(a)
        topic = f" on {a.topic}" if a.topic else ""
        return [
            Detection(
                FAILED_QUIZ,
                key,
                f"Quiz {key}{topic} scored {a.score:.0%} (below {s.failed_quiz_below:.0%})",
                Severity.MEDIUM,
                a.occurred_at,
                {"quiz_id": a.quiz_id, "topic": a.topic, "score": f"{a.score:.2f}"},
            )
        ]

    def _wheel_spinning(self, a: Activity, m: MasteryState | None) -> list[Detection]:
        s = self.settings
        graded = a.kind in (ActivityKind.EXERCISE_ATTEMPT, ActivityKind.QUIZ_SUBMISSION)
        if not s.wheel_spinning_enabled or not graded or m is None or not a.topic:
            return []
        if m.attempts < s.wheel_spinning_attempts or m.level >= Level.PROFICIENT:
            return []
        return [
            Detection(
                WHEEL_SPINNING,
                a.topic,
                f"{m.attempts} attempts on {a.topic} without reaching proficiency "
                f"(score {m.score:.0%}, {m.level.label})",
                Severity.HIGH,
                a.occurred_at,
                {
                    "topic": a.topic,
                    "attempts": str(m.attempts),
                    "score": f"{m.score:.2f}",
                    "level": m.level.label,
                },
            )
        ]


def _quiz_key(a: Activity) -> str:
    return a.quiz_id or a.topic or "quiz"
