"""Zulip: direct messages as a bot (HTTP Basic), users by email, 429 RATE_LIMIT_HIT with
Retry-After, 400 terminal, read receipts."""

from __future__ import annotations

import asyncio
import time

import pytest
from conftest import STUDENT, calls, channel_of, outgoing

from services.runtime.outbound import OutcomeUnknown, RetryableResponse, TerminalResponse


def test_sends_a_direct_message_to_the_user_found_by_email(fakes, inbox):
    async def main():
        zulip = channel_of(fakes, "zulip")
        user_id = await zulip.resolve(STUDENT)
        sent = await zulip.send(outgoing(user_id, "Your **quiz** is due", subject="Reminder"))
        missing = await zulip.resolve("nobody@demo.test")
        await zulip.aclose()
        return user_id, sent, missing

    user_id, sent, missing = asyncio.run(main())
    [got] = inbox.messages("zulip")
    assert got["to"] == user_id and got["id"] == sent.provider_message_id
    assert got["text"] == "**Reminder**\n\nYour **quiz** is due"
    assert missing is None


def test_a_rate_limit_hit_is_retryable_after_what_zulip_asked(fakes, inbox):
    inbox.fault("zulip", count=1, status=429, retry_after=30)

    async def main():
        zulip = channel_of(fakes, "zulip")
        with pytest.raises(RetryableResponse) as caught:
            await zulip.send(outgoing("10"))
        await zulip.aclose()
        return caught.value

    err = asyncio.run(main())
    assert err.status == 429 and err.retry_after == 30
    assert inbox.messages("zulip") == []


def test_a_short_retry_after_is_waited_in_line_then_sent(fakes, inbox):
    inbox.fault("zulip", count=1, status=429, retry_after=0.3)

    async def main():
        zulip = channel_of(fakes, "zulip", NOTIFY_CHANNEL_INLINE_ATTEMPTS="2")
        began = time.monotonic()
        sent = await zulip.send(outgoing("10"))
        await zulip.aclose()
        return sent, time.monotonic() - began

    sent, took = asyncio.run(main())
    assert took >= 0.3
    assert [m["id"] for m in inbox.messages("zulip")] == [sent.provider_message_id]


def test_a_5xx_then_success(fakes, inbox):
    inbox.fault("zulip", count=1, status=500)

    async def main():
        zulip = channel_of(fakes, "zulip")
        with pytest.raises(RetryableResponse):
            await zulip.send(outgoing("10"))
        sent = await zulip.send(outgoing("10"))
        await zulip.aclose()
        return sent

    sent = asyncio.run(main())
    assert [m["id"] for m in inbox.messages("zulip")] == [sent.provider_message_id]
    assert calls(inbox, "zulip")["send_message"] == 2


@pytest.mark.parametrize("after_serving", ["drop", "delay"])
def test_a_message_sent_whose_answer_is_lost_is_an_unknown_outcome_sent_once(fakes, inbox, after_serving):
    inbox.fault("zulip", count=1, after_serving=after_serving, delay_seconds=2, operations=["send_message"])

    async def main():
        zulip = channel_of(
            fakes, "zulip", NOTIFY_CHANNEL_INLINE_ATTEMPTS="3", NOTIFY_CHANNEL_TIMEOUT_SECONDS="0.5"
        )
        with pytest.raises(OutcomeUnknown):
            await zulip.send(outgoing("10"))
        await zulip.aclose()

    asyncio.run(main())
    assert len(inbox.messages("zulip")) == 1 and calls(inbox, "zulip")["send_message"] == 1


def test_a_bad_request_is_terminal_with_zulips_reason(fakes, inbox):
    async def main():
        zulip = channel_of(fakes, "zulip")
        with pytest.raises(TerminalResponse) as caught:
            await zulip.send(outgoing("4242"))
        await zulip.aclose()
        return caught.value

    err = asyncio.run(main())
    assert err.status == 400 and "Invalid user ID 4242" in str(err)


def test_content_over_10000_bytes_is_refused_before_sending(fakes, inbox):
    async def main():
        zulip = channel_of(fakes, "zulip")
        with pytest.raises(TerminalResponse) as caught:
            await zulip.send(outgoing("10", "é" * 5001))  # 5,001 characters, 10,002 bytes
        await zulip.aclose()
        return caught.value

    err = asyncio.run(main())
    assert "10002 bytes" in str(err)
    assert calls(inbox, "zulip") == {}


def test_a_wrong_api_key_is_terminal(fakes, inbox):
    async def main():
        zulip = channel_of(fakes, "zulip", NOTIFY_ZULIP_API_KEY="wrong")
        with pytest.raises(TerminalResponse) as caught:
            await zulip.send(outgoing("10"))
        await zulip.aclose()
        return caught.value

    err = asyncio.run(main())
    assert err.status == 401 and "INVALID_API_KEY" in str(err)


def test_read_receipts(fakes, inbox):
    async def main():
        zulip = channel_of(fakes, "zulip")
        message = outgoing("10")
        sent = await zulip.send(message)
        before = await zulip.read_status(message, sent)
        inbox.mark_read("zulip", sent.provider_message_id)
        after = await zulip.read_status(message, sent)
        await zulip.aclose()
        return before, after

    before, after = asyncio.run(main())
    assert before.read_at is None and after.read_at is not None
