"""The channels against the local wire-format servers (services/notify/fakes), run in a thread of
this test process: the real channel code (encoding, auth, classification) talks HTTP and SMTP to a
real server; nothing is mocked."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from services.notify.channels.base import Channel, Outgoing
from services.notify.channels.registry import build_channels
from services.notify.channels.settings import ChannelSettings
from services.notify.fakes import FakeProviders, FakesConfig
from services.notify.fakes.client import FakesClient
from services.runtime.settings import read

STUDENT = "student@demo.test"
TEACHER = "teacher@demo.test"


@pytest.fixture(scope="module")
def fakes() -> Iterator[FakeProviders]:
    with FakeProviders.running(FakesConfig(users=(STUDENT, TEACHER))) as running:
        yield running


@pytest.fixture
def inbox(fakes: FakeProviders) -> FakesClient:
    """The fakes' JSON API, emptied (messages, faults, counters) for this test."""
    client = FakesClient(fakes.http_url)
    client.reset()
    return client


def settings_for(fakes: FakeProviders, **env: str) -> ChannelSettings:
    """The settings that point at the fakes; one call per send unless a test asks for more, so each
    injected failure reaches the test as the engine would see it."""
    return read(ChannelSettings, {**fakes.channel_env(), "NOTIFY_CHANNEL_INLINE_ATTEMPTS": "1", **env})


def channel_of(fakes: FakeProviders, name: str, **env: str) -> Channel:
    return build_channels(settings_for(fakes, **env))[name]


def outgoing(address: str, body: str = "Hello", subject: str = "", **kw: Any) -> Outgoing:
    return Outgoing(
        delivery_id=kw.pop("delivery_id", uuid.uuid4()),
        tenant_id=uuid.uuid4(),
        address=address,
        subject=subject,
        body=body,
        **kw,
    )


def calls(inbox: FakesClient, provider: str) -> dict[str, int]:
    return dict(inbox.state()["providers"][provider]["calls"])
