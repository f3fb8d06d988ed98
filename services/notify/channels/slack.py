"""Slack incoming webhooks (REFERENCE.md §4).

POST JSON `{text, blocks}`; Slack answers 200 `ok`, or a reason in plain text: 400 `invalid_payload`,
403 `action_prohibited`, 404 `channel_not_found`, 410 `channel_is_archived` (terminal: the webhook or
the payload is wrong, a retry cannot help), 429 with `Retry-After`, 500 `rollup_error` (retryable).

A webhook URL is its own credential: it is never logged nor put in an error. Each webhook is its own
outbound destination (`slack:<name>`), so it has its own breaker; the delivery engine limits each
webhook to about one message a second across every replica (NOTIFY_SLACK_PER_MINUTE).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from services.notify.channels.base import BodyFormat, Outgoing, ReadStatus, Sent
from services.runtime.outbound import OutboundClient, RetryableResponse, TerminalResponse

# httpx logs every request's full URL at INFO ("HTTP Request: POST https://hooks.slack.com/services/...");
# a webhook's URL is its credential, so those lines are kept out of the logs (its warnings still show).
logging.getLogger("httpx").setLevel(logging.WARNING)

DEFAULT_TARGET = "default"
HEADER_MAX = 150  # a header block's plain_text
SECTION_MAX = 3000  # a section block's mrkdwn text


class SlackChannel:
    name = "slack"
    body_format: BodyFormat = "markdown"  # Slack's mrkdwn
    max_length = SECTION_MAX
    supports_read_receipts = False

    def __init__(self, webhooks: Mapping[str, str], *, http: OutboundClient):
        if not webhooks:
            raise ValueError("a Slack channel needs at least one webhook")
        self._webhooks = dict(webhooks)
        self._http = http

    async def send(self, message: Outgoing) -> Sent:
        target = message.address or DEFAULT_TARGET
        url = self._webhooks.get(target)
        destination = f"slack:{target}"
        if url is None:
            raise TerminalResponse(
                f"no Slack webhook named {target!r} (configured: {', '.join(sorted(self._webhooks))})",
                destination=destination,
                status=404,
                body="",
            )
        try:
            response = await self._http.request("POST", url, destination=destination, json=_payload(message))
        except TerminalResponse as exc:
            raise TerminalResponse(
                f"slack webhook {target!r} refused the message: HTTP {exc.status} {exc.body.strip()[:100]}",
                destination=destination,
                status=exc.status,
                body=exc.body,
            ) from exc
        if response.text.strip() != "ok":
            raise RetryableResponse(
                f"slack webhook {target!r} answered {response.text.strip()[:100]!r}, not 'ok'",
                destination=destination,
                status=response.status_code,
                retry_after=None,
            )
        return Sent(provider_message_id=None)

    async def resolve(self, email: str) -> str | None:
        """Webhooks post to a channel, not a person: every recipient is the default webhook."""
        return DEFAULT_TARGET if DEFAULT_TARGET in self._webhooks else next(iter(self._webhooks))

    async def read_status(self, message: Outgoing, sent: Sent) -> ReadStatus:
        return ReadStatus(read_at=None)

    async def aclose(self) -> None:
        await self._http.aclose()


def _payload(message: Outgoing) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = []
    if message.subject:
        header = message.subject
        if len(header) > HEADER_MAX:
            header = header[: HEADER_MAX - 1] + "…"
        blocks.append({"type": "header", "text": {"type": "plain_text", "text": header}})
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": message.body[:SECTION_MAX]}})
    link = message.extra.get("link")
    if link:
        label = message.extra.get("link_text", "Open")
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{link}|{label}>"}]})
    # `text` is the fallback notifications and screen readers use.
    text = f"{message.subject}\n{message.body}" if message.subject else message.body
    return {"text": text, "blocks": blocks}
