"""Shared rate limits: token buckets in PostgreSQL, so a limit holds for all replicas at once.

A bucket is keyed by whatever the caller chooses ("sandbox:user:<tenant>:<user>", "notify:slack:<hook
host>"); the policy (rate, burst) comes with each take, only the state (tokens, when they were
counted, and a block set from a provider's Retry-After) lives in the context's `rate_limits` table.

One take is ONE statement, for one key or several: the refill is computed in SQL from the row's last
update, and the UPDATE's WHERE only lets it through when the refilled bucket holds the cost, so two
replicas racing for the last token cannot both get it (the second re-reads the row after the first
commits). A denied take changes nothing; its answer says how long until enough tokens are there.

In-process fast path: a key denied until T is denied again, without a round trip, until T (nothing
can refill it sooner: penalties only push T later). Allowed takes always ask the database.

Why PostgreSQL and not NATS KV: the contexts already hold a pool to it, a take is one round trip
(~0.5 ms), and a limit then commits atomically; NATS KV would need compare-and-set retries under
contention.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from services.runtime.db import Database
from services.runtime.errors import ResourceExhausted


@dataclass(frozen=True)
class Limit:
    """`rate` tokens a second sustained, up to `burst` at once."""

    rate: float
    burst: float

    @classmethod
    def per_minute(cls, count: float, burst: float) -> Limit:
        return cls(count / 60.0, burst)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError(f"a limit needs a positive rate and a burst of at least 1, not {self}")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    # Seconds until this take could succeed (0 when allowed).
    retry_after: float = 0.0


class SharedRateLimiter:
    def __init__(self, db: Database, schema: str, *, cache_size: int = 50_000):
        self.db = db
        self.schema = schema
        self.cache_size = cache_size
        self._denied_until: dict[str, float] = {}
        s = schema
        refilled = (
            "least(req.burst, b.tokens + greatest(extract(epoch FROM now() - b.updated_at), 0) * req.rate)"
        )
        # The final SELECT reads the rows as they were before this statement: for a denied key that is
        # the row as it is (a denial writes nothing), from which the wait is computed.
        self._take_sql = (
            "WITH req AS (SELECT * FROM unnest(%(keys)b::text[], %(rates)b::float8[], "  # noqa: S608 (our schema); sent by psycopg itself (db.run_sql)
            "%(bursts)b::float8[], %(costs)b::float8[]) AS r(key, rate, burst, cost)), "
            f"upd AS (UPDATE {s}.rate_limits b SET tokens = {refilled} - req.cost, updated_at = now() "
            "FROM req WHERE b.key = req.key AND (b.blocked_until IS NULL OR b.blocked_until <= now()) "
            f"AND {refilled} >= req.cost RETURNING b.key), "
            f"ins AS (INSERT INTO {s}.rate_limits (key, tokens, updated_at) "
            "SELECT key, burst - cost, now() FROM req WHERE cost <= burst "
            f"AND NOT EXISTS (SELECT 1 FROM {s}.rate_limits x WHERE x.key = req.key) "
            "ON CONFLICT (key) DO NOTHING RETURNING key) "
            "SELECT req.key, req.key IN (SELECT key FROM upd UNION ALL SELECT key FROM ins) AS allowed, "
            "b.key IS NOT NULL AS existed, "
            f"greatest((req.cost - {refilled}) / req.rate, "
            "extract(epoch FROM b.blocked_until - now()), 0) AS wait "
            f"FROM req LEFT JOIN {s}.rate_limits b ON b.key = req.key"
        )
        # A provider said "not before T": nothing is allowed until then, and one call (a probe) at T;
        # the bucket refills from T on.
        self._penalize_sql = sa.text(
            f"INSERT INTO {s}.rate_limits AS b (key, tokens, updated_at, blocked_until) "  # noqa: S608
            "VALUES (:key, 1, now() + make_interval(secs => :after), now() + make_interval(secs => :after)) "
            "ON CONFLICT (key) DO UPDATE SET tokens = 1, "
            "blocked_until = greatest(b.blocked_until, excluded.blocked_until), "
            "updated_at = greatest(b.blocked_until, excluded.blocked_until)"
        )
        self._purge_sql = sa.text(
            f"DELETE FROM {s}.rate_limits WHERE updated_at < now() - make_interval(secs => :idle) "  # noqa: S608
            "AND (blocked_until IS NULL OR blocked_until < now())"
        )

    async def take(self, key: str, limit: Limit, cost: float = 1.0) -> Decision:
        return (await self.take_all([(key, limit)], cost))[0]

    async def take_many(self, key: str, limit: Limit, n: int) -> list[Decision]:
        """n takes of one key in a row (a batch of messages to one provider): the n tokens in ONE
        statement when the bucket holds them all, which is the usual case; otherwise one take at a
        time, so the first ones still get the tokens there are, exactly as n calls of take() would.
        A failed all-at-once take writes nothing and is not remembered as a denial."""
        if n < 1:
            return []
        if n == 1 or n > limit.burst or self._denied_until.get(key, 0.0) > time.monotonic():
            return [await self.take(key, limit) for _ in range(n)]
        [row] = await self._run([(key, limit)], float(n))
        if row.allowed:
            self._denied_until.pop(key, None)
            return [Decision(True, 0.0)] * n
        return [await self.take(key, limit) for _ in range(n)]

    async def take_all(self, wanted: Sequence[tuple[str, Limit]], cost: float = 1.0) -> list[Decision]:
        """Takes `cost` tokens from each key's bucket, in one round trip. Each key is decided on its
        own (a key that allows is charged even when another denies)."""
        if cost <= 0:
            raise ValueError("cost must be positive")
        now = time.monotonic()
        cached: dict[str, Decision] = {}
        ask: list[tuple[str, Limit]] = []
        for key, limit in wanted:
            if cost > limit.burst:
                raise ValueError(f"cost {cost} can never fit a burst of {limit.burst}")
            until = self._denied_until.get(key)
            if until is not None and until > now:
                cached[key] = Decision(False, until - now)
            else:
                ask.append((key, limit))
        decided = await self._ask(ask, cost) if ask else {}
        return [cached.get(key) or decided[key] for key, _ in wanted]

    async def _ask(self, ask: list[tuple[str, Limit]], cost: float) -> dict[str, Decision]:
        rows = {r.key: r for r in await self._run(ask, cost)}
        for _ in range(3):
            # Denied on a row newer than this statement's snapshot (another replica's take committed
            # in between, or two first takes of a new key raced): the wait computed from the snapshot
            # is wrong, so those keys (only those: the others are settled) are asked again.
            stale = [
                (k, limit)
                for k, limit in ask
                if not rows[k].allowed and (not rows[k].existed or not rows[k].wait)
            ]
            if not stale:
                break
            rows.update({r.key: r for r in await self._run(stale, cost)})
        now = time.monotonic()
        decided: dict[str, Decision] = {}
        for key, limit in ask:
            r = rows[key]
            if r.allowed:
                self._denied_until.pop(key, None)
                decided[key] = Decision(True, 0.0)
                continue
            wait = float(r.wait or 0.0) or cost / limit.rate  # still racing: a token's time is a fair guess
            decided[key] = Decision(False, wait)
            if len(self._denied_until) >= self.cache_size:
                self._denied_until.clear()  # forget rather than grow without bound
            self._denied_until[key] = now + wait
        return decided

    async def _run(self, ask: list[tuple[str, Limit]], cost: float) -> list[Any]:
        params = {
            "keys": [k for k, _ in ask],
            "rates": [float(limit.rate) for _, limit in ask],  # one array type: psycopg refuses mixed
            "bursts": [float(limit.burst) for _, limit in ask],
            "costs": [float(cost)] * len(ask),
        }
        return await self.db.run_alone(self._take_sql, params)

    async def penalize(self, key: str, retry_after: float) -> None:
        """Blocks the key for `retry_after` seconds (a provider's Retry-After) for every replica."""
        if retry_after <= 0:
            return
        async with self.db.engine.connect() as conn:
            await conn.execute(self._penalize_sql, {"key": key, "after": float(retry_after)})
        self._denied_until[key] = max(self._denied_until.get(key, 0.0), time.monotonic() + retry_after)

    async def purge(self, idle_seconds: float = 3600.0) -> int:
        """Deletes buckets untouched for `idle_seconds` (full again by then, if that is at least
        burst / rate): a missing row is a full bucket."""
        async with self.db.engine.connect() as conn:
            result = await conn.execute(self._purge_sql, {"idle": idle_seconds})
        return int(result.rowcount or 0)


@dataclass
class RateLimiter:
    """One scope of a context's limits (`what`: user or tenant) over `shared`, one token bucket per
    key: `per_minute` sustained, `burst` at once; `name` prefixes the keys ("sandbox:user:<key>") and
    `unit` names what is counted in the refusal ("too many runs for this user; retry in 2.5 s",
    RESOURCE_EXHAUSTED with retry_after_seconds: HTTP 429 with Retry-After through Envoy)."""

    shared: SharedRateLimiter
    per_minute: float
    burst: int
    what: str
    name: str
    unit: str

    async def take(self, key: str, cost: int = 1) -> None:
        """Takes `cost` (a sandbox grade: one per test case), at most a whole burst, so a costly call
        stays possible for a key whose burst is smaller."""
        decision = await self.shared.take(
            f"{self.name}:{self.what}:{key}",
            Limit.per_minute(self.per_minute, self.burst),
            min(cost, self.burst),
        )
        if not decision.allowed:
            retry = max(decision.retry_after, 0.1)
            raise ResourceExhausted(
                f"too many {self.unit} for this {self.what}; retry in {retry:.1f} s",
                reason="RATE_LIMITED",
                metadata={"retry_after_seconds": f"{retry:.1f}", "scope": self.what},
            )
