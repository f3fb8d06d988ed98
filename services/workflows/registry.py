"""The capability registry's reading side (the writing side is every context's runtime:
services/runtime/registry.py). A watcher keeps the bucket's entries in memory, so Discover is a dict
lookup (well under a millisecond); a registration counts only while its heartbeat is younger than its
TTL, so a provider that died leaves discovery within one TTL even before JetStream purges its entry."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from nats.aio.client import Client as Nats
from nats.js.kv import KeyValue

from services.runtime.errors import NotFound
from services.runtime.registry import Registration, bucket

log = logging.getLogger(__name__)


class Registry:
    def __init__(self, nc: Nats):
        self.nc = nc
        self.entries: dict[str, Registration] = {}
        self._kv: KeyValue | None = None
        self._ready = asyncio.Event()

    async def kv(self) -> KeyValue:
        if self._kv is None:
            self._kv = await bucket(self.nc.jetstream())
        return self._kv

    async def run(self) -> None:
        """Follows the bucket (a supervised worker): every put and delete, from the start."""
        kv = await self.kv()
        watcher = await kv.watchall()
        try:
            async for entry in watcher:
                if entry is None:  # the initial values are all delivered
                    self._ready.set()
                    continue
                if entry.operation in ("DEL", "PURGE") or not entry.value:
                    self.entries.pop(entry.key, None)
                    continue
                try:
                    self.entries[entry.key] = Registration.decode(entry.value)
                except (ValueError, TypeError) as exc:
                    log.warning("unreadable registration", extra={"key": entry.key, "error": repr(exc)})
        finally:
            with contextlib.suppress(Exception):
                await watcher.stop()

    async def ready(self, within: float = 5.0) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._ready.wait()

    async def register(self, registration: Registration) -> Registration:
        kv = await self.kv()
        await kv.put(registration.key, registration.encode())
        self.entries[registration.key] = registration
        return registration

    def live(self, now: float | None = None) -> list[Registration]:
        at = time.time() if now is None else now
        return sorted(
            (r for r in self.entries.values() if r.live(at)), key=lambda r: (r.capability, r.instance)
        )

    def discover(self, capability: str) -> list[Registration]:
        """The live providers, freshest heartbeat first; NotFound with a diagnosis when none is."""
        now = time.time()
        found = [r for r in self.live(now) if r.capability == capability]
        if found:
            return sorted(found, key=lambda r: -r.heartbeat_at)
        stale = [r for r in self.entries.values() if r.capability == capability]
        if stale:
            ages = ", ".join(
                f"{r.instance} (last heartbeat {now - r.heartbeat_at:.1f} s ago, ttl {r.ttl_seconds:g} s)"
                for r in stale
            )
            why = f"its providers stopped heartbeating: {ages}"
        else:
            known = sorted({r.capability for r in self.live(now)})
            why = f"no provider ever registered it; live capabilities: {', '.join(known) or 'none'}"
        raise NotFound(
            f"capability {capability!r} has no live provider: {why}",
            reason="CAPABILITY_UNAVAILABLE",
            metadata={"capability": capability},
        )
