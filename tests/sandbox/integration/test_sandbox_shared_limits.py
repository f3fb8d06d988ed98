"""The sandbox's run limits are shared by its replicas: two RateLimiters (two pods) on one database
give a user the burst once, not once per pod, and the refusal carries retry_after_seconds (the
interceptor turns it into RESOURCE_EXHAUSTED / HTTP 429; tests/sandbox/integration/
test_sandbox_service.py checks that on a whole mesh)."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from services.runtime import migrations
from services.runtime.contexts import load_contexts
from services.runtime.db import Database
from services.runtime.errors import ResourceExhausted
from services.runtime.local.postgres import APP_ROLE, EmbeddedPostgres
from services.runtime.local.procs import free_port
from services.runtime.ratelimit import RateLimiter, SharedRateLimiter
from services.runtime.testing import mesh_dir


@pytest.fixture(scope="module")
def database_url():
    root = mesh_dir("learnflow-sandbox-limits-")
    pg = EmbeddedPostgres(root / "postgres", free_port())
    try:
        pg.start()
        migrations.run(pg.superuser_url, APP_ROLE, load_contexts(["sandbox"]))
        yield pg.app_url
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_a_users_limit_holds_across_two_replicas(database_url):
    async def main():
        pods = [Database(database_url, pool_size=2) for _ in range(2)]
        try:
            users = [
                RateLimiter(SharedRateLimiter(db, "sandbox"), 6, 3, "user", "sandbox", "runs") for db in pods
            ]
            outcomes = []
            for n in range(6):  # alternate pods, as a load balancer would
                try:
                    await users[n % 2].take("tenant-1:student-1")
                    outcomes.append("ok")
                except ResourceExhausted as exc:
                    outcomes.append(exc)
            await users[1].take("tenant-1:student-2")  # someone else still may
            return outcomes
        finally:
            for db in pods:
                await db.dispose()

    outcomes = asyncio.run(main())
    assert outcomes[:3] == ["ok"] * 3
    refused = outcomes[3:]
    assert all(isinstance(e, ResourceExhausted) and e.reason == "RATE_LIMITED" for e in refused)
    assert all(e.metadata["scope"] == "user" for e in refused)
    # 6 a minute: the next token is about 10 s away.
    assert all(9.0 <= float(e.metadata["retry_after_seconds"]) <= 10.0 for e in refused)
