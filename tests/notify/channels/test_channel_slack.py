"""Slack incoming webhooks: {text, blocks}; 400/403/404/410 terminal with the reason; 429 with
Retry-After; 500 retryable; webhooks by name; the URL (a credential) never in an error."""

from __future__ import annotations

import asyncio
import logging

import pytest
from conftest import channel_of, outgoing, settings_for

from services.runtime.outbound import OutcomeUnknown, RetryableResponse, TerminalResponse
from services.runtime.settings import SettingsError


def test_posts_text_and_blocks_to_the_default_webhook(fakes, inbox):
    async def main():
        slack = channel_of(fakes, "slack")
        target = await slack.resolve("anyone@demo.test")
        sent = await slack.send(
            outgoing(
                target, "*3* deliveries failed", subject="Deliveries failing", extra={"link": "http://x/1"}
            )
        )
        await slack.aclose()
        return target, sent

    target, sent = asyncio.run(main())
    assert target == "default" and sent.provider_message_id is None
    [got] = inbox.messages("slack")
    assert got["to"].endswith("local-webhook")
    assert got["subject"] == "Deliveries failing"
    assert got["text"] == "Deliveries failing\n*3* deliveries failed"
    kinds = [b["type"] for b in got["meta"]["blocks"]]
    assert kinds == ["header", "section", "context"]
    assert "<http://x/1|Open>" in got["meta"]["blocks"][2]["elements"][0]["text"]


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (400, "invalid_payload"),
        (403, "action_prohibited"),
        (404, "channel_not_found"),
        (410, "channel_is_archived"),
    ],
)
def test_refusals_are_terminal_with_slacks_reason(fakes, inbox, status, reason):
    inbox.fault("slack", count=1, status=status)

    async def main():
        slack = channel_of(fakes, "slack", NOTIFY_CHANNEL_INLINE_ATTEMPTS="3")
        with pytest.raises(TerminalResponse) as caught:
            await slack.send(outgoing("default"))
        await slack.aclose()
        return caught.value

    err = asyncio.run(main())
    assert err.status == status and reason in str(err)
    assert "local-webhook" not in str(err) and "T0LOCAL" not in str(err)  # the URL is a secret
    assert inbox.state()["providers"]["slack"]["calls"]["webhook"] == 1  # terminal: not retried


def test_a_429_carries_retry_after_and_a_500_is_retryable(fakes, inbox):
    inbox.fault("slack", count=1, status=429, retry_after=45)

    async def main():
        slack = channel_of(fakes, "slack")
        with pytest.raises(RetryableResponse) as throttled:
            await slack.send(outgoing("default"))
        inbox.fault("slack", count=1, status=500)
        with pytest.raises(RetryableResponse) as failed:
            await slack.send(outgoing("default"))
        sent = await slack.send(outgoing("default", "after the outage"))
        await slack.aclose()
        return throttled.value, failed.value, sent

    throttled, failed, _ = asyncio.run(main())
    assert throttled.retry_after == 45 and throttled.status == 429
    assert failed.status == 500
    assert [m["text"] for m in inbox.messages("slack")] == ["after the outage"]


def test_named_webhooks_and_an_unknown_name(fakes, inbox):
    extra = f"alerts={fakes.http_url}/slack/services/T1/B1/alerts"

    async def main():
        slack = channel_of(fakes, "slack", NOTIFY_SLACK_WEBHOOKS=extra)
        await slack.send(outgoing("alerts", "to alerts"))
        await slack.send(outgoing("default", "to default"))
        with pytest.raises(TerminalResponse) as caught:
            await slack.send(outgoing("nope"))
        await slack.aclose()
        return caught.value

    err = asyncio.run(main())
    assert "no Slack webhook named 'nope'" in str(err)
    assert [(m["to"].rsplit("/", 1)[1], m["text"]) for m in inbox.messages("slack")] == [
        ("alerts", "to alerts"),
        ("local-webhook", "to default"),
    ]


def test_a_malformed_webhook_list_is_refused_without_echoing_it(fakes):
    with pytest.raises(SettingsError) as caught:
        settings_for(fakes, NOTIFY_SLACK_WEBHOOKS="ops=not-a-url-secret123,default=https://h/x")
    text = str(caught.value)
    assert "NOTIFY_SLACK_WEBHOOKS" in text and "secret123" not in text
    assert "'default' is NOTIFY_SLACK_WEBHOOK_URL" in text


def test_the_webhook_url_is_never_logged(fakes, inbox, caplog):
    caplog.set_level(logging.DEBUG)
    inbox.fault("slack", count=1, status=503, retry_after=0.01)  # not taken: retried in-line

    async def main():
        slack = channel_of(fakes, "slack", NOTIFY_CHANNEL_INLINE_ATTEMPTS="2")  # a retry is logged too
        await slack.send(outgoing("default"))
        await slack.aclose()

    asyncio.run(main())
    assert len(inbox.messages("slack")) == 1
    assert "outbound call will be retried" in caplog.text  # the runtime logged, naming the webhook only
    assert "local-webhook" not in caplog.text and "B0LOCAL" not in caplog.text


@pytest.mark.parametrize("after_serving", ["drop", "delay"])
def test_a_message_posted_whose_answer_is_lost_is_an_unknown_outcome_posted_once(fakes, inbox, after_serving):
    """Slack keeps no idempotency key: a webhook call whose answer is lost may have posted, so it is
    not posted again in-line."""
    inbox.fault("slack", count=1, after_serving=after_serving, delay_seconds=2)

    async def main():
        slack = channel_of(
            fakes, "slack", NOTIFY_CHANNEL_INLINE_ATTEMPTS="3", NOTIFY_CHANNEL_TIMEOUT_SECONDS="0.5"
        )
        with pytest.raises(OutcomeUnknown) as caught:
            await slack.send(outgoing("default"))
        await slack.aclose()
        return caught.value

    err = asyncio.run(main())
    assert err.status is None and "local-webhook" not in str(err)
    assert len(inbox.messages("slack")) == 1 and inbox.state()["providers"]["slack"]["calls"]["webhook"] == 1
