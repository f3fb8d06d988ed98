"""The capability registry's writing side: every context registers itself at start-up — its name, its
address, its capabilities with versions and its limits — and heartbeats, through the runtime.

Registrations live in a NATS JetStream key-value bucket (`learnflow_registry`) whose entries expire
after the bucket's TTL; each registration also carries its own `ttl_seconds` and `heartbeat_at`, and
readers (the workflows context's Discover) count a registration live only while
`heartbeat_at + ttl_seconds` is in the future, so a provider that dies leaves discovery within one TTL
(two heartbeats) whether or not JetStream has purged its entry yet. A provider that stops cleanly
deletes its entries at once. One key per (capability, instance): `<capability>.<instance hash>`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from nats.js.api import KeyValueConfig, StorageType
from nats.js.client import JetStreamContext
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue

from services.runtime.supervisor import is_outage

log = logging.getLogger(__name__)

BUCKET = "learnflow_registry"
# The bucket's own TTL: the longest a registration may live (each carries its own shorter one).
BUCKET_TTL_SECONDS = 3600


@dataclass(frozen=True)
class CapabilitySpec:
    """A capability a context offers beyond its own name (ContextSpec.capabilities)."""

    name: str
    version: str = "1.0.0"
    limits: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Registration:
    capability: str
    version: str
    context: str
    address: str
    instance: str
    limits: dict[str, str]
    ttl_seconds: float
    heartbeat_at: float  # epoch seconds

    @property
    def key(self) -> str:
        digest = hashlib.sha256(self.instance.encode()).hexdigest()[:16]
        return f"{self.capability}.{digest}"

    def live(self, now: float | None = None) -> bool:
        return self.heartbeat_at + self.ttl_seconds > (time.time() if now is None else now)

    def encode(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> Registration:
        raw: dict[str, Any] = json.loads(data)
        return cls(**raw)


async def bucket(js: JetStreamContext) -> KeyValue:
    """The registry's bucket, made on first use (idempotent: every process may be first)."""
    try:
        return await js.key_value(BUCKET)
    except BucketNotFoundError:
        pass
    try:
        return await js.create_key_value(
            KeyValueConfig(bucket=BUCKET, ttl=BUCKET_TTL_SECONDS, history=1, storage=StorageType.FILE)
        )
    except Exception:  # another process made it in between
        return await js.key_value(BUCKET)


def advertised(grpc_addr: str, env: Mapping[str, str]) -> str:
    """The address others reach this process at: LEARNFLOW_ADVERTISE_ADDR, else the listen address
    with a wildcard host replaced by this host's name."""
    chosen = env.get("LEARNFLOW_ADVERTISE_ADDR", "").strip()
    if chosen:
        return chosen
    host, _, port = grpc_addr.rpartition(":")
    if host in ("", "0.0.0.0", "[::]", "::"):  # noqa: S104 (reading, not binding)
        host = socket.gethostname()
    return f"{host}:{port}"


class Registrar:
    """Registers one context's capabilities and renews them every ttl/2 until stopped (a supervised
    worker of `learnflow serve`)."""

    def __init__(
        self,
        js: JetStreamContext,
        context: str,
        address: str,
        capabilities: Sequence[CapabilitySpec],
        ttl_seconds: float,
    ):
        self.js = js
        self.context = context
        self.address = address
        self.capabilities = [CapabilitySpec(context), *capabilities]
        self.ttl = ttl_seconds
        self.instance = f"{context}@{address}/{socket.gethostname()}:{os.getpid()}"
        self._stop = asyncio.Event()
        self._kv: KeyValue | None = None

    def registrations(self, now: float | None = None) -> list[Registration]:
        at = time.time() if now is None else now
        return [
            Registration(
                c.name, c.version, self.context, self.address, self.instance, dict(c.limits), self.ttl, at
            )
            for c in self.capabilities
        ]

    async def heartbeat(self) -> None:
        if self._kv is None:
            self._kv = await bucket(self.js)
        for registration in self.registrations():
            await self._kv.put(registration.key, registration.encode())

    async def run(self) -> None:
        """Heartbeats every ttl/2. NATS away (restarting, a timeout) is not this worker's failure: the
        heartbeat is retried every second until NATS answers, with a warning, and the registration
        lapses meanwhile only if the outage outlasts the TTL (as a dead provider's should). Anything
        else ends run() for the supervisor to log and restart."""
        self._stop.clear()
        while not self._stop.is_set():
            pause = self.ttl / 2
            try:
                await self.heartbeat()
            except Exception as exc:
                if not is_outage(exc):
                    raise
                log.warning(
                    "registration not renewed: NATS did not answer; retrying",
                    extra={"context": self.context, "error": repr(exc)},
                )
                pause = min(1.0, pause)
            try:
                await asyncio.wait_for(self._stop.wait(), pause)
            except TimeoutError:
                continue
        await self.withdraw()

    def stop(self) -> None:
        self._stop.set()

    async def withdraw(self) -> None:
        """Leaves discovery at once (a clean stop); a crash leaves within the TTL instead."""
        if self._kv is None:
            return
        for registration in self.registrations():
            try:
                await self._kv.delete(registration.key)
            except Exception as exc:  # NATS already gone: the TTL removes it
                log.warning(
                    "could not withdraw a registration", extra={"key": registration.key, "error": repr(exc)}
                )
