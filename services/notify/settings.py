"""notify's settings, declared (services/runtime/settings.py): read at start with every other
context's, listed by `learnflow settings` and in docs/settings.md (`make gen`). The provider
channels' own settings (endpoints, credentials) are the `channels` group (channels/settings.py)."""

from __future__ import annotations

from dataclasses import dataclass

from services.notify.alerts_settings import AlertSettings
from services.notify.channels.settings import ChannelSettings
from services.runtime.settings import group, integer, number, text


@dataclass(frozen=True)
class NotifyConfig:
    default_page_size: int = integer(
        "NOTIFY_DEFAULT_PAGE_SIZE",
        50,
        "deliveries or in-app messages a list returns when it asks for no page size",
        min=1,
        max=200,
    )
    fallback_channel: str = text(
        "NOTIFY_FALLBACK_CHANNEL",
        "in_app",
        "where a message goes when its recipient has no account on the channel asked for (empty: fail it)",
    )
    max_retries: int = integer(
        "NOTIFY_MAX_RETRIES",
        3,
        "retries after a delivery's first attempt before it fails for good",
        min=0,
        max=10,
    )
    retry_base_seconds: float = number(
        "NOTIFY_RETRY_BASE_SECONDS",
        30.0,
        "backoff window of the first retry; it doubles per retry (full jitter), never below Retry-After",
        min=0.0,
        max=3600.0,
    )
    retry_max_seconds: float = number(
        "NOTIFY_RETRY_MAX_SECONDS", 3600.0, "longest backoff window of a retry", min=0.0, max=86400.0
    )
    moodle_per_minute: int = integer(
        "NOTIFY_MOODLE_PER_MINUTE", 100, "Moodle messages a minute, all replicas together", min=1, max=100_000
    )
    zulip_per_minute: int = integer(
        "NOTIFY_ZULIP_PER_MINUTE", 200, "Zulip messages a minute, all replicas together", min=1, max=100_000
    )
    slack_per_minute: int = integer(
        "NOTIFY_SLACK_PER_MINUTE",
        60,
        "Slack messages a minute per webhook (Slack allows about 1/s)",
        min=1,
        max=10_000,
    )
    email_per_minute: int = integer(
        "NOTIFY_EMAIL_PER_MINUTE", 600, "emails a minute through the SMTP relay", min=1, max=100_000
    )
    pagerduty_per_minute: int = integer(
        "NOTIFY_PAGERDUTY_PER_MINUTE", 120, "PagerDuty events a minute per routing key", min=1, max=100_000
    )
    limit_burst: int = integer(
        "NOTIFY_LIMIT_BURST",
        1,
        "messages a channel's bucket holds at once; 1 spreads them evenly so no 60 s window exceeds the rate",
        min=1,
        max=1000,
    )
    address_cache_seconds: int = integer(
        "NOTIFY_ADDRESS_CACHE_SECONDS",
        86_400,
        "how long a user's address on a channel (or having none) is trusted before asking the channel again",
        min=0,
        max=30 * 86_400,
    )
    read_poll_seconds: float = number(
        "NOTIFY_READ_POLL_SECONDS",
        60.0,
        "first wait before asking a provider whether a message was read; doubles up to an hour",
        min=0.1,
        max=3600.0,
    )
    read_poll_days: int = integer(
        "NOTIFY_READ_POLL_DAYS", 7, "how long read receipts are polled for after sending", min=0, max=90
    )
    channels: ChannelSettings = group(ChannelSettings)  # noqa: RUF009 (a field(default_factory=...), like the others)
    alerts: AlertSettings = group(AlertSettings)  # noqa: RUF009 (a field(default_factory=...), like the others)

    def per_minute(self, channel: str) -> int | None:
        """The configured rate of a provider channel (None: unlimited, e.g. in_app or a test channel)."""
        return {
            "moodle": self.moodle_per_minute,
            "zulip": self.zulip_per_minute,
            "slack": self.slack_per_minute,
            "email": self.email_per_minute,
            "pagerduty": self.pagerduty_per_minute,
        }.get(channel)
