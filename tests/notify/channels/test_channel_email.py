"""Email over SMTP against aiosmtpd: plain, STARTTLS (verified against the server's own CA) with AUTH,
4xx retryable and 5xx terminal, the Message-ID derived from the delivery id, a relay that is down
(retryable, then its breaker opens)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import STUDENT, outgoing

from services.notify.channels.email import EmailChannel
from services.notify.channels.registry import build_channels
from services.notify.channels.settings import ChannelSettings
from services.notify.fakes import FakeProviders, FakesConfig
from services.notify.fakes.client import FakesClient
from services.runtime.breaker import CircuitBreaker
from services.runtime.local.procs import free_port
from services.runtime.outbound import CircuitOpen, RetryableResponse, TerminalResponse
from services.runtime.settings import read


@pytest.fixture(scope="module")
def secure():
    """SMTP with STARTTLS required and AUTH required (user mailer / password s3cret)."""
    folder = Path(tempfile.mkdtemp(prefix="notify-smtp-tls-"))
    config = FakesConfig(
        smtp_tls_dir=folder, smtp_require_starttls=True, smtp_username="mailer", smtp_password="s3cret"
    )
    with FakeProviders.running(config) as running:
        yield running
    shutil.rmtree(folder, ignore_errors=True)


def email_channel(fakes: FakeProviders, **env: str) -> EmailChannel:
    channel = build_channels(read(ChannelSettings, {**fakes.channel_env(), **env}))["email"]
    assert isinstance(channel, EmailChannel)
    return channel


def test_plain_smtp_delivers_html_with_a_text_part_and_a_message_id_from_the_delivery(fakes, inbox):
    message = outgoing(
        STUDENT, "<p>Hi <b>Ana</b></p><p>See <a href='http://x/1'>this</a></p>", subject="Hello"
    )
    channel = email_channel(fakes)
    assert asyncio.run(channel.resolve(f" {STUDENT} ")) == STUDENT
    sent = asyncio.run(channel.send(message))
    [got] = inbox.messages("email")
    assert got["to"] == STUDENT and got["subject"] == "Hello"
    assert got["meta"]["message_id"] == sent.provider_message_id == f"<{message.delivery_id}@learnflow.local>"
    assert got["meta"]["html"].strip() == message.body
    assert got["text"].split() == ["Hi", "Ana", "See", "this", "<http://x/1>"]
    assert got["meta"]["tls"] is False and got["meta"]["authenticated"] is False


def test_a_resend_carries_the_same_message_id(fakes, inbox):
    channel = email_channel(fakes)
    message = outgoing(STUDENT)
    asyncio.run(channel.send(message))
    asyncio.run(channel.send(message))
    first, second = inbox.messages("email")
    assert second["duplicate_of"] == first["id"]


def test_starttls_and_auth(secure):
    inbox = FakesClient(secure.http_url)
    inbox.reset()
    channel = email_channel(secure)
    assert channel.starttls and channel.ca_file
    asyncio.run(channel.send(outgoing(STUDENT, subject="secure")))
    [got] = inbox.messages("email")
    assert got["meta"]["tls"] is True and got["meta"]["authenticated"] is True


def test_a_wrong_password_is_terminal(secure):
    channel = email_channel(secure, NOTIFY_SMTP_PASSWORD="wrong")
    with pytest.raises(TerminalResponse) as caught:
        asyncio.run(channel.send(outgoing(STUDENT)))
    assert caught.value.status == 535


def test_without_starttls_a_server_that_requires_it_refuses_terminally(secure):
    channel = email_channel(
        secure, NOTIFY_SMTP_STARTTLS="false", NOTIFY_SMTP_USERNAME="", NOTIFY_SMTP_PASSWORD=""
    )
    with pytest.raises(TerminalResponse) as caught:
        asyncio.run(channel.send(outgoing(STUDENT)))
    assert caught.value.status == 530


def test_a_certificate_we_do_not_trust_is_not_accepted(secure):
    channel = email_channel(secure, NOTIFY_SMTP_CA_FILE="")  # the system's CAs: not the fake's
    with pytest.raises(RetryableResponse) as caught:
        asyncio.run(channel.send(outgoing(STUDENT)))
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)


@pytest.mark.parametrize(
    ("code", "kind"), [(451, RetryableResponse), (452, RetryableResponse), (550, TerminalResponse)]
)
def test_4xx_is_retryable_and_5xx_terminal(fakes, inbox, code, kind):
    inbox.fault("email", count=1, status=code)
    channel = email_channel(fakes)
    with pytest.raises(kind) as caught:
        asyncio.run(channel.send(outgoing(STUDENT)))
    assert caught.value.status == code
    asyncio.run(channel.send(outgoing(STUDENT, subject="after")))  # the fault is spent
    assert [m["subject"] for m in inbox.messages("email")] == ["after"]


def test_a_relay_that_is_down_is_retryable_then_its_breaker_opens():
    channel = EmailChannel(
        "127.0.0.1", free_port(), sender="n@x.test", starttls=False, breaker=CircuitBreaker(2, 60.0)
    )
    for _ in range(2):
        with pytest.raises(RetryableResponse) as caught:
            asyncio.run(channel.send(outgoing(STUDENT)))
        assert not isinstance(caught.value, CircuitOpen)
    with pytest.raises(CircuitOpen) as opened:
        asyncio.run(channel.send(outgoing(STUDENT)))
    assert 0 < (opened.value.retry_after or 0) <= 60


def test_not_an_address_is_terminal_before_connecting():
    channel = EmailChannel("127.0.0.1", free_port(), sender="n@x.test", starttls=False)
    with pytest.raises(TerminalResponse):
        asyncio.run(channel.send(outgoing("not an address")))
    assert channel.breaker.consecutive_failures == 0


def test_an_unknown_mailbox_is_refused_at_rcpt_and_terminal(fakes, inbox):
    channel = email_channel(fakes)
    with pytest.raises(TerminalResponse) as caught:
        asyncio.run(channel.send(outgoing("nobody@school.invalid")))
    assert caught.value.status == 550 and "User unknown" in str(caught.value)
    assert inbox.messages("email") == []
