"""progress's settings, declared (services/runtime/settings.py): the struggle rules and the periodic
checks. Read at start with every other context's and listed by `learnflow settings`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from services.progress.domain.struggle import RuleSettings
from services.runtime.settings import flag, integer, number


@dataclass(frozen=True)
class ProgressConfig:
    repeated_error_enabled: bool = flag("PROGRESS_RULE_REPEATED_ERROR", True, "rule: the same error repeated")
    repeated_error_count: int = integer(
        "PROGRESS_REPEATED_ERROR_COUNT", 3, "how many times the same error counts as repeated", min=2, max=100
    )
    repeated_error_window_minutes: float = number(
        "PROGRESS_REPEATED_ERROR_WINDOW_MINUTES", 10, "the window the repeats must fall in", min=1, max=1440
    )
    exercise_timeout_enabled: bool = flag("PROGRESS_RULE_EXERCISE_TIMEOUT", True, "rule: runs that time out")
    failed_quiz_enabled: bool = flag("PROGRESS_RULE_FAILED_QUIZ", True, "rule: a failed quiz")
    failed_quiz_below: float = number(
        "PROGRESS_FAILED_QUIZ_BELOW", 0.6, "a quiz scored below this fraction has failed", min=0.0, max=1.0
    )
    wheel_spinning_enabled: bool = flag(
        "PROGRESS_RULE_WHEEL_SPINNING", True, "rule: many attempts, no mastery"
    )
    wheel_spinning_attempts: int = integer(
        "PROGRESS_WHEEL_SPINNING_ATTEMPTS", 10, "attempts without mastery that count as wheel-spinning",
        min=2, max=1000,
    )  # fmt: skip
    activity_drop_enabled: bool = flag(
        "PROGRESS_RULE_ACTIVITY_DROP", True, "rule: an active student goes quiet"
    )
    activity_drop_idle_days: int = integer(
        "PROGRESS_ACTIVITY_DROP_IDLE_DAYS", 3, "days without activity that count as a drop", min=1, max=27
    )
    activity_drop_active_days: int = integer(
        "PROGRESS_ACTIVITY_DROP_ACTIVE_DAYS", 3, "active days before, for a drop to count", min=1, max=7
    )
    quiet_period_hours: float = number(
        "PROGRESS_QUIET_PERIOD_HOURS", 168, "a detection is not repeated for this long", min=1, max=24 * 365
    )
    # How often the periodic checks (activity drop, quiet-period expiry) visit every tenant.
    check_interval: float = number(
        "PROGRESS_CHECK_INTERVAL_SECONDS", 300, "how often the periodic checks visit every tenant",
        min=0.1, max=86_400,
    )  # fmt: skip
    # RecordActivity from a person (students record their own): each is rows, events and a mastery
    # update; services (the sandbox's and activity's events arrive as events, not here) are not limited.
    activities_per_user: float = number(
        "PROGRESS_ACTIVITIES_PER_USER_PER_MINUTE", 120,
        "activities a person may record a minute through RecordActivity (burst: a third)",
        min=1, max=100_000,
    )  # fmt: skip

    def rules(self) -> RuleSettings:
        return RuleSettings(
            repeated_error_enabled=self.repeated_error_enabled,
            repeated_error_count=self.repeated_error_count,
            repeated_error_window=timedelta(minutes=self.repeated_error_window_minutes),
            exercise_timeout_enabled=self.exercise_timeout_enabled,
            failed_quiz_enabled=self.failed_quiz_enabled,
            failed_quiz_below=self.failed_quiz_below,
            wheel_spinning_enabled=self.wheel_spinning_enabled,
            wheel_spinning_attempts=self.wheel_spinning_attempts,
            activity_drop_enabled=self.activity_drop_enabled,
            activity_drop_idle_days=self.activity_drop_idle_days,
            activity_drop_active_days=self.activity_drop_active_days,
            quiet_period=timedelta(hours=self.quiet_period_hours),
        )
