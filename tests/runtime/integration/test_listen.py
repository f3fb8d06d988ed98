"""The process's LISTEN connection (services/runtime/db.py `listen`): every channel a process waits on
shares one connection per database, a NOTIFY wakes only its own channel's waiters, every waiter is
woken when it starts listening (to catch up), a listener that loses its connection comes back, and
the connection closes when the last waiter stops."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from runtime_pg import migrated_postgres, plain, superuser

from services.runtime.db import listen


@pytest.fixture(scope="module")
def pg():
    with migrated_postgres("sandbox") as server:
        yield server


def _listening(pg) -> int:
    with superuser(pg) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND query LIKE 'LISTEN%'"
        ).fetchone()
    return int(row[0]) if row else 0


def _notify(pg, channel: str) -> None:
    with superuser(pg) as conn:
        conn.execute(f'NOTIFY "{channel}"')


async def _woken(event: asyncio.Event, within: float = 2.0) -> bool:
    try:
        await asyncio.wait_for(event.wait(), within)
        return True
    except TimeoutError:
        return False


def test_channels_share_one_connection_and_wake_only_their_own(pg):
    dsn = plain(pg.superuser_url)

    async def main():
        stop_a, stop_b = asyncio.Event(), asyncio.Event()
        wake_a, wake_b = asyncio.Event(), asyncio.Event()
        a = asyncio.create_task(listen(dsn, "chan_a", wake_a, stop_a, "test"))
        b = asyncio.create_task(listen(dsn, "chan_b", wake_b, stop_b, "test"))
        caught_up = await _woken(wake_a) and await _woken(wake_b)  # woken once on listening
        await asyncio.sleep(0.3)  # both channels LISTENed to
        connections = await asyncio.to_thread(_listening, pg)
        wake_a.clear()
        wake_b.clear()
        await asyncio.to_thread(_notify, pg, "chan_b")
        b_woken = await _woken(wake_b)
        a_woken = wake_a.is_set()
        # The connection dropped (a PostgreSQL restart, a network cut): it comes back and wakes all.
        with superuser(pg) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE backend_type = 'client backend' AND query LIKE 'LISTEN%'"
            )
        wake_a.clear()
        back = await _woken(wake_a, within=5.0)
        wake_a.clear()
        await asyncio.sleep(0.3)
        await asyncio.to_thread(_notify, pg, "chan_a")
        after_reconnect = await _woken(wake_a)
        stop_a.set()
        b.cancel()  # a relay cancels its listener when it stops
        await a
        with contextlib.suppress(asyncio.CancelledError):
            await b
        await asyncio.sleep(0.5)
        left = await asyncio.to_thread(_listening, pg)
        return caught_up, connections, b_woken, a_woken, back, after_reconnect, left

    caught_up, connections, b_woken, a_woken, back, after_reconnect, left = asyncio.run(main())
    assert caught_up
    assert connections == 1
    assert b_woken and not a_woken
    assert back and after_reconnect
    assert left == 0
