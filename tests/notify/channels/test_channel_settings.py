"""The channel settings: a provider without an endpoint is not built, half a configuration is refused
at start with every problem together, credentials are secrets (never printed)."""

from __future__ import annotations

import pytest

from services.notify.channels.registry import build_channels
from services.notify.channels.settings import CHANNEL_SECRETS, ChannelSettings
from services.runtime.settings import SettingsError, declared, read


def test_nothing_configured_builds_nothing():
    settings = read(ChannelSettings, {})
    assert settings.configured == () and build_channels(settings) == {}


def test_only_the_configured_providers_are_built():
    settings = read(
        ChannelSettings,
        {
            "NOTIFY_ZULIP_URL": "https://chat.example.org",
            "NOTIFY_ZULIP_BOT_EMAIL": "bot@chat.example.org",
            "NOTIFY_ZULIP_API_KEY": "k",
            "NOTIFY_SMTP_HOST": "smtp.example.org",
        },
    )
    channels = build_channels(settings)
    assert sorted(channels) == ["email", "zulip"] == sorted(settings.configured)
    assert {c.name for c in channels.values()} == {"email", "zulip"}
    for channel in channels.values():  # the contract's attributes (services/notify/channels/base.py)
        assert channel.body_format in ("html", "markdown", "text") and channel.max_length > 0


def test_half_a_configuration_is_refused_with_every_problem():
    with pytest.raises(SettingsError) as caught:
        read(
            ChannelSettings,
            {"NOTIFY_MOODLE_URL": "ftp://moodle", "NOTIFY_SMTP_PORT": "0", "NOTIFY_SLACK_WEBHOOK_URL": "x"},
        )
    text = str(caught.value)
    assert "NOTIFY_MOODLE_URL" in text and "NOTIFY_SMTP_PORT" in text and "NOTIFY_SLACK_WEBHOOK_URL" in text
    with pytest.raises(SettingsError, match="NOTIFY_MOODLE_TOKEN is empty"):
        read(ChannelSettings, {"NOTIFY_MOODLE_URL": "https://moodle.example.org"})


def test_credentials_are_secrets_and_come_from_the_secret():
    secret = {s.env for s in declared(ChannelSettings) if s.secret}
    assert secret == {
        "NOTIFY_MOODLE_TOKEN",
        "NOTIFY_ZULIP_API_KEY",
        "NOTIFY_SLACK_WEBHOOK_URL",
        "NOTIFY_SLACK_WEBHOOKS",
        "NOTIFY_SMTP_PASSWORD",
        "NOTIFY_PAGERDUTY_ROUTING_KEY",
    }
    assert {s.env for s in CHANNEL_SECRETS} == secret
