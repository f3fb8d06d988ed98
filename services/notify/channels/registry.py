"""Builds the configured provider channels once per process (services/notify/channels/base.py)."""

from __future__ import annotations

from services.notify.channels.base import Channel
from services.notify.channels.settings import ChannelSettings
from services.runtime.ratelimit import SharedRateLimiter


def build_channels(settings: ChannelSettings, *, limiter: SharedRateLimiter | None) -> dict[str, Channel]:
    """Every provider channel that is configured, by name. in_app is the engine's own and is not here."""
    return {}
