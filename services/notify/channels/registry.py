"""Builds the configured provider channels once per process (services/notify/channels/base.py).

Each HTTP channel gets its own OutboundClient (services/runtime/outbound.py): one connection pool and
a breaker per destination. Rate limits are not here: the delivery engine takes them per channel and
destination from the shared limiter before an attempt (NOTIFY_<CHANNEL>_PER_MINUTE), where a message
over the limit is held without spending a retry, and a 429's Retry-After penalises the bucket for every
replica (docs/notify.md).
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


def policy(settings: ChannelSettings) -> OutboundPolicy:
    return OutboundPolicy(
        timeout_seconds=settings.timeout_seconds,
        connect_timeout_seconds=min(3.0, settings.timeout_seconds),
        attempts=settings.inline_attempts,
        breaker_failures=settings.breaker_failures,
        breaker_reset_seconds=settings.breaker_reset_seconds,
    )


def build_channels(settings: ChannelSettings) -> dict[str, Channel]:
    """Every provider channel that is configured, by name. in_app is the engine's own and is not here."""
    s = settings
    channels: dict[str, Channel] = {}
    if s.moodle_url:
        channels["moodle"] = MoodleChannel(
            s.moodle_url,
            s.moodle_token,
            send_http=OutboundClient(policy(s)),
            query_http=OutboundClient(policy(s)),
            cache_seconds=s.moodle_user_cache_seconds,
        )
    if s.zulip_url:
        channels["zulip"] = ZulipChannel(
            s.zulip_url, s.zulip_bot_email, s.zulip_api_key, http=OutboundClient(policy(s))
        )
    if s.slack_webhooks:
        channels["slack"] = SlackChannel(s.slack_webhooks, http=OutboundClient(policy(s)))
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
            s.pagerduty_events_url, s.pagerduty_routing_key, http=OutboundClient(policy(s))
        )
    return channels
