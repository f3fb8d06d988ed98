"""What the in-process engine tests share: a migrated PostgreSQL of notify's own, a controllable
clock, a user directory of fixed users, and a scripted Channel.

The scripted channel implements channels/base.py's Channel (the seam between the engine and the
provider clients) so the engine's retry, limit, fallback and escalation logic can be driven exactly;
it is not provider coverage: the provider clients are tested against their wire-format servers in
tests/notify/channels/."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from services.notify.channels.base import BodyFormat, Outgoing, ReadStatus, Sent
from services.runtime import migrations
from services.runtime.contexts import load_contexts
from services.runtime.db import Database
from services.runtime.directory import TenantUser
from services.runtime.jobs import JobRunner
from services.runtime.local.postgres import APP_ROLE, EmbeddedPostgres
from services.runtime.local.procs import free_port
from services.runtime.testing import mesh_dir


@contextlib.contextmanager
def migrated_postgres() -> Iterator[EmbeddedPostgres]:
    root = mesh_dir("learnflow-notify-pg-")
    pg = EmbeddedPostgres(root / "postgres", free_port())
    try:
        pg.start()
        migrations.run(pg.superuser_url, APP_ROLE, load_contexts(["notify"]))
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


class Clock:
    """The engine's clock, moved by the test (quiet hours, escalation deadlines, timestamps)."""

    def __init__(self, now: datetime | None = None):
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Users:
    """A tenant's users as identity would answer BatchGetUsers (runtime/directory.py's shape)."""

    by_tenant: dict[str, dict[str, TenantUser]] = field(default_factory=dict)

    def add(
        self, tenant: str, *, email: str = "", time_zone: str = "", roles: tuple[str, ...] = ("student",)
    ) -> str:
        user_id = str(uuid.uuid4())
        self.by_tenant.setdefault(tenant, {})[user_id] = TenantUser(
            user_id, frozenset(roles), False, email, time_zone
        )
        return user_id

    async def users(self, tenant_id: str, ids: list[str]) -> dict[str, TenantUser]:
        known = self.by_tenant.get(tenant_id, {})
        return {i.lower(): known[i.lower()] for i in ids if i.lower() in known}


Outcome = Exception | Callable[[Outgoing], Sent] | None


class ScriptedChannel:
    """A channel whose next answers the test scripts (an exception to raise, or None: accepted). Like
    a provider that honours idempotency keys, it delivers a delivery id once however often it is sent."""

    def __init__(
        self,
        name: str,
        *,
        body_format: BodyFormat = "text",
        max_length: int = 10_000,
        read_receipts: bool = False,
        accounts: dict[str, str] | None = None,
    ):
        self.name = name
        self.body_format = body_format
        self.max_length = max_length
        self.supports_read_receipts = read_receipts
        self.accounts = accounts  # email -> address; None: everyone's address is their email
        self.script: list[Outcome] = []
        self.calls: list[Outgoing] = []
        self.delivered: dict[uuid.UUID, Outgoing] = {}
        self.resolved: list[str] = []
        self.read: dict[str, datetime] = {}
        self.hang: asyncio.Event | None = None

    async def send(self, message: Outgoing) -> Sent:
        self.calls.append(message)
        if self.hang is not None:
            await self.hang.wait()
        outcome = self.script.pop(0) if self.script else None
        if isinstance(outcome, Exception):
            raise outcome
        self.delivered.setdefault(message.delivery_id, message)
        return Sent(f"{self.name}-{message.delivery_id}")

    async def resolve(self, email: str) -> str | None:
        self.resolved.append(email)
        if self.accounts is None:
            return email or f"{self.name}-default-target"
        return self.accounts.get(email)

    async def read_status(self, message: Outgoing, sent: Sent) -> ReadStatus:
        return ReadStatus(self.read.get(sent.provider_message_id or ""))

    async def aclose(self) -> None:
        return None


async def run_due(runner: JobRunner, *, rounds: int = 20) -> list[str]:
    """Claims and runs every job that is due now, again until none is (handlers enqueue follow-ups)."""
    outcomes: list[str] = []
    for _ in range(rounds):
        jobs = await runner.claim(100)
        if not jobs:
            return outcomes
        for job in jobs:
            outcomes.append(await runner.execute(job))
    return outcomes


async def make_all_due(db: Database) -> None:
    """Time passes for the job queue: every queued job becomes due now."""
    async with db.transaction("") as s:
        await s.execute(text("UPDATE notify.jobs SET run_at = now() WHERE state = 'queued'"))


async def queued_in(db: Database, kind: str) -> list[float]:
    """Seconds from now until each queued job of this kind is due."""
    async with db.transaction("") as s:
        rows = await s.execute(
            text(
                "SELECT extract(epoch FROM run_at - now()) FROM notify.jobs "
                "WHERE state = 'queued' AND kind = :k ORDER BY run_at"
            ),
            {"k": kind},
        )
        return [float(r[0]) for r in rows]


async def events(db: Database, subject: str, delivery_id: object) -> int:
    """Events staged on `subject` about this delivery (its id is in the protobuf payload)."""
    async with db.transaction("") as s:
        found = await s.execute(
            text(
                "SELECT count(*) FROM notify.outbox WHERE subject = :s "
                "AND position(convert_to(:id, 'UTF8') in payload) > 0"
            ),
            {"s": subject, "id": str(delivery_id)},
        )
        return int(found.scalar_one())
