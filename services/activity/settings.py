"""activity's settings, declared (services/runtime/settings.py): read at start with every other
context's, listed by `learnflow settings` and in docs/settings.md (`make gen`). The LMS_* names are the
product source's (seed 004 step 8); the monitor's safety margins are ours (docs/activity.md)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from services.activity.domain import parse_event_types
from services.runtime.settings import flag, integer, number, text


@dataclass(frozen=True)
class ActivityConfig:
    monitor_enabled: bool = flag(
        "LMS_ACTIVITY_MONITOR_ENABLED", False, "poll the LMS database for exam and content attempts"
    )
    lms_database_url: str = text(
        "LMS_DATABASE_URL", "", "the LMS database (a read-only role), postgresql+psycopg://…", secret=True
    )
    lms_name: str = text("LMS_NAME", "lms", "the LMS's name: part of every event id, so never change it")
    lms_tenant_id: str = text("LMS_TENANT_ID", "", "the tenant (uuid) the LMS's events belong to")
    poll_interval: float = number(
        "LMS_ACTIVITY_POLL_INTERVAL", 60, "seconds between polls of the LMS", min=0.05, max=3600
    )
    settle_lag: float = number(
        "LMS_ACTIVITY_SETTLE_LAG_SECONDS",
        2,
        "a poll reads rows changed at least this long ago",
        min=0,
        max=3600,
    )
    overlap: float = number(
        "LMS_ACTIVITY_OVERLAP_SECONDS",
        30,
        "each poll re-reads this window before its cursor",
        min=0,
        max=86_400,
    )
    batch_size: int = integer(
        "LMS_ACTIVITY_BATCH_SIZE", 1000, "LMS rows read and applied per transaction", min=1, max=20_000
    )
    audit_interval: float = number(
        "LMS_ACTIVITY_AUDIT_INTERVAL", 600, "seconds between completeness audits", min=0.05, max=86_400
    )
    notify_mentors: bool = flag(
        "LMS_NOTIFY_MENTORS_ENABLED", True, "send each event to the student's mentors"
    )
    link_cache_seconds: float = number(
        "LMS_LINK_CACHE_SECONDS",
        60,
        "LMS emails → LearnFlow users cached this long (an unknown email reloads after min(this, 5) s)",
        min=0.1,
        max=86_400,
    )
    notify_channel: str = text(
        "LMS_NOTIFY_CHANNEL", "zulip", "notify's channel for the mentors' DMs (its fallback applies)"
    )
    notify_template: str = text(
        "LMS_NOTIFY_TEMPLATE",
        "lms-activity",
        "the tenant's notify template for the DMs; its body renders {{ message }}",
    )
    event_types: str = text(
        "LMS_EVENT_TYPES_TO_MONITOR", "", "comma list of event types to store and publish; empty for all"
    )
    default_page_size: int = integer(
        "ACTIVITY_DEFAULT_PAGE_SIZE",
        50,
        "events ListActivityEvents returns when it asks for no page size",
        min=1,
        max=500,
    )

    def __post_init__(self) -> None:
        parse_event_types(self.event_types)  # ValueError names the unknown ones
        if self.monitor_enabled:
            if not self.lms_database_url:
                raise ValueError("LMS_ACTIVITY_MONITOR_ENABLED needs LMS_DATABASE_URL")
            try:
                uuid.UUID(self.lms_tenant_id)
            except ValueError:
                raise ValueError(
                    "LMS_ACTIVITY_MONITOR_ENABLED needs LMS_TENANT_ID, a tenant's uuid"
                ) from None

    @property
    def monitored_types(self) -> tuple[str, ...]:
        return parse_event_types(self.event_types)

    @property
    def settle(self) -> timedelta:
        return timedelta(seconds=self.settle_lag)

    @property
    def overlap_window(self) -> timedelta:
        return timedelta(seconds=self.overlap)
