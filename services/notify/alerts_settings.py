"""Ops alerting's settings (docs/ops-alerting.md), all from the environment (seed 000 FR3.6).

A group of NotifyConfig (`alerts: AlertSettings = group(AlertSettings)`), so they are read at start
with every other setting, listed by `learnflow settings` and in docs/settings.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.runtime.settings import EnvReader, Setting, custom, integer, number, text


def _listen_addr(r: EnvReader, setting: Setting, values: Mapping[str, Any]) -> str:
    value = r.string(setting.env, "")
    if value:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            r.problems.append(f"{setting.env}={value!r}: must be host:port, e.g. 0.0.0.0:9095, or empty")
    if value and not values.get("webhook_token"):
        r.problems.append(f"{setting.env} is set: NOTIFY_ALERTS_WEBHOOK_TOKEN must be set too")
    return value


def _names(r: EnvReader, setting: Setting, values: Mapping[str, Any]) -> tuple[str, ...]:
    raw = r.string(setting.env, ",".join(setting.default))
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    if setting.env.endswith("_CHANNELS") and not names:
        r.problems.append(f"{setting.env}: name at least one channel")
    return names


@dataclass(frozen=True)
class AlertSettings:
    # Read first: _listen_addr checks it is there when the receiver is on.
    webhook_token: str = text(
        "NOTIFY_ALERTS_WEBHOOK_TOKEN",
        "",
        "bearer secret Alertmanager sends to the alert receiver (its webhook http_config authorization "
        "credentials); every request without it is refused with 401",
        secret=True,
    )
    listen_addr: str = custom(
        "NOTIFY_ALERTS_LISTEN_ADDR",
        "",
        "host:port of the HTTP receiver for Alertmanager's webhooks (POST /v1/alerts/<channel>); empty: "
        "no receiver in this process",
        _listen_addr,
        bounds="host:port or empty",
    )
    channels: tuple[str, ...] = custom(
        "NOTIFY_ALERTS_CHANNELS",
        ("slack", "pagerduty"),
        "channels Alertmanager may deliver ops alerts to (the <channel> of the receiver's path); "
        "Alertmanager's routes pick one per severity (warning: slack, critical: pagerduty)",
        _names,
        default_text="slack,pagerduty",
        bounds="comma-separated channel names",
    )
    hourly_limit: int = integer(
        "NOTIFY_ALERTS_PER_HOUR",
        5,
        "ops alert messages per channel per hour, shared by all replicas (seed FR3.5); what is held "
        "back is summarised in the next message",
        min=1,
        max=3600,
    )
    operators: tuple[str, ...] = custom(
        "NOTIFY_ALERTS_OPERATORS",
        (),
        "email addresses of the operators who get the daily digest; empty: no digest",
        _names,
        default_text="",
        bounds="comma-separated email addresses",
    )
    digest_hour_utc: int = integer(
        "NOTIFY_ALERTS_DIGEST_HOUR_UTC",
        6,
        "hour (UTC) after which the previous day's digest goes out",
        min=0,
        max=23,
    )
    digest_channel: str = text("NOTIFY_ALERTS_DIGEST_CHANNEL", "email", "channel of the daily digest")
    prometheus_url: str = text(
        "NOTIFY_ALERTS_PROMETHEUS_URL",
        "",
        "Prometheus' HTTP API (e.g. http://prometheus:9090), asked for the day's SLA compliance in the "
        "digest; empty: the digest says it is not known",
    )
    db_timeout: float = number(
        "NOTIFY_ALERTS_DB_TIMEOUT_SECONDS",
        2.0,
        "how long an alert waits for PostgreSQL before it goes straight to its channel (the "
        "PostgreSQL-down path)",
        min=0.1,
        max=30.0,
    )
    spool_size: int = integer(
        "NOTIFY_ALERTS_SPOOL_SIZE",
        1000,
        "alerts a replica remembers while PostgreSQL is down, recorded when it is back (oldest "
        "forgotten beyond this, with an error log)",
        min=10,
        max=100_000,
    )
    flush_interval: float = number(
        "NOTIFY_ALERTS_FLUSH_SECONDS",
        30.0,
        "how often held-back alerts are summarised on their own once the limit allows, and the local "
        "spool is recorded in PostgreSQL",
        min=0.1,
        max=3600.0,
    )
