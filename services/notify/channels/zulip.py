"""Zulip: direct messages from a bot (REFERENCE.md §4).

`POST /api/v1/messages` with `type=direct` and `to` a JSON list of user ids, HTTP Basic as the bot
(email : API key). A 429 `RATE_LIMIT_HIT` carries `Retry-After` (header) and `retry-after` (body): the
outbound client honours the header and raises it as `RetryableResponse.retry_after`; when only the
body has it we raise it ourselves. A 400 (`BAD_REQUEST`: unknown user, empty content) is terminal.

Read receipts (`GET /api/v1/messages/{id}/read_receipts`) list who has read a message but not when:
`read_at` is the moment we first saw the recipient among them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from services.notify.channels.base import BodyFormat, Outgoing, ReadStatus, Sent
from services.runtime.outbound import OutboundClient, RetryableResponse, TerminalResponse

MAX_CONTENT_BYTES = 10_000


class ZulipChannel:
    name = "zulip"
    body_format: BodyFormat = "markdown"
    max_length = MAX_CONTENT_BYTES  # characters; the byte limit is checked on send as well
    supports_read_receipts = True

    def __init__(self, realm_url: str, bot_email: str, api_key: str, *, http: OutboundClient):
        self.api = realm_url.rstrip("/") + "/api/v1"
        self._auth = httpx.BasicAuth(bot_email, api_key)
        self._http = http
        self.destination = "zulip"

    async def send(self, message: Outgoing) -> Sent:
        content = f"**{message.subject}**\n\n{message.body}" if message.subject else message.body
        size = len(content.encode())
        if size > MAX_CONTENT_BYTES:
            raise TerminalResponse(
                f"zulip message is {size} bytes; Zulip takes at most {MAX_CONTENT_BYTES}",
                destination=self.destination,
                status=400,
                body="",
            )
        try:
            recipient = int(message.address)
        except ValueError:
            raise TerminalResponse(
                f"zulip recipient must be a user id, not {message.address!r}",
                destination=self.destination,
                status=400,
                body="",
            ) from None
        answer = await self._call(
            "POST",
            "/messages",
            data={"type": "direct", "to": json.dumps([recipient]), "content": content},
        )
        return Sent(provider_message_id=str(answer["id"]))

    async def resolve(self, email: str) -> str | None:
        try:
            answer = await self._call("GET", f"/users/{quote(email.strip(), safe='@')}")
        except TerminalResponse as exc:
            if exc.status in (400, 404):  # "No such user"
                return None
            raise
        user = answer.get("user") or {}
        if not user.get("is_active", True):
            return None
        return str(user["user_id"])

    async def read_status(self, message: Outgoing, sent: Sent) -> ReadStatus:
        if not sent.provider_message_id:
            return ReadStatus(read_at=None)
        answer = await self._call("GET", f"/messages/{int(sent.provider_message_id)}/read_receipts")
        readers = {str(u) for u in answer.get("user_ids", [])}
        return ReadStatus(read_at=datetime.now(UTC) if message.address in readers else None)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._http.request(
                method, self.api + path, destination=self.destination, auth=self._auth, **kwargs
            )
        except TerminalResponse as exc:
            raise TerminalResponse(
                f"zulip refused {method} {path.split('/')[1]}: HTTP {exc.status}: {_msg(exc.body)}",
                destination=self.destination,
                status=exc.status,
                body=exc.body,
            ) from exc
        try:
            answer = response.json()
        except ValueError:
            raise RetryableResponse(
                "zulip answered with something other than JSON",
                destination=self.destination,
                status=response.status_code,
                retry_after=None,
            ) from None
        if not isinstance(answer, dict) or answer.get("result") != "success":
            # A 2xx that is not a success: treat as Zulip's error body (a proxy may say 200).
            retry_after = answer.get("retry-after") if isinstance(answer, dict) else None
            if isinstance(answer, dict) and answer.get("code") == "RATE_LIMIT_HIT":
                raise RetryableResponse(
                    "zulip: RATE_LIMIT_HIT",
                    destination=self.destination,
                    status=429,
                    retry_after=float(retry_after) if retry_after is not None else None,
                )
            raise RetryableResponse(
                f"zulip: unexpected answer {str(answer)[:200]}",
                destination=self.destination,
                status=response.status_code,
                retry_after=None,
            )
        return answer


def _msg(body: str) -> str:
    """Zulip's error sentence from its JSON body (`msg`), else the start of the body."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body[:200]
    if isinstance(parsed, dict):
        return f"{parsed.get('code', '')}: {parsed.get('msg', '')}"
    return body[:200]
