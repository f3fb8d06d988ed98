"""Shared rate limits of the channels on a real PostgreSQL (notify's own rate_limits table): two
replicas sending to one Slack webhook together stay under its per-second limit, and a 429's
Retry-After seen by one replica holds the other back; Moodle's per-minute limit refuses what is
over it (RateLimited, retryable) instead of sending."""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid

import pytest
from conftest import outgoing, settings_for

from services.notify.channels.registry import build_channels
from services.runtime import migrations
from services.runtime.contexts import load_contexts
from services.runtime.db import Database
from services.runtime.local.postgres import APP_ROLE, EmbeddedPostgres
from services.runtime.local.procs import free_port
from services.runtime.outbound import RateLimited, RetryableResponse
from services.runtime.ratelimit import SharedRateLimiter
from services.runtime.testing import mesh_dir


@pytest.fixture(scope="module")
def pg():
    root = mesh_dir("learnflow-notify-channels-pg-")
    server = EmbeddedPostgres(root / "postgres", free_port())
    try:
        server.start()
        migrations.run(server.superuser_url, APP_ROLE, load_contexts(("notify",)))
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _two_replicas(pg, fakes, **env):
    """Two processes' worth of Slack channels (each its own pool, limiter and client)."""
    dbs = [Database(pg.app_url, pool_size=4) for _ in range(2)]
    channels = [
        build_channels(settings_for(fakes, **env), limiter=SharedRateLimiter(db, "notify"))["slack"]
        for db in dbs
    ]
    return dbs, channels


def test_two_replicas_share_one_webhooks_limit(pg, fakes, inbox):
    hook = f"hook{uuid.uuid4().hex[:6]}"
    env = {
        "NOTIFY_SLACK_WEBHOOKS": f"{hook}={fakes.http_url}/slack/services/T/B/{hook}",
        "NOTIFY_SLACK_MESSAGES_PER_SECOND": "5",
    }

    async def main():
        dbs, (a, b) = _two_replicas(pg, fakes, **env)
        try:
            began = time.monotonic()
            await asyncio.gather(*(ch.send(outgoing(hook, f"m{i}")) for i in range(5) for ch in (a, b)))
            return time.monotonic() - began
        finally:
            for ch in (a, b):
                await ch.aclose()
            for db in dbs:
                await db.dispose()

    took = asyncio.run(main())
    got = [m for m in inbox.messages("slack") if m["to"].endswith(hook)]
    assert len(got) == 10
    # Burst 1 at 5/s: ten messages need at least 9 intervals of 0.2 s, whichever replica sent them.
    assert took >= 1.7
    times = sorted(m["received_at"] for m in got)
    assert times[-1] - times[0] >= 1.6


def test_a_retry_after_seen_by_one_replica_holds_the_other_back(pg, fakes, inbox):
    hook = f"hook{uuid.uuid4().hex[:6]}"
    env = {"NOTIFY_SLACK_WEBHOOKS": f"{hook}={fakes.http_url}/slack/services/T/B/{hook}"}
    inbox.fault("slack", count=1, status=429, retry_after=1.5)

    async def main():
        dbs, (a, b) = _two_replicas(pg, fakes, **env)
        try:
            with pytest.raises(RetryableResponse) as caught:
                await a.send(outgoing(hook, "throttled"))
            began = time.monotonic()
            await b.send(outgoing(hook, "after the wait"))
            return caught.value, time.monotonic() - began
        finally:
            for ch in (a, b):
                await ch.aclose()
            for db in dbs:
                await db.dispose()

    err, waited = asyncio.run(main())
    assert err.retry_after == 1.5
    assert waited >= 1.2  # b never called Slack during the Retry-After a was given
    assert inbox.state()["providers"]["slack"]["calls"]["webhook"] == 2


def test_moodle_over_its_per_minute_limit_is_not_sent(pg, fakes, inbox):
    async def main():
        db = Database(pg.app_url, pool_size=4)
        settings = settings_for(fakes, NOTIFY_MOODLE_MESSAGES_PER_MINUTE="2")
        moodle = build_channels(settings, limiter=SharedRateLimiter(db, "notify"))["moodle"]
        try:
            sent = [await moodle.send(outgoing("3")) for _ in range(2)]
            with pytest.raises(RateLimited) as caught:
                await moodle.send(outgoing("3"))
            # Look-ups and read polls do not spend (nor wait for) the sending budget.
            found = await moodle.resolve("student@demo.test")
            status = await moodle.read_status(outgoing("3"), sent[0])
            return sent, caught.value, found, status
        finally:
            await moodle.aclose()
            await db.dispose()

    sent, err, found, status = asyncio.run(main())
    assert len(sent) == 2 and len(inbox.messages("moodle")) == 2
    assert err.retry_after is not None and 10 < err.retry_after <= 30  # a token every 30 s
    assert found == "3" and status.read_at is None
