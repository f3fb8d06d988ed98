"""Alertmanager's webhook payload (version 4), read strictly, and the messages made from it.

Pure functions, no I/O: the receiver (services/notify/alerts.py) parses a request body with
`parse_notification` (a bad body raises `InvalidNotification` with one violation per field, which
the receiver answers with 400) and renders each channel's message with `slack_message` and
`pagerduty_events`.

The payload (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config):
  {version: "4", groupKey, truncatedAlerts, status: firing|resolved, receiver, groupLabels,
   commonLabels, commonAnnotations, externalURL,
   alerts: [{status, labels, annotations, startsAt, endsAt, generatorURL, fingerprint}]}
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Bodies larger than this are refused before parsing (Alertmanager's groups are far smaller: a
# notification holds at most max_alerts alerts, and we ask for 20).
MAX_BODY_BYTES = 1 << 20
MAX_ALERTS_LISTED = 10  # in one Slack message; the rest are counted
STATUSES = ("firing", "resolved")


@dataclass(frozen=True)
class Violation:
    field: str
    description: str


class InvalidNotification(ValueError):
    def __init__(self, violations: Sequence[Violation]):
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))
        self.violations = list(violations)

    def as_json(self) -> dict[str, Any]:
        return {
            "error": "INVALID_ARGUMENT",
            "message": "not an Alertmanager webhook notification (version 4)",
            "field_violations": [{"field": v.field, "description": v.description} for v in self.violations],
        }


@dataclass(frozen=True)
class Alert:
    status: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime | None
    ends_at: datetime | None
    generator_url: str
    fingerprint: str

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "unnamed alert")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "warning")

    @property
    def summary(self) -> str:
        return self.annotations.get("summary") or self.name


@dataclass(frozen=True)
class Notification:
    receiver: str
    status: str
    alerts: tuple[Alert, ...]
    group_labels: Mapping[str, str] = field(default_factory=dict)
    common_labels: Mapping[str, str] = field(default_factory=dict)
    common_annotations: Mapping[str, str] = field(default_factory=dict)
    external_url: str = ""
    group_key: str = ""
    truncated_alerts: int = 0


def _labels(value: Any, where: str, problems: list[Violation]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        problems.append(Violation(where, "must be an object of strings"))
        return {}
    return dict(value)


def _string(value: Any, where: str, problems: list[Violation], *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        problems.append(Violation(where, "must be a non-empty string" if required else "must be a string"))
        return ""
    return value


def _time(value: Any, where: str, problems: list[Violation]) -> datetime | None:
    text = _string(value, where, problems)
    if not text:
        return None
    try:
        # Go's RFC 3339 with nanoseconds ("2026-12-06T12:00:00.123456789Z"): Python takes microseconds.
        head, dot, rest = text.replace("Z", "+00:00").partition(".")
        if dot:
            digits = "".join(c for c in rest if c.isdigit())
            tz = rest[len(digits) :]
            text = f"{head}.{digits[:6].ljust(6, '0')}{tz}"
        else:
            text = head
        parsed = datetime.fromisoformat(text)
    except ValueError:
        problems.append(Violation(where, "must be an RFC 3339 time"))
        return None
    # Alertmanager's "no end yet" is the zero time.
    return None if parsed.year <= 1 else parsed


def parse_notification(body: bytes) -> Notification:
    """The notification in `body`, or InvalidNotification naming every field that is wrong."""
    if len(body) > MAX_BODY_BYTES:
        raise InvalidNotification([Violation("body", f"larger than {MAX_BODY_BYTES} bytes")])
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidNotification([Violation("body", f"not JSON: {exc}")]) from None
    if not isinstance(data, dict):
        raise InvalidNotification([Violation("body", "must be a JSON object")])
    problems: list[Violation] = []
    if data.get("version") != "4":
        problems.append(Violation("version", 'must be "4" (Alertmanager\'s webhook format)'))
    status = data.get("status")
    if status not in STATUSES:
        problems.append(Violation("status", "must be firing or resolved"))
    receiver = _string(data.get("receiver"), "receiver", problems, required=True)
    raw_alerts = data.get("alerts")
    alerts: list[Alert] = []
    if not isinstance(raw_alerts, list) or not raw_alerts:
        problems.append(Violation("alerts", "must be a non-empty list"))
        raw_alerts = []
    for i, raw in enumerate(raw_alerts):
        where = f"alerts[{i}]"
        if not isinstance(raw, dict):
            problems.append(Violation(where, "must be an object"))
            continue
        a_status = raw.get("status")
        if a_status not in STATUSES:
            problems.append(Violation(f"{where}.status", "must be firing or resolved"))
        labels = _labels(raw.get("labels"), f"{where}.labels", problems)
        if not labels.get("alertname"):
            problems.append(Violation(f"{where}.labels.alertname", "is required"))
        alerts.append(
            Alert(
                status=str(a_status),
                labels=labels,
                annotations=_labels(raw.get("annotations"), f"{where}.annotations", problems),
                starts_at=_time(raw.get("startsAt"), f"{where}.startsAt", problems),
                ends_at=_time(raw.get("endsAt"), f"{where}.endsAt", problems),
                generator_url=_string(raw.get("generatorURL"), f"{where}.generatorURL", problems),
                fingerprint=_string(raw.get("fingerprint"), f"{where}.fingerprint", problems, required=True),
            )
        )
    truncated = data.get("truncatedAlerts", 0)
    if not isinstance(truncated, int) or isinstance(truncated, bool) or truncated < 0:
        problems.append(Violation("truncatedAlerts", "must be a whole number >= 0"))
        truncated = 0
    notification = Notification(
        receiver=receiver,
        status=str(status),
        alerts=tuple(alerts),
        group_labels=_labels(data.get("groupLabels"), "groupLabels", problems),
        common_labels=_labels(data.get("commonLabels"), "commonLabels", problems),
        common_annotations=_labels(data.get("commonAnnotations"), "commonAnnotations", problems),
        external_url=_string(data.get("externalURL"), "externalURL", problems),
        group_key=_string(data.get("groupKey"), "groupKey", problems),
        truncated_alerts=truncated,
    )
    if problems:
        raise InvalidNotification(problems)
    return notification


# --- messages ---------------------------------------------------------------------------------------

# Labels every alert has, or that the message already shows in its own words.
_SHOWN_LABELS = frozenset({"alertname", "severity", "check", "job"})


@dataclass(frozen=True)
class HeldBack:
    """Alerts the hourly limit held back on a channel since its last message, told in the next."""

    count: int
    since: datetime | None
    by_alert: Mapping[str, int]  # "AlertName (firing)" -> how many

    def line(self) -> str:
        parts = ", ".join(f"{name} x{n}" for name, n in sorted(self.by_alert.items(), key=lambda kv: -kv[1]))
        since = f" since {self.since:%H:%M} UTC" if self.since else ""
        return f"{self.count} more alert(s) held back by the hourly limit{since}: {parts}"


def _when(t: datetime | None) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S} UTC" if t else "unknown"


def _context_labels(alert: Alert) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k not in _SHOWN_LABELS)


def slack_message(n: Notification, held: HeldBack | None = None) -> tuple[str, str]:
    """(subject, Slack mrkdwn body) for one notification: per alert what failed, its context, what to
    do first and the links; then what the limit held back."""
    firing = [a for a in n.alerts if a.status == "firing"]
    resolved = [a for a in n.alerts if a.status == "resolved"]
    name = n.common_labels.get("alertname") or n.alerts[0].name
    subject = f"[{n.status.upper()}] {name}" + (f" ({len(n.alerts)} alerts)" if len(n.alerts) > 1 else "")
    lines = [f"*{subject}*"]
    for alert in [*firing, *resolved][:MAX_ALERTS_LISTED]:
        icon = ":rotating_light:" if alert.status == "firing" else ":white_check_mark:"
        check = alert.labels.get("check", "")
        lines.append(
            f"{icon} *{alert.status.upper()}* {alert.severity}"
            + (f" · failed check: `{check}`" if check else "")
            + f" · {alert.summary}"
        )
        if desc := alert.annotations.get("description"):
            lines.append(f"> {desc}")
        if action := alert.annotations.get("action"):
            lines.append(f"> *Do first:* {action}")
        if labels := _context_labels(alert):
            lines.append(f"> *Affected:* {labels}")
        since = f"since {_when(alert.starts_at)}"
        if alert.status == "resolved":
            since += f", resolved {_when(alert.ends_at)}"
        links = [since]
        if url := alert.annotations.get("runbook_url"):
            links.append(f"<{url}|runbook>")
        if alert.generator_url:
            links.append(f"<{alert.generator_url}|graph>")
        lines.append("> " + " · ".join(links))
    not_listed = len(n.alerts) - MAX_ALERTS_LISTED + n.truncated_alerts
    if not_listed > 0:
        lines.append(f"_…and {not_listed} more in this group_")
    if n.external_url:
        lines.append(f"<{n.external_url}|Alertmanager>")
    if held is not None and held.count:
        lines.append(f"_{held.line()}_")
    return subject, "\n".join(lines)


def summary_message(held: HeldBack) -> tuple[str, str]:
    """A message of its own for what was held back, once the limit allows one (no new alert came)."""
    return "Ops alerts held back", f"*Ops alerts held back*\n_{held.line()}_"


@dataclass(frozen=True)
class PagerDutyEvent:
    """One Events API v2 event, as the channel's Outgoing carries it: `extra` holds event_action,
    dedup_key (the alert's fingerprint: a resolve closes the incident its trigger opened), severity,
    source, component, class and links; `subject` is the incident's summary; `body` its details."""

    alert: Alert
    subject: str
    body: str
    extra: Mapping[str, str]


def pagerduty_events(n: Notification, held: HeldBack | None = None) -> list[PagerDutyEvent]:
    events = []
    for i, alert in enumerate(n.alerts):
        action = "trigger" if alert.status == "firing" else "resolve"
        details = [
            f"{alert.summary}",
            f"Failed check: {alert.labels.get('check', alert.name)}",
        ]
        for key in ("description", "action"):
            if value := alert.annotations.get(key):
                details.append(f"{key.capitalize()}: {value}")
        if labels := _context_labels(alert):
            details.append(f"Affected: {labels}")
        details.append(f"Since: {_when(alert.starts_at)}")
        if held is not None and held.count and i == 0:
            details.append(held.line())
        links = {
            k: v
            for k, v in (
                ("runbook_url", alert.annotations.get("runbook_url", "")),
                ("generator_url", alert.generator_url),
                ("alertmanager_url", n.external_url),
            )
            if v
        }
        extra = {
            "event_action": action,
            "dedup_key": alert.fingerprint,
            "severity": "critical" if alert.severity == "critical" else "warning",
            "source": alert.labels.get("instance") or alert.labels.get("context") or "learnflow",
            "component": alert.labels.get("context", ""),
            "class": alert.labels.get("check", ""),
            "links": json.dumps(links, sort_keys=True),
        }
        events.append(
            PagerDutyEvent(
                alert, f"[{alert.severity.upper()}] {alert.summary}"[:1024], "\n".join(details), extra
            )
        )
    return events
