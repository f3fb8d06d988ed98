"""A process that makes a change and records it the way every context does (store write, then
audit.record in the same transaction), and either commits or stops at a named point and waits to be
SIGKILLed: test_audit_trail.py kills it there and checks that neither the change nor its record
survived. argv: database URL, tenant id, mode (commit | after-change | after-record)."""

from __future__ import annotations

import asyncio
import sys

from services.progress import store
from services.runtime import audit, request_context
from services.runtime.db import Database
from services.runtime.events.outbox import Outbox
from services.runtime.request_context import Principal, RequestContext


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def main(url: str, tenant: str, mode: str) -> None:
    db = Database(url, pool_size=1)
    principal = Principal("kill-test", tenant, frozenset({"admin"}))
    with request_context.bind(RequestContext("kill-test", principal=principal, tenant_id=tenant)):
        async with db.transaction(tenant) as session:
            made = await store.create_class(session, tenant, "Killed mid-way", [], [])
            _say(made.id)
            if mode == "after-change":
                await asyncio.sleep(3600)
            await audit.record(Outbox("progress", "progress"), session, "class.created", f"classes/{made.id}")
            if mode == "after-record":
                _say("recorded")
                await asyncio.sleep(3600)
    _say("committed")
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
