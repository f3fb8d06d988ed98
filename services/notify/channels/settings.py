"""Settings of the provider channels (Moodle, Zulip, Slack, email, PagerDuty): endpoints, credentials
and limits, declared like every other setting (services/runtime/settings.py) and grouped into
NotifyConfig (`channels: ChannelSettings = group(ChannelSettings)`).

A provider whose endpoint is not configured is not built (registry.py): an empty URL, host or routing
key means "this deployment does not use it". Credentials are `secret=True` (never printed; in
Kubernetes they come from a Secret: CHANNEL_SECRETS below is what app.py lists in ContextSpec.secrets).
Under `learnflow up` the local mesh points every provider at the local wire-format servers
(services/notify/fakes) unless real endpoints are configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from services.runtime.contexts import Egress, SecretEnv
from services.runtime.settings import EnvReader, Setting, custom, flag, integer, number, text, url

HTTP = ("https", "http")


def _webhooks(r: EnvReader, setting: Setting, values: Mapping[str, Any]) -> Mapping[str, str]:
    """NOTIFY_SLACK_WEBHOOKS: `name=url,name=url`, each an incoming webhook a message may be addressed
    to by name; NOTIFY_SLACK_WEBHOOK_URL, when set, is the one named `default`."""
    found: dict[str, str] = {}
    raw = r.string(setting.env, "")
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        parts = urlsplit(value)
        if not sep or not name or parts.scheme not in HTTP or not parts.hostname:
            # Never echo the value: a webhook URL is its own credential.
            r.problems.append(f"{setting.env}: each entry must be name=https://host/path (entry {name!r})")
            continue
        if name in found:
            r.problems.append(f"{setting.env}: webhook {name!r} is named twice")
        found[name] = value
    default = values.get("slack_webhook_url") or ""
    if default:
        if "default" in found:
            r.problems.append(f"{setting.env}: 'default' is NOTIFY_SLACK_WEBHOOK_URL; rename this one")
        found["default"] = default
    return MappingProxyType(found)


@dataclass(frozen=True)
class ChannelSettings:
    """Where each provider is, how we authenticate, and how fast we may call it."""

    # --- shared by the HTTP channels (services/runtime/outbound.py) ---
    timeout_seconds: float = number(
        "NOTIFY_CHANNEL_TIMEOUT_SECONDS", 10.0, "time one provider call may take", min=0.1, max=120.0
    )
    inline_attempts: int = integer(
        "NOTIFY_CHANNEL_INLINE_ATTEMPTS",
        2,
        "calls per send in-line (a blip retried after a short jittered wait or a short Retry-After); the "
        "delivery engine's durable retries come on top, each recorded in the delivery log; 1 leaves every "
        "retry to the engine",
        min=1,
        max=5,
    )
    breaker_failures: int = integer(
        "NOTIFY_CHANNEL_BREAKER_FAILURES",
        5,
        "failed calls in a row after which a provider is not called until its breaker's trial",
        min=1,
        max=1000,
    )
    breaker_reset_seconds: float = number(
        "NOTIFY_CHANNEL_BREAKER_RESET_SECONDS",
        30.0,
        "how long an open breaker refuses calls before one trial call",
        min=0.1,
        max=3600.0,
    )

    # --- Moodle web services ---
    moodle_url: str = url(
        "NOTIFY_MOODLE_URL",
        "",
        "the Moodle site (its web services are under /webservice/rest/server.php); empty: no Moodle channel",
        schemes=HTTP,
    )
    moodle_token: str = text(
        "NOTIFY_MOODLE_TOKEN",
        "",
        "web-service token of the sending user (needs core_message_send_instant_messages, "
        "core_user_get_users_by_field, core_message_get_messages)",
        secret=True,
    )
    moodle_user_cache_seconds: float = number(
        "NOTIFY_MOODLE_USER_CACHE_SECONDS",
        300.0,
        "how long a Moodle user looked up by email (or found missing) is remembered",
        min=0.0,
        max=86_400.0,
    )

    # --- Zulip ---
    zulip_url: str = url(
        "NOTIFY_ZULIP_URL", "", "the Zulip realm, e.g. https://chat.example.org; empty: no Zulip channel",
        schemes=HTTP,
    )  # fmt: skip
    zulip_bot_email: str = text("NOTIFY_ZULIP_BOT_EMAIL", "", "the sending bot's email (HTTP Basic user)")
    zulip_api_key: str = text("NOTIFY_ZULIP_API_KEY", "", "the sending bot's API key", secret=True)

    # --- Slack incoming webhooks ---
    slack_webhook_url: str = url(
        "NOTIFY_SLACK_WEBHOOK_URL",
        "",
        "the incoming webhook messages go to by default; empty (and no NOTIFY_SLACK_WEBHOOKS): no Slack",
        schemes=HTTP,
        secret=True,
    )
    slack_webhooks: Mapping[str, str] = custom(
        "NOTIFY_SLACK_WEBHOOKS",
        {},
        "further incoming webhooks by name, `name=url,...`; a message names one as its address",
        _webhooks,
        default_text="",
        secret=True,
        bounds="name=https://host/path, comma separated",
    )

    # --- email over SMTP ---
    smtp_host: str = text("NOTIFY_SMTP_HOST", "", "the SMTP relay; empty: no email channel")
    smtp_port: int = integer("NOTIFY_SMTP_PORT", 587, "the SMTP relay's port", min=1, max=65535)
    smtp_starttls: bool = flag("NOTIFY_SMTP_STARTTLS", True, "upgrade the connection with STARTTLS")
    smtp_ca_file: str = text(
        "NOTIFY_SMTP_CA_FILE", "", "PEM file of the CA the relay's certificate is checked against; "
        "empty: the system's",
    )  # fmt: skip
    smtp_username: str = text("NOTIFY_SMTP_USERNAME", "", "SMTP AUTH user; empty: no AUTH")
    smtp_password: str = text("NOTIFY_SMTP_PASSWORD", "", "SMTP AUTH password", secret=True)
    smtp_from: str = text(
        "NOTIFY_SMTP_FROM", "LearnFlow <notify@learnflow.local>", "the From of every email (and the "
        "domain of its Message-ID)",
    )  # fmt: skip
    smtp_timeout_seconds: float = number(
        "NOTIFY_SMTP_TIMEOUT_SECONDS", 15.0, "time one SMTP exchange may take", min=0.1, max=300.0
    )

    # --- PagerDuty Events API v2 ---
    pagerduty_events_url: str = url(
        "NOTIFY_PAGERDUTY_EVENTS_URL",
        "https://events.pagerduty.com",
        "PagerDuty's Events API v2 (events go to /v2/enqueue under it)",
        schemes=HTTP,
    )
    pagerduty_routing_key: str = text(
        "NOTIFY_PAGERDUTY_ROUTING_KEY", "", "the service integration's routing key; empty: no PagerDuty",
        secret=True,
    )  # fmt: skip

    def __post_init__(self) -> None:
        if self.moodle_url and not self.moodle_token:
            raise ValueError("NOTIFY_MOODLE_URL is set but NOTIFY_MOODLE_TOKEN is empty")
        if self.zulip_url and not (self.zulip_bot_email and self.zulip_api_key):
            raise ValueError("NOTIFY_ZULIP_URL needs NOTIFY_ZULIP_BOT_EMAIL and NOTIFY_ZULIP_API_KEY")
        if self.smtp_password and not self.smtp_username:
            raise ValueError("NOTIFY_SMTP_PASSWORD is set but NOTIFY_SMTP_USERNAME is empty")

    @property
    def configured(self) -> tuple[str, ...]:
        """The providers this deployment uses (registry.build_channels builds exactly these)."""
        found = []
        if self.moodle_url:
            found.append("moodle")
        if self.zulip_url:
            found.append("zulip")
        if self.slack_webhooks:
            found.append("slack")
        if self.smtp_host:
            found.append("email")
        if self.pagerduty_routing_key:
            found.append("pagerduty")
        return tuple(found)


# What app.py adds to the ContextSpec: the credentials come from one Kubernetes Secret, and the hosts
# reached outside the cluster (Moodle, Zulip and SMTP are the deployment's own; set their hosts in the
# manifests' egress annotation when they are outside the cluster).
CHANNEL_SECRET = "learnflow-notify-channels"
CHANNEL_SECRETS: tuple[SecretEnv, ...] = tuple(
    SecretEnv(env, CHANNEL_SECRET)
    for env in (
        "NOTIFY_MOODLE_TOKEN",
        "NOTIFY_ZULIP_API_KEY",
        "NOTIFY_SLACK_WEBHOOK_URL",
        "NOTIFY_SLACK_WEBHOOKS",
        "NOTIFY_SMTP_PASSWORD",
        "NOTIFY_PAGERDUTY_ROUTING_KEY",
    )
)
CHANNEL_EGRESS: tuple[Egress, ...] = (
    Egress(setting="NOTIFY_PAGERDUTY_EVENTS_URL", why="PagerDuty Events API v2"),
    Egress(host="hooks.slack.com", port=443, why="Slack incoming webhooks"),
)
