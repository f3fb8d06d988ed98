"""An agent's prepare that fails on the event's last delivery answers with an apology instead of
leaving the student with nothing; before that it fails (so the consumer retries), and malformed
requests are always refused (dead-lettered)."""

from __future__ import annotations

import asyncio

import pytest
from learnflow.tutoring.v1 import events_pb2

from services.runtime.errors import InvalidArgument, Unavailable
from services.runtime.events.envelope import Event
from services.tutoring import prompts
from services.tutoring.agents import GAVE_UP, Agents, Prepared


def _event(last: bool) -> Event:
    return Event(
        id="e1",
        type="learnflow.tutoring.v1.TutoringRequest",
        subject="debug.requests",
        source="tutoring",
        time="",
        tenant_id="t",
        correlation_id="c",
        message=events_pb2.TutoringRequest(),
        deliveries=5 if last else 1,
        last_delivery=last,
    )


def _agents() -> Agents:
    return Agents(db=None, service=None, llm=None, calls=None)  # type: ignore[arg-type]


async def _down(event: Event) -> Prepared:
    raise Unavailable("the sandbox is down")


async def _malformed(event: Event) -> Prepared:
    raise InvalidArgument("no message id")


def test_the_last_delivery_gets_an_apology():
    prepared = asyncio.run(_agents().last_chance(_down)(_event(last=True)))
    assert prepared.detail is GAVE_UP and prepared.phrased.text == prompts.GAVE_UP


def test_earlier_deliveries_fail_so_the_consumer_retries():
    with pytest.raises(Unavailable):
        asyncio.run(_agents().last_chance(_down)(_event(last=False)))


def test_malformed_requests_are_refused_even_on_the_last_delivery():
    with pytest.raises(InvalidArgument):
        asyncio.run(_agents().last_chance(_malformed)(_event(last=True)))
