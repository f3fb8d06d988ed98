"""Builds the configured provider channels once per process (services/notify/channels/base.py).

Each HTTP channel gets its own OutboundClient (services/runtime/outbound.py): one connection pool, a
breaker per destination, and, where the provider needs one, a shared rate limit held in PostgreSQL
(`limiter`) so every replica together stays under it: Moodle's messages a minute, each Slack
webhook's one a second. Without a limiter (a tool, a test without a database) no shared limit applies.
"""

from __future__ import annotations

from services.notify.channels.base import Channel
from services.notify.channels.email import EmailChannel
from services.notify.channels.moodle import MoodleChannel
from services.notify.channels.pagerduty import PagerDutyChannel
from services.notify.channels.settings import ChannelSettings
from services.notify.channels.slack import SlackChannel
from services.notify.channels.zulip import ZulipChannel
from services.runtime.breaker import CircuitBreaker
from services.runtime.outbound import OutboundClient, OutboundPolicy
from services.runtime.ratelimit import Limit, SharedRateLimiter


def policy(settings: ChannelSettings, rate_limit: Limit | None = None) -> OutboundPolicy:
    return OutboundPolicy(
        timeout_seconds=settings.timeout_seconds,
        connect_timeout_seconds=min(3.0, settings.timeout_seconds),
        attempts=settings.inline_attempts,
        breaker_failures=settings.breaker_failures,
        breaker_reset_seconds=settings.breaker_reset_seconds,
        rate_limit=rate_limit,
    )


def build_channels(settings: ChannelSettings, *, limiter: SharedRateLimiter | None) -> dict[str, Channel]:
    """Every provider channel that is configured, by name. in_app is the engine's own and is not here."""
    s = settings
    channels: dict[str, Channel] = {}
    if s.moodle_url:
        count = s.moodle_messages_per_minute
        per_minute = Limit.per_minute(count, burst=min(10, count))
        channels["moodle"] = MoodleChannel(
            s.moodle_url,
            s.moodle_token,
            send_http=OutboundClient(policy(s, per_minute), limiter=limiter),
            query_http=OutboundClient(policy(s)),
            cache_seconds=s.moodle_user_cache_seconds,
        )
    if s.zulip_url:
        channels["zulip"] = ZulipChannel(
            s.zulip_url, s.zulip_bot_email, s.zulip_api_key, http=OutboundClient(policy(s), limiter=limiter)
        )
    if s.slack_webhooks:
        per_webhook = Limit(s.slack_messages_per_second, burst=1)
        channels["slack"] = SlackChannel(
            s.slack_webhooks, http=OutboundClient(policy(s, per_webhook), limiter=limiter)
        )
    if s.smtp_host:
        channels["email"] = EmailChannel(
            s.smtp_host,
            s.smtp_port,
            sender=s.smtp_from,
            starttls=s.smtp_starttls,
            ca_file=s.smtp_ca_file,
            username=s.smtp_username,
            password=s.smtp_password,
            timeout_seconds=s.smtp_timeout_seconds,
            breaker=CircuitBreaker(s.breaker_failures, s.breaker_reset_seconds),
        )
    if s.pagerduty_routing_key:
        channels["pagerduty"] = PagerDutyChannel(
            s.pagerduty_events_url, s.pagerduty_routing_key, http=OutboundClient(policy(s), limiter=limiter)
        )
    return channels
