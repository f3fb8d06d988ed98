"""Progress's domain: the activity every context reports, and the three pure models built from it —
mastery.py (per student and topic), streaks.py (per student) and struggle.py (alerts for teachers).

Pure logic, standard library only: no gRPC, SQLAlchemy, NATS or generated code. Each model keeps O(1)
state per student (and topic) and is updated one activity at a time; the store owns persistence and
idempotency by event id. This module is the shared vocabulary: the Activity the intake hands over."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import datetime

from services.runtime.errors import Violations


class ActivityKind(enum.StrEnum):
    EXERCISE_ATTEMPT = "exercise_attempt"  # a graded submission: score = share of tests passed
    QUIZ_SUBMISSION = "quiz_submission"  # score = share of points
    CODE_RUN = "code_run"  # a sandbox run: verdict, and exception_type when it raised
    CODE_REVIEW = "code_review"  # score = review quality (tutor or teacher rubric)
    HINT_REQUEST = "hint_request"
    TIME_ON_TASK = "time_on_task"  # duration_seconds
    CONTENT_VIEW = "content_view"


# The sandbox's verdicts, by name (no context imports another's package).
VERDICT_OK = "OK"
VERDICT_TIMED_OUT = "TIMED_OUT"
VERDICT_REJECTED = "REJECTED"
VERDICTS = frozenset(
    {
        VERDICT_OK,
        "RUNTIME_ERROR",
        VERDICT_TIMED_OUT,
        "MEMORY_EXCEEDED",
        "OUTPUT_EXCEEDED",
        "SYNTAX_ERROR",
        VERDICT_REJECTED,
    }
)
SCORED = frozenset({ActivityKind.EXERCISE_ATTEMPT, ActivityKind.QUIZ_SUBMISSION, ActivityKind.CODE_REVIEW})


@dataclass(frozen=True)
class Activity:
    """One thing a student did, as the intake hands it to the models. `occurred_at` is aware (UTC).
    `score` is in [0, 1] for scored kinds (values outside are clamped by the models)."""

    event_id: str
    student_id: str
    kind: ActivityKind
    occurred_at: datetime
    topic: str = ""
    exercise_id: str = ""
    quiz_id: str = ""
    score: float | None = None
    verdict: str = ""
    exception_type: str = ""  # the run's diagnosis, e.g. "NameError"
    duration_seconds: float = 0.0


def check_activity(v: Violations, a: Activity, path: str = "activity") -> None:
    v.require(a.event_id, f"{path}.event_id")
    v.require(a.student_id, f"{path}.student_id")
    if a.occurred_at.tzinfo is None or a.occurred_at.utcoffset() is None:
        v.add(f"{path}.occurred_at", "must carry a time zone (UTC)")
    if a.kind in SCORED:
        if a.score is None:
            v.add(f"{path}.score", f"is required for {a.kind}")
        elif not math.isfinite(a.score):
            v.add(f"{path}.score", "must be a number between 0 and 1")
    if a.kind == ActivityKind.CODE_RUN and a.verdict not in VERDICTS:
        v.add(f"{path}.verdict", f"must be one of {', '.join(sorted(VERDICTS))}")
    if a.duration_seconds < 0 or not math.isfinite(a.duration_seconds):
        v.add(f"{path}.duration_seconds", "must be zero or more")
