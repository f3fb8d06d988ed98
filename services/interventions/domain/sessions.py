"""Work sessions: how long a student has been working without a break, from the activity signals
interventions consumes (sandbox runs, hints, unclear questions, struggles) — the producer of
calm_break's `work.session` signal.

A session is the stretch from its first activity to its last; an activity more than `gap` after the
last one starts a new session (a new id). An activity more than `gap` before the session's start
belongs to an earlier session that is over (a late redelivery) and changes nothing. Each threshold
(the `minutes: at_least` of the policies of work.session) is crossed at most once per session: the
session remembers the thresholds it has signalled, and the signal's source names the session and the
threshold, so even a signal produced twice is stored once."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from services.interventions.domain.engine import Signal
from services.interventions.domain.policy import Policy

WORK_SESSION = "work.session"
# The signals that are a student's activity (what a session is made of).
ACTIVITY = ("sandbox.executed", "hint.requested", "question.unclear", "struggle.detected")


@dataclass(frozen=True)
class WorkSession:
    session_id: str
    started_at: datetime
    last_activity_at: datetime
    signalled: tuple[float, ...] = field(default=())

    @property
    def minutes(self) -> float:
        return (self.last_activity_at - self.started_at).total_seconds() / 60


@dataclass(frozen=True)
class Crossing:
    """A session reached a threshold: the work.session signal to evaluate."""

    session_id: str
    threshold: float
    minutes: float  # the session's length when it was seen to cross
    at: datetime  # the activity that made it cross
    topic: str  # that activity's topic


def thresholds(policies: Iterable[Policy]) -> tuple[float, ...]:
    """The session lengths (minutes) the work.session policies ask about, ascending: their
    `minutes: at_least` conditions. A policy without one is never given a work.session signal by
    this producer (EvaluateSignal still can)."""
    found = {
        float(c.value)
        for p in policies
        if p.signal == WORK_SESSION
        for c in p.conditions
        if c.kind == "at_least" and c.field == "minutes"
    }
    return tuple(sorted(found))


def advance(
    current: WorkSession,
    activities: Sequence[tuple[datetime, str]],
    gap: timedelta,
    wanted: Sequence[float],
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> tuple[WorkSession, list[Crossing]]:
    """The session after these (time, topic) activities (taken in time order) and the thresholds it
    crossed on the way, each once per session."""
    crossings: list[Crossing] = []
    for at, topic in sorted(activities, key=lambda a: a[0]):
        if at > current.last_activity_at + gap:
            current = WorkSession(new_id(), at, at)
        elif at < current.started_at - gap:
            continue  # an earlier session's, over already
        else:
            current = replace(
                current,
                started_at=min(current.started_at, at),
                last_activity_at=max(current.last_activity_at, at),
            )
        length = current.minutes
        reached = [t for t in wanted if t <= length and t not in current.signalled]
        if reached:
            current = replace(current, signalled=tuple(sorted((*current.signalled, *reached))))
            crossings += [
                Crossing(current.session_id, t, length, current.last_activity_at, topic) for t in reached
            ]
    return current, crossings


def signal_of(crossing: Crossing, tenant_id: str, student_id: str) -> Signal:
    """The work.session signal of a crossing. `minutes` ({duration}) is the session's length in
    whole minutes when that is still at least the threshold (a teacher reads "50 minutes", not
    "50.3"), else the exact length (a threshold with a fraction of a minute)."""
    whole = float(math.floor(crossing.minutes))
    return Signal(
        id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        student_id=student_id,
        kind=WORK_SESSION,
        occurred_at=crossing.at,
        topic=crossing.topic,
        key=crossing.session_id,
        minutes=whole if whole >= crossing.threshold else crossing.minutes,
        source=f"{WORK_SESSION}:{crossing.session_id}:{crossing.threshold:g}",
    )
