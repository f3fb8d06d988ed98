"""Shared token buckets on a real PostgreSQL: a limit holds across two limiters (two replicas) racing
for the same key, refills at its rate, is blocked for everyone by a provider's Retry-After, and a
key already denied is answered in process until it could be allowed."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from runtime_pg import migrated_postgres

from services.runtime.db import Database
from services.runtime.ratelimit import Limit, SharedRateLimiter


@pytest.fixture(scope="module")
def pg():
    with migrated_postgres("sandbox") as server:
        yield server


def _key() -> str:
    return f"test:{uuid.uuid4().hex[:8]}"


def test_two_replicas_racing_share_one_bucket(pg):
    key, limit = _key(), Limit(rate=0.01, burst=10)  # no meaningful refill during the test

    async def main():
        db1, db2 = Database(pg.app_url, pool_size=8), Database(pg.app_url, pool_size=8)
        try:
            a, b = SharedRateLimiter(db1, "sandbox"), SharedRateLimiter(db2, "sandbox")
            decisions = await asyncio.gather(*(lim.take(key, limit) for _ in range(20) for lim in (a, b)))
            return decisions
        finally:
            await db1.dispose()
            await db2.dispose()

    decisions = asyncio.run(main())
    assert sum(d.allowed for d in decisions) == 10
    waits = [d.retry_after for d in decisions if not d.allowed]
    assert len(waits) == 30 and all(0 < w <= 100.0 for w in waits)


def test_take_many_takes_a_batch_at_once_and_shares_out_what_is_left_in_order(pg):
    """A batch of messages to one provider: all of its tokens in one statement while the bucket
    holds them; when it does not, the first ones still get the tokens there are, as n take()s would,
    and the other replica sees the same bucket."""
    key, limit = _key(), Limit(rate=0.01, burst=5)  # no meaningful refill during the test

    async def main():
        db1, db2 = Database(pg.app_url, pool_size=2), Database(pg.app_url, pool_size=2)
        try:
            a, b = SharedRateLimiter(db1, "sandbox"), SharedRateLimiter(db2, "sandbox")
            whole = await a.take_many(key, limit, 3)
            partial = await b.take_many(key, limit, 3)
            none_left = await a.take_many(key, limit, 2)
            return whole, partial, none_left
        finally:
            await db1.dispose()
            await db2.dispose()

    whole, partial, none_left = asyncio.run(main())
    assert [d.allowed for d in whole] == [True, True, True]
    assert [d.allowed for d in partial] == [True, True, False]
    assert not any(d.allowed for d in none_left) and all(d.retry_after > 0 for d in none_left)


def test_a_bucket_refills_at_its_rate(pg):
    key, limit = _key(), Limit(rate=5, burst=2)

    async def main():
        db = Database(pg.app_url, pool_size=2)
        try:
            lim = SharedRateLimiter(db, "sandbox")
            first = [await lim.take(key, limit) for _ in range(3)]
            await asyncio.sleep(first[2].retry_after + 0.02)
            after = await lim.take(key, limit)
            again = await lim.take(key, limit)
            return first, after, again
        finally:
            await db.dispose()

    first, after, again = asyncio.run(main())
    assert [d.allowed for d in first] == [True, True, False]
    assert 0.1 < first[2].retry_after <= 0.2  # one token at 5 a second
    assert after.allowed and not again.allowed


def test_a_retry_after_blocks_the_key_for_every_replica_then_lets_one_probe_through(pg):
    key, limit = _key(), Limit(rate=100, burst=50)

    async def main():
        db1, db2 = Database(pg.app_url, pool_size=2), Database(pg.app_url, pool_size=2)
        try:
            a, b = SharedRateLimiter(db1, "sandbox"), SharedRateLimiter(db2, "sandbox")
            assert (await a.take(key, limit)).allowed
            await a.penalize(key, 0.6)
            blocked = await b.take(key, limit)  # the other replica learns it from the database
            await asyncio.sleep(blocked.retry_after + 0.05)
            probe = await b.take(key, limit)
            right_after = await b.take(key, limit)
            return blocked, probe, right_after
        finally:
            await db1.dispose()
            await db2.dispose()

    blocked, probe, right_after = asyncio.run(main())
    assert not blocked.allowed and 0.5 < blocked.retry_after <= 0.6
    assert probe.allowed
    assert not right_after.allowed or right_after.retry_after == 0  # refilling at 100/s from the probe


def test_a_denied_key_is_answered_in_process_until_it_could_pass(pg):
    key, limit = _key(), Limit(rate=0.5, burst=1)

    async def main():
        db = Database(pg.app_url, pool_size=2)
        lim = SharedRateLimiter(db, "sandbox")
        try:
            assert (await lim.take(key, limit)).allowed
            denied = await lim.take(key, limit)
        finally:
            await db.dispose()
        # The database is out of reach now: a known denial still answers, without a round trip.
        lim.db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none", pool_size=1)
        began = time.perf_counter()
        cached = await lim.take(key, limit)
        elapsed = time.perf_counter() - began
        with pytest.raises(Exception):  # noqa: B017,PT011 (any connection error)
            await lim.take(_key(), limit)
        await lim.db.dispose()
        return denied, cached, elapsed

    denied, cached, elapsed = asyncio.run(main())
    assert not denied.allowed and not cached.allowed
    assert 0 < cached.retry_after <= denied.retry_after and elapsed < 0.005


def test_each_key_is_decided_on_its_own_in_one_take(pg):
    tenant, user = _key(), _key()

    async def main():
        db = Database(pg.app_url, pool_size=2)
        try:
            lim = SharedRateLimiter(db, "sandbox")
            both = [Limit(1, 5), Limit(0.01, 1)]
            first = await lim.take_all(list(zip((tenant, user), both, strict=True)))
            second = await lim.take_all(list(zip((tenant, user), both, strict=True)))
            with pytest.raises(ValueError, match="can never fit"):
                await lim.take(tenant, Limit(1, 1), cost=2)
            return first, second
        finally:
            await db.dispose()

    first, second = asyncio.run(main())
    assert [d.allowed for d in first] == [True, True]
    assert [d.allowed for d in second] == [True, False]


def test_idle_buckets_are_purged(pg):
    key = _key()

    async def main():
        db = Database(pg.app_url, pool_size=2)
        try:
            lim = SharedRateLimiter(db, "sandbox")
            await lim.take(key, Limit(1, 1))
            kept = await lim.purge(idle_seconds=3600)
            await asyncio.sleep(0.05)
            purged = await lim.purge(idle_seconds=0.01)
            return kept, purged
        finally:
            await db.dispose()

    kept, purged = asyncio.run(main())
    assert kept == 0 and purged >= 1
