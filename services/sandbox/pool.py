"""Back-pressure for the sandbox: a bounded pool of workers with a bounded queue, and per-user and
per-tenant rate limits. When the queue is full a call fails at once (RESOURCE_EXHAUSTED, HTTP 429)
instead of piling up. The pool is per process (per pod; the HPA adds pods); the rate limits are shared
by every replica (services/runtime/ratelimit.py), so adding pods does not raise a user's limit."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from services.runtime.errors import ResourceExhausted
from services.runtime.ratelimit import Limit, SharedRateLimiter
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
class RateLimiter:
    """One scope of the run limits (`what`: user or tenant), one shared token bucket per key:
    `per_minute` sustained, `burst` at once."""

    shared: SharedRateLimiter
    per_minute: float
    burst: int
    what: str

    async def take(self, key: str, runs: int = 1) -> None:
        """Takes `runs` runs' worth (a grade runs one per test case), at most a whole burst: a
        50-case grade costs what it runs, and is still possible for a user whose burst is 20."""
        decision = await self.shared.take(
            f"sandbox:{self.what}:{key}", Limit.per_minute(self.per_minute, self.burst), min(runs, self.burst)
        )
        if not decision.allowed:
            retry = max(decision.retry_after, 0.1)
            raise ResourceExhausted(
                f"too many runs for this {self.what}; retry in {retry:.1f} s",
                reason="RATE_LIMITED",
                metadata={"retry_after_seconds": f"{retry:.1f}", "scope": self.what},
            )
