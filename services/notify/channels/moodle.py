"""Moodle: instant messages through its REST web services (REFERENCE.md §4).

Moodle answers failures in two shapes, and both may come with HTTP 200, so every body is inspected:
- the whole call failed (bad token, messaging disabled, missing capability): an object
  `{exception, errorcode, message}`, with status 200 or 4xx depending on the version;
- one message failed: its entry in the answer array has `msgid: -1` and an `errormessage` (a
  translated sentence: Moodle gives no code, so the sentence is matched).
An unknown or deleted user, a bad token or a missing capability can never succeed as sent: terminal.
Anything else (a database hiccup on Moodle's side, an unexpected answer) is retryable.

`clientmsgid` carries the delivery id, so a message Moodle stored twice (a retry after a lost answer)
can be recognised on its side; Moodle itself does not deduplicate on it.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from services.notify.channels.base import BodyFormat, Outgoing, ReadStatus, Sent
from services.runtime.outbound import OutboundClient, OutcomeUnknown, RetryableResponse, TerminalResponse

REST_PATH = "/webservice/rest/server.php"
TEXTFORMAT_HTML = "1"
# Whole-call error codes that no retry can fix: credentials, permissions, a site without messaging,
# parameters Moodle refuses.
TERMINAL_ERRORCODES = frozenset(
    {
        "invalidtoken",
        "accessexception",
        "nopermissions",
        "requireloginerror",
        "webservicesnotenabled",
        "servicenotavailable",
        "disabled",
        "messagingdisabled",
        "invalidparameter",
        "invalidrecord",
        "invaliduser",
        "usernotfound",
    }
)
# Per-message errormessage sentences meaning "this recipient cannot ever receive it" (lowercased parts
# of Moodle's English strings: touserdoesntexist, usercantbemessaged for deleted/suspended users...).
TERMINAL_MESSAGE_ERRORS = ("does not exist", "doesn't exist", "invalid user", "user not found", "deleted")
# Moodle's messages "read" filter: 2 = read and unread (core_message_get_messages, Moodle ≥ 3.x with
# MESSAGE_GET_READ_AND_UNREAD); we look for our message among the recipient's newest.
READ_AND_UNREAD = "2"
# Web-service functions that only read: safe to repeat when an answer is lost.
READ_FUNCTIONS = frozenset({"core_user_get_users_by_field", "core_message_get_messages"})
READ_SCAN_LIMIT = 100
CACHE_MAX = 10_000


class MoodleChannel:
    name = "moodle"
    body_format: BodyFormat = "html"
    # Moodle stores the text in a long text column; a message drawer shows a few paragraphs at most.
    max_length = 10_000
    supports_read_receipts = True

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        send_http: OutboundClient,
        query_http: OutboundClient | None = None,
        cache_seconds: float = 300.0,
        clock: Any = time.monotonic,
    ):
        self.url = base_url.rstrip("/") + REST_PATH
        self._token = token
        # Sends go through one client, look-ups and read polls through another, so a backlog of
        # polls never queues behind (or breaks the circuit of) sends.
        self._send_http = send_http
        self._query_http = query_http or send_http
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._users: dict[str, tuple[float, str | None]] = {}
        self.destination = "moodle"

    async def send(self, message: Outgoing) -> Sent:
        outcome = (await self.send_many([message]))[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def send_many(self, messages: Sequence[Outgoing]) -> list[Sent | Exception]:
        """Several messages in ONE core_message_send_instant_messages call (it takes an array): each
        message's outcome, in order, a refused one as its exception (not raised). A whole-call
        failure (bad token, an outage) is raised: it is every message's outcome."""
        params: dict[str, str] = {}
        for i, message in enumerate(messages):
            text = message.body
            if message.subject:
                text = f"<p><strong>{html.escape(message.subject)}</strong></p>{text}"
            params[f"messages[{i}][touserid]"] = message.address
            params[f"messages[{i}][text]"] = text
            params[f"messages[{i}][textformat]"] = TEXTFORMAT_HTML
            params[f"messages[{i}][clientmsgid]"] = str(message.delivery_id)
        answer = await self._call(self._send_http, "core_message_send_instant_messages", params)
        if (
            not isinstance(answer, list)
            or len(answer) != len(messages)
            or not all(isinstance(entry, dict) for entry in answer)
        ):
            raise self._retryable(f"unexpected answer to send: {str(answer)[:200]}")
        # Moodle answers in the order it was sent; the clientmsgid each entry echoes says so too.
        by_client_id = {str(entry.get("clientmsgid")): entry for entry in answer}
        if len(by_client_id) == len(messages) and all(str(m.delivery_id) in by_client_id for m in messages):
            answer = [by_client_id[str(m.delivery_id)] for m in messages]
        return [self._outcome(message, entry) for message, entry in zip(messages, answer, strict=True)]

    def _outcome(self, message: Outgoing, entry: dict[str, Any]) -> Sent | Exception:
        msgid = entry.get("msgid")
        if msgid is None or int(msgid) == -1:
            reason = str(entry.get("errormessage") or "message refused without a reason")
            if any(part in reason.lower() for part in TERMINAL_MESSAGE_ERRORS):
                return TerminalResponse(
                    f"moodle refused the message for user {message.address}: {reason}",
                    destination=self.destination,
                    status=200,
                    body=reason[:500],
                )
            return self._retryable(f"moodle did not store the message: {reason}")
        return Sent(provider_message_id=str(msgid))

    async def resolve(self, email: str) -> str | None:
        key = email.strip().lower()
        now = self._clock()
        cached = self._users.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        answer = await self._call(
            self._query_http,
            "core_user_get_users_by_field",
            {"field": "email", "values[0]": email.strip()},
        )
        if not isinstance(answer, list):
            raise self._retryable(f"unexpected answer to a user look-up: {str(answer)[:200]}")
        # A suspended account cannot read what it is sent: the engine's fallback channel can.
        ids = [str(u["id"]) for u in answer if isinstance(u, dict) and "id" in u and not u.get("suspended")]
        found = ids[0] if len(ids) == 1 else None  # two accounts on one email: not guessed
        if len(self._users) >= CACHE_MAX:
            self._users.pop(next(iter(self._users)))
        self._users[key] = (now + self._cache_seconds, found)
        return found

    async def read_status(self, message: Outgoing, sent: Sent) -> ReadStatus:
        if not sent.provider_message_id:
            return ReadStatus(read_at=None)
        answer = await self._call(
            self._query_http,
            "core_message_get_messages",
            {
                "useridto": message.address,
                "useridfrom": "0",  # any sender: the token's user is ours
                "type": "conversations",
                "read": READ_AND_UNREAD,
                "newestfirst": "1",
                "limitfrom": "0",
                "limitnum": str(READ_SCAN_LIMIT),
            },
        )
        messages = answer.get("messages") if isinstance(answer, dict) else None
        if not isinstance(messages, list):
            raise self._retryable(f"unexpected answer to a read poll: {str(answer)[:200]}")
        for item in messages:
            if isinstance(item, dict) and str(item.get("id")) == sent.provider_message_id:
                timeread = item.get("timeread")
                if timeread:
                    return ReadStatus(read_at=datetime.fromtimestamp(int(timeread), UTC))
                break
        return ReadStatus(read_at=None)

    async def aclose(self) -> None:
        await self._send_http.aclose()
        if self._query_http is not self._send_http:
            await self._query_http.aclose()

    async def _call(self, http: OutboundClient, function: str, params: dict[str, str]) -> Any:
        """One web-service call; a whole-call exception (any status) classified by its errorcode.
        Every call is a POST: the look-ups and read polls are reads (repeated in-line when an answer
        is lost), the send is not (a lost answer is OutcomeUnknown: Moodle keeps no idempotency key)."""
        data = {"wstoken": self._token, "wsfunction": function, "moodlewsrestformat": "json", **params}
        idempotent = function in READ_FUNCTIONS
        try:
            response = await http.request(
                "POST", self.url, destination=self.destination, idempotent=idempotent, data=data
            )
        except TerminalResponse as exc:
            # Moodle answers some whole-call failures with 4xx and the usual body: say why.
            found = _exception_of(exc.body)
            if found is not None:
                raise self._whole_call(function, found, exc.status) from exc
            raise
        try:
            answer = response.json()
        except ValueError:
            # An HTML page with 200 (a PHP fatal error, a debugging notice printed before the JSON):
            # a read is worth another go; a send may have stored its messages before the page was
            # printed, so it is an unknown outcome, never repeated as if nothing happened.
            text = f"{function}: the answer is not JSON"
            if not idempotent:
                raise OutcomeUnknown(
                    text, destination=self.destination, status=200, retry_after=None
                ) from None
            raise self._retryable(text) from None
        if isinstance(answer, dict) and "exception" in answer and "errorcode" in answer:
            raise self._whole_call(function, answer, response.status_code)
        return answer

    def _whole_call(
        self, function: str, answer: dict[str, Any], status: int
    ) -> TerminalResponse | RetryableResponse:
        code = str(answer.get("errorcode"))
        text = f"moodle {function} failed: {code}: {answer.get('message', '')}"
        if code in TERMINAL_ERRORCODES or "capability" in code or "permission" in code:
            return TerminalResponse(text, destination=self.destination, status=status, body=code)
        return self._retryable(text, status)

    def _retryable(self, text: str, status: int | None = 200) -> RetryableResponse:
        return RetryableResponse(text, destination=self.destination, status=status, retry_after=None)


def _exception_of(body: str) -> dict[str, Any] | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if isinstance(parsed, dict) and "errorcode" in parsed:
        return parsed
    return None
