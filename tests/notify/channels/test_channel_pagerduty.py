"""PagerDuty Events API v2: trigger / acknowledge / resolve on one dedup_key, 202 success, 400
invalid event terminal, 429 and 5xx retryable."""

from __future__ import annotations

import asyncio

import pytest
from conftest import channel_of, outgoing

from services.runtime.outbound import RetryableResponse, TerminalResponse


def test_trigger_acknowledge_resolve_one_incident(fakes, inbox):
    async def main():
        pd = channel_of(fakes, "pagerduty")
        target = await pd.resolve("ops@demo.test")
        extra = {"dedup_key": "sla-breach-demo", "component": "interventions", "link": "http://x/sla"}
        sent = [
            await pd.send(
                outgoing(target, "SLA at 84%", subject="SLA below 90%", urgency="critical", extra=extra)
            ),
            await pd.send(outgoing(target, "", extra={**extra, "event_action": "acknowledge"})),
            await pd.send(outgoing(target, "", extra={**extra, "event_action": "resolve"})),
        ]
        await pd.aclose()
        return sent

    sent = asyncio.run(main())
    assert {s.provider_message_id for s in sent} == {"sla-breach-demo"}
    got = inbox.messages("pagerduty")
    assert [m["meta"]["event_action"] for m in got] == ["trigger", "acknowledge", "resolve"]
    assert got[0]["subject"] == "SLA below 90%" and got[0]["meta"]["severity"] == "critical"
    assert got[0]["meta"]["links"] == [{"href": "http://x/sla", "text": "Details"}]
    assert inbox.state()["incidents"] == {"sla-breach-demo": "resolved"}


def test_the_dedup_key_defaults_to_the_delivery_id_and_the_summary_is_cut_to_1024(fakes, inbox):
    async def main():
        pd = channel_of(fakes, "pagerduty")
        message = outgoing("pagerduty", "x" * 5000, urgency="low")
        sent = await pd.send(message)
        again = await pd.send(message)  # a retry is the same incident, not a second page
        await pd.aclose()
        return message, sent, again

    message, sent, again = asyncio.run(main())
    assert sent.provider_message_id == again.provider_message_id == str(message.delivery_id)
    got = inbox.messages("pagerduty")
    assert len(got[0]["subject"]) == 1024 and got[0]["meta"]["severity"] == "info"
    assert len(inbox.state()["incidents"]) == 1


def test_an_invalid_event_is_terminal(fakes, inbox):
    async def main():
        pd = channel_of(fakes, "pagerduty", NOTIFY_PAGERDUTY_ROUTING_KEY="not-the-services-key")
        with pytest.raises(TerminalResponse) as refused:
            await pd.send(outgoing("pagerduty", "x"))
        with pytest.raises(TerminalResponse) as bad_extra:
            await pd.send(outgoing("pagerduty", "x", extra={"severity": "apocalyptic"}))
        await pd.aclose()
        return refused.value, bad_extra.value

    fakes.config.pagerduty_routing_key = "the-services-key"
    try:
        refused, bad_extra = asyncio.run(main())
    finally:
        fakes.config.pagerduty_routing_key = ""
    assert refused.status == 400 and "routing_key" in str(refused)
    assert "severity" in str(bad_extra)
    assert inbox.messages("pagerduty") == []
    assert inbox.state()["providers"]["pagerduty"]["calls"] == {"enqueue": 1}  # bad extras never sent


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_server_errors_are_retryable_then_succeed(fakes, inbox, status):
    inbox.fault("pagerduty", count=1, status=status, retry_after=60 if status == 429 else None)

    async def main():
        pd = channel_of(fakes, "pagerduty")
        with pytest.raises(RetryableResponse) as caught:
            await pd.send(outgoing("pagerduty", "x"))
        sent = await pd.send(outgoing("pagerduty", "x"))
        await pd.aclose()
        return caught.value, sent

    err, sent = asyncio.run(main())
    assert err.status == status and err.retry_after == (60 if status == 429 else None)
    assert [m["meta"]["dedup_key"] for m in inbox.messages("pagerduty")] == [sent.provider_message_id]
