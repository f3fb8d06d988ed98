"""Settings of the provider channels (Moodle, Zulip, Slack, email, PagerDuty): endpoints, credentials
and limits, declared like every other setting (services/runtime/settings.py) and grouped into
NotifyConfig. Filled in by the channel clients."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChannelSettings:
    pass
