"""Back-pressure for the sandbox: a bounded pool of workers with a bounded queue, and per-user and
per-tenant rate limits. When the queue is full a call fails at once (RESOURCE_EXHAUSTED, HTTP 429)
instead of piling up. The pool is per process (per pod; the HPA adds pods); the rate limits are shared
by every replica (services/runtime/ratelimit.py RateLimiter), so adding pods does not raise a user's limit."""

from __future__ import annotations

import asyncio

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
