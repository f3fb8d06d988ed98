"""The contract between notify's delivery engine and a channel.

The engine (services/notify/service.py and its job handlers) owns everything generic: templates,
the delivery log, retries with backoff, shared rate limits, quiet hours and escalation. A channel
owns only its provider's wire format: how to send one rendered message, how to find a user's
address by email, and how to ask whether a sent message was read.

Errors are the runtime's outbound domain errors (services/runtime/outbound.py), so the engine
classifies them without knowing HTTP or SMTP:
- `RetryableResponse` (and its `CircuitOpen`, `RateLimited`): transient, retry later, at least
  after `retry_after` when the provider gave one;
- `OutcomeUnknown` (a RetryableResponse): the message may have reached the provider (its answer
  lost, timed out, a 500/502/504): the engine fails it as UNKNOWN_OUTCOME unless a repeat is safe
  (`resend_safe`) or the message critical; the outbound client never repeats such a send in-line;
- `TerminalResponse`: this message can never be delivered as it is (unknown user, bad webhook,
  invalid payload): fail at once with the reason.
A channel that talks something other than HTTP (SMTP) raises the same two kinds.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

BodyFormat = Literal["html", "markdown", "text"]
Urgency = Literal["low", "normal", "high", "critical"]


@dataclass(frozen=True)
class Outgoing:
    """One rendered message for one address on one channel."""

    delivery_id: uuid.UUID  # stable across retries: the idempotency key for providers that take one
    tenant_id: uuid.UUID
    address: str  # the channel's own id for the recipient (Moodle user id, Zulip user id, email, ...)
    subject: str
    body: str  # already rendered and escaped for the channel's `body_format`, within `max_length`
    urgency: Urgency = "normal"
    # Provider-specific extras the engine passes through untouched, e.g. PagerDuty's
    # {"event_action": "trigger"|"acknowledge"|"resolve", "dedup_key": ..., "severity": ...}.
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Sent:
    """The provider accepted the message."""

    provider_message_id: str | None  # what read_status needs later; None when the provider has none


@dataclass(frozen=True)
class ReadStatus:
    read_at: datetime | None  # None: not read (yet)


class Channel(Protocol):
    """One provider. Instances are built once per process from the context's settings and shared by
    every delivery; they hold their own OutboundClient (or SMTP settings)."""

    name: str  # "moodle", "zulip", "slack", "email", "pagerduty", "in_app"
    body_format: BodyFormat
    max_length: int  # of the rendered body, in characters; longer is refused before sending
    supports_read_receipts: bool

    # Optional, read with getattr (default False): `resend_safe = True` says the provider drops a
    # repeat of the same idempotency key (`Outgoing.delivery_id`, or PagerDuty's dedup_key), so the
    # engine may send again when an attempt's outcome was lost (a worker or the database failed
    # between the provider call and its record). Without it such a delivery fails as UNKNOWN_OUTCOME
    # instead of risking a duplicate (service.py, "claims").

    async def send(self, message: Outgoing) -> Sent:
        """Deliver one message; raise RetryableResponse or TerminalResponse on failure."""
        ...

    # Optional, read with getattr: `async def send_many(messages) -> list[Sent | Exception]` for a
    # provider that takes several messages in one call (Moodle). Each message's outcome in order, a
    # refused one as its exception (returned, not raised); a failure of the whole call is raised and
    # becomes every message's outcome. The engine uses it for a batch's messages to that channel.

    async def resolve(self, email: str) -> str | None:
        """The channel's address for the user with this email, or None when they have no account
        there (the engine then uses the configured fallback channel and records that). Channels
        addressed by email return it unchanged; webhooks (Slack, PagerDuty) return a fixed target."""
        ...

    async def read_status(self, message: Outgoing, sent: Sent) -> ReadStatus:
        """Whether the recipient has read it (only called when supports_read_receipts)."""
        ...

    async def aclose(self) -> None: ...
