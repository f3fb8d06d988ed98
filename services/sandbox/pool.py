"""Back-pressure for the sandbox: a bounded pool of workers with a bounded queue, and per-user and
per-tenant rate limits. When the queue is full a call fails at once (RESOURCE_EXHAUSTED, HTTP 429)
instead of piling up. Limits are per process (per pod); the HPA adds pods."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from services.runtime.errors import ResourceExhausted
from services.sandbox.engine import Limits, RunResult, Sandbox


class ExecutionPool:
    def __init__(self, sandbox: Sandbox, *, workers: int, queue: int):
        self.sandbox = sandbox
        self.workers = workers
        self.queue = queue
        self._slots = asyncio.Semaphore(workers)
        self._admitted = 0  # running + waiting

    @property
    def busy(self) -> int:
        return self._admitted

    async def run(self, code: str, stdin: str, limits: Limits) -> RunResult:
        if self._admitted >= self.workers + self.queue:
            raise ResourceExhausted(
                "the sandbox is at capacity; retry in a moment",
                reason="SANDBOX_BUSY",
                metadata={"workers": str(self.workers), "queue": str(self.queue)},
            )
        self._admitted += 1
        try:
            async with self._slots:
                return await self.sandbox.run(code, stdin, limits)
        finally:
            self._admitted -= 1


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class RateLimiter:
    """Token buckets keyed by user and by tenant: `per_minute` sustained, `burst` at once."""

    per_minute: float
    burst: int
    what: str
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def take(self, key: str) -> None:
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            if len(self._buckets) > 50_000:  # forget idle keys rather than grow without bound
                self._buckets.clear()
                self._buckets[key] = bucket
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.per_minute / 60)
        bucket.stamp = now
        if bucket.tokens < 1:
            retry = (1 - bucket.tokens) * 60 / self.per_minute
            raise ResourceExhausted(
                f"too many runs for this {self.what}; retry in {retry:.1f} s",
                reason="RATE_LIMITED",
                metadata={"retry_after_seconds": f"{retry:.1f}", "scope": self.what},
            )
        bucket.tokens -= 1
