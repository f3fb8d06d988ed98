"""PagerDuty Events API v2 (REFERENCE.md §4): `POST /v2/enqueue`.

`Outgoing.extra` chooses the event: `event_action` (trigger, the default; acknowledge; resolve),
`dedup_key` (default: the delivery id, so a retried trigger is the same incident on PagerDuty's side),
`severity` (critical, error, warning, info; default from the urgency), `source`, `component`, `group`,
`class`, `link` / `link_text`. The subject (else the body's start) is the summary (≤ 1,024 characters);
the body goes in `custom_details`. 202 is success; 400 an invalid event (terminal); 429 and 5xx are
retried.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.notify.channels.base import BodyFormat, Outgoing, ReadStatus, Sent
from services.runtime.outbound import OutboundClient, RetryableResponse, TerminalResponse

SUMMARY_MAX = 1024
DEDUP_MAX = 255
ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
SEVERITY_OF_URGENCY = {"critical": "critical", "high": "error", "normal": "warning", "low": "info"}
TARGET = "pagerduty"


class PagerDutyChannel:
    name = "pagerduty"
    body_format: BodyFormat = "text"
    max_length = 64_000  # custom_details; the whole event may be 512 KB
    supports_read_receipts = False
    # PagerDuty folds an event with an open incident's dedup_key (the delivery id unless the sender
    # gave one) into that incident: sending it again after an unknown outcome is harmless.
    resend_safe = True

    def __init__(self, events_url: str, routing_key: str, *, http: OutboundClient):
        self.url = events_url.rstrip("/") + "/v2/enqueue"
        self._routing_key = routing_key
        self._http = http
        self.destination = "pagerduty"

    def event(self, message: Outgoing) -> dict[str, Any]:
        """The Events API v2 body for this message (raises TerminalResponse on bad extras)."""
        extra = message.extra
        action = extra.get("event_action", "trigger")
        if action not in ACTIONS:
            raise self._refused(f"event_action must be one of {', '.join(ACTIONS)}, not {action!r}")
        dedup_key = extra.get("dedup_key") or str(message.delivery_id)
        if len(dedup_key) > DEDUP_MAX:
            raise self._refused(f"dedup_key is {len(dedup_key)} characters; at most {DEDUP_MAX}")
        event: dict[str, Any] = {
            "routing_key": self._routing_key,
            "event_action": action,
            "dedup_key": dedup_key,
        }
        if action != "trigger":
            return event  # acknowledge and resolve name the incident only
        severity = extra.get("severity") or SEVERITY_OF_URGENCY[message.urgency]
        if severity not in SEVERITIES:
            raise self._refused(f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
        summary = (message.subject or message.body).strip() or "LearnFlow alert"
        if len(summary) > SUMMARY_MAX:
            summary = summary[: SUMMARY_MAX - 1] + "…"
        payload: dict[str, Any] = {
            "summary": summary,
            "source": extra.get("source", "learnflow"),
            "severity": severity,
            "timestamp": datetime.now(UTC).isoformat(),
            "custom_details": {"body": message.body, "tenant_id": str(message.tenant_id)},
        }
        for key in ("component", "group", "class"):
            if extra.get(key):
                payload[key] = extra[key]
        event["payload"] = payload
        if extra.get("link"):
            event["links"] = [{"href": extra["link"], "text": extra.get("link_text", "Details")}]
        return event

    async def send(self, message: Outgoing) -> Sent:
        event = self.event(message)
        try:
            # Idempotent: a repeat of the dedup_key joins the same incident (`resend_safe`), so a lost
            # answer is retried in-line like a GET.
            response = await self._http.request(
                "POST", self.url, destination=self.destination, idempotent=True, json=event
            )
        except TerminalResponse as exc:
            raise TerminalResponse(
                f"pagerduty refused the event: HTTP {exc.status}: {exc.body[:200]}",
                destination=self.destination,
                status=exc.status,
                body=exc.body,
            ) from exc
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code != 202 or answer.get("status") != "success":
            raise RetryableResponse(
                f"pagerduty answered HTTP {response.status_code} {str(answer)[:200]}, not 202 success",
                destination=self.destination,
                status=response.status_code,
                retry_after=None,
            )
        return Sent(provider_message_id=str(answer.get("dedup_key") or event["dedup_key"]))

    async def resolve(self, email: str) -> str | None:
        """Events go to the service's routing key, not a person."""
        return TARGET

    async def read_status(self, message: Outgoing, sent: Sent) -> ReadStatus:
        return ReadStatus(read_at=None)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _refused(self, text: str) -> TerminalResponse:
        return TerminalResponse(f"pagerduty: {text}", destination=self.destination, status=400, body="")
