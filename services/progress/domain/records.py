"""What progress keeps per student, topic, class and alert, as the store returns it and the service
layer hands it out: frozen dataclasses of plain values and the models' states (no rows, no
protobuf). The O(1) model states arrive decoded, so no caller reads JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from services.progress.domain import Activity
from services.progress.domain.mastery import MasteryState
from services.progress.domain.streaks import StreakState
from services.progress.domain.struggle import StruggleState

# An alert's life: open → (acknowledged →) resolved. Alerts are never deleted.
OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
ALERT_STATES = (OPEN, ACKNOWLEDGED, RESOLVED)
# Why an alert was resolved (None while it is not).
BY_TEACHER, BY_PROGRESS, BY_QUIET_PERIOD = "teacher", "student_progress", "quiet_period"


@dataclass(frozen=True)
class Student:
    """A student's row: the models' per-student states and the summary kept beside them for class
    lists (a class member without activity yet has the defaults)."""

    student_id: str
    time_zone: str = "UTC"
    streak: StreakState = field(default_factory=StreakState)
    struggle: StruggleState = field(default_factory=StruggleState)
    topics: int = 0
    mastery_sum: float = 0.0
    mean_mastery: float = 0.0
    topics_mastered: int = 0
    open_alerts: int = 0
    risk: float = 0.0
    last_active_at: datetime | None = None


@dataclass(frozen=True)
class TopicMastery:
    """A student's mastery of one topic: the model's state, and the figures derived from it when it
    was written (`level` is the Level's name, `evidence` the state's weight)."""

    student_id: str
    topic: str
    score: float
    evidence: float
    level: str
    attempts: int
    updated_at: datetime | None
    state: MasteryState


@dataclass(frozen=True)
class StruggleAlert:
    id: str
    student_id: str
    rule: str
    key: str
    explanation: str
    severity: str
    state: str  # OPEN, ACKNOWLEDGED or RESOLVED
    created_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    resolution: str | None = None  # BY_*; None on alerts resolved before it was recorded


@dataclass(frozen=True)
class StudentClass:
    id: str
    name: str
    teacher_ids: tuple[str, ...]
    student_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Streak:
    """A streak as a reader sees it: `current_days` as of the time it was read, in the student's zone."""

    current_days: int
    longest_days: int
    last_active_date: date | None


@dataclass(frozen=True)
class StudentProgress:
    student_id: str
    topics: tuple[TopicMastery, ...]
    streak: Streak
    recent_activity: tuple[Activity, ...]
    open_alerts: int


@dataclass(frozen=True)
class StudentSummary:
    """One line of a class list."""

    student_id: str
    mean_mastery: float
    topics_mastered: int
    open_alerts: int
    risk: float
    streak: Streak
    last_active_at: datetime | None


@dataclass(frozen=True)
class Recorded:
    """What recording one activity did: whether it applied (not seen before) and the topic's mastery
    after it (None when the activity says nothing about mastery)."""

    applied: bool
    topic: str
    mastery: MasteryState | None
    at: datetime | None
