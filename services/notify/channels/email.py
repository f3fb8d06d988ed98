"""Email over SMTP, with the standard library's smtplib run in a worker thread (one connection a
message: a relay that drops idle connections costs nothing, and nothing is shared between threads).

STARTTLS and AUTH are configurable (a local relay often has neither; a real one needs both). The
Message-ID is derived from the delivery id, so a message retried after a lost answer carries the same
Message-ID and the relay or the mailbox can recognise the duplicate.

SMTP replies are classified like HTTP statuses: 4xx (greylisting, mailbox busy, rate limited) and a
dropped or refused connection are retryable; 5xx (no such mailbox, rejected content, refused
credentials) terminal. A breaker, as the HTTP channels have, spares a dead relay the connection
timeout on every message.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from html.parser import HTMLParser

from services.notify.channels.base import BodyFormat, Outgoing, ReadStatus, Sent
from services.runtime.breaker import CircuitBreaker
from services.runtime.outbound import CircuitOpen, RetryableResponse, TerminalResponse


class EmailChannel:
    name = "email"
    body_format: BodyFormat = "html"
    max_length = 100_000
    supports_read_receipts = False

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        starttls: bool = True,
        ca_file: str = "",
        username: str = "",
        password: str = "",
        timeout_seconds: float = 15.0,
        breaker: CircuitBreaker | None = None,
    ):
        self.host, self.port = host, port
        self.sender = sender
        self.starttls = starttls
        self.ca_file = ca_file
        self._username, self._password = username, password
        self.timeout = timeout_seconds
        self.breaker = breaker or CircuitBreaker(5, 30.0)
        self.destination = f"smtp:{host}:{port}"
        _, sender_address = parseaddr(sender)
        self.domain = sender_address.rpartition("@")[2] or "learnflow.local"

    def compose(self, message: Outgoing) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = message.address
        msg["Subject"] = message.subject or "LearnFlow"
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        msg["Message-ID"] = f"<{message.delivery_id}@{self.domain}>"
        if message.urgency in ("high", "critical"):
            msg["Importance"] = "high"
        msg.set_content(_text_of(message.body))
        msg.add_alternative(message.body, subtype="html")
        return msg

    async def send(self, message: Outgoing) -> Sent:
        try:
            Address(addr_spec=message.address)
        except (ValueError, IndexError):
            raise TerminalResponse(
                f"not an email address: {message.address!r}",
                destination=self.destination,
                status=501,
                body="",
            ) from None
        if not self.breaker.allow():
            raise CircuitOpen(
                f"{self.destination} is failing; not called",
                destination=self.destination,
                status=None,
                retry_after=self.breaker.retry_after() or None,
            )
        msg = self.compose(message)
        try:
            await asyncio.to_thread(self._deliver, msg)
        except RetryableResponse:
            self.breaker.record_failure()
            raise
        except TerminalResponse:
            self.breaker.record_success()  # the relay answered; this message was the problem
            raise
        except BaseException:
            self.breaker.release()
            raise
        self.breaker.record_success()
        return Sent(provider_message_id=str(msg["Message-ID"]))

    async def resolve(self, email: str) -> str | None:
        """Email is addressed by email."""
        return email.strip() or None

    async def read_status(self, message: Outgoing, sent: Sent) -> ReadStatus:
        return ReadStatus(read_at=None)

    async def aclose(self) -> None:
        return None

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file or None)

    def _deliver(self, msg: EmailMessage) -> None:
        """One SMTP session (in a worker thread); every failure raised as Retryable/TerminalResponse."""
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=self._tls())
                    smtp.ehlo()
                if self._username:
                    smtp.login(self._username, self._password)
                refused = smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reason = next(iter(exc.recipients.values()))
            raise self._classified(code, reason, "recipient refused") from None
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused, auth refused...
            raise self._classified(exc.smtp_code, exc.smtp_error, type(exc).__name__) from None
        except smtplib.SMTPNotSupportedError as exc:
            # The relay offers no STARTTLS or AUTH though we are configured to use it: configuration.
            raise TerminalResponse(
                f"{self.destination}: {exc}", destination=self.destination, status=530, body=str(exc)
            ) from None
        except (smtplib.SMTPException, OSError) as exc:  # disconnected, refused, timed out, TLS
            raise RetryableResponse(
                f"{self.destination}: {type(exc).__name__}: {exc}",
                destination=self.destination,
                status=None,
                retry_after=None,
            ) from None
        if refused:  # only some recipients refused; we send to one, so this is that one
            code, reason = next(iter(refused.values()))
            raise self._classified(code, reason, "recipient refused")

    def _classified(self, code: int, reason: bytes | str, what: str) -> RetryableResponse | TerminalResponse:
        text = reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
        summary = f"{self.destination}: {what}: {code} {text}"
        if 500 <= code < 600:
            return TerminalResponse(summary, destination=self.destination, status=code, body=text[:500])
        return RetryableResponse(summary, destination=self.destination, status=code, retry_after=None)


class _Text(HTMLParser):
    """The plain-text part of an HTML email: the text, with breaks where blocks end."""

    BREAKS = frozenset({"p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        if tag == "a":
            self._href = dict(attrs).get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and getattr(self, "_href", None):
            self.parts.append(f" <{self._href}>")
            self._href = None
        if tag in self.BREAKS:
            self.parts.append("\n")


def _text_of(body: str) -> str:
    parser = _Text()
    parser.feed(body)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).splitlines()]
    return "\n".join(line for line in lines if line) + "\n"
