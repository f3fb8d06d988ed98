"""The monitor against a real second PostgreSQL database as the LMS: writers holding transactions open
for random times, rows sharing a timestamp (one transaction's rows share now()), commits out of order,
the monitor cancelled at random points and started afresh — every attempt gives exactly the events its
final state implies, none missing, none stored or published twice (docs/activity.md)."""

import asyncio
import random
import uuid
from collections import Counter

import psycopg

from services.runtime.testing import service_database
from tests.activity.integration.lms_world import World, new_lms

NEXT = {"attempts": {"started": "completed", "completed": None}, "contentattempts": {"started": None}}


async def writer(conninfo: str, rng: random.Random, rounds: int, stop_at: float) -> None:
    """One LMS client: each transaction inserts 1-3 attempts and moves 0-2 of its earlier ones on,
    then holds the transaction open 0-0.6 s before committing."""
    mine: list[tuple[str, int, str]] = []
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        for _ in range(rounds):
            async with conn.transaction():
                for _ in range(rng.randint(1, 3)):
                    table = rng.choice(["attempts", "attempts", "contentattempts"])
                    column = "exam_id" if table == "attempts" else "content_id"
                    cur = await conn.execute(
                        f"INSERT INTO {table} (student_id, {column}, state, started_at) "
                        "VALUES (%s, %s, 'started', now()) RETURNING id",
                        (rng.randint(1, 4), rng.randint(1, 3)),
                    )
                    (row_id,) = await cur.fetchone()
                    mine.append((table, row_id, "started"))
                for _ in range(rng.randint(0, 2)):
                    open_ = [m for m in mine if m[2] not in ("passed", "failed", "completed", "watched")
                             or (m[0] == "attempts" and m[2] == "completed")]  # fmt: skip
                    if not open_:
                        break
                    table, row_id, state = rng.choice(open_)
                    if table == "contentattempts":
                        new = rng.choice(["completed", "watched"])
                    elif state == "started":
                        new = "completed"
                    else:
                        new = rng.choice(["passed", "failed"])
                    pct = rng.uniform(0, 100)
                    await conn.execute(
                        f"UPDATE {table} SET state = %s, percentage = %s, finished_at = now() WHERE id = %s",
                        (new, pct, row_id),
                    )
                    mine[mine.index((table, row_id, state))] = (table, row_id, new)
                await asyncio.sleep(rng.uniform(0, 0.6))


def test_concurrent_writers_and_a_killed_monitor_give_every_event_exactly_once(context_pg):
    async def main():
        rng = random.Random(15)
        urls = new_lms(context_pg)
        async with service_database(context_pg) as db:
            w = World(db, urls, str(uuid.uuid4()), f"lms-{uuid.uuid4().hex[:8]}")
            writers = [
                asyncio.create_task(writer(urls.owner_conninfo, random.Random(i), 12, 0)) for i in range(6)
            ]
            kills = 0
            readers = []
            while not all(t.done() for t in writers):
                monitor, reader = w.monitor()
                readers.append(reader)
                task = asyncio.create_task(_poll_forever(monitor))
                await asyncio.sleep(rng.uniform(0.05, 0.5))
                task.cancel()  # at whatever await it is in: reading, applying, committing
                await asyncio.gather(task, return_exceptions=True)
                kills += 1
            await asyncio.gather(*writers)
            monitor, reader = w.monitor()
            readers.append(reader)
            for _ in range(3):  # past the settle lag: everything committed is below the bound
                await asyncio.sleep(0.1)
                await monitor.poll()
            stored = await w.stored()
            published = await w.published_ids()
            want = await w.expected()
            for r in readers:
                await r.dispose()
        assert kills >= 3
        assert len(want) > 100
        ids = [e.event_id for e in stored]
        assert Counter(ids).most_common(1)[0][1] == 1
        assert set(ids) == want, (len(set(ids) - want), len(want - set(ids)))
        assert sorted(published) == sorted(ids)  # one outbox row per event, none twice
        # The state machine's order holds within each attempt: started before completed before a result.
        order = {"started": 0, "completed": 1, "watched": 1, "passed": 2, "failed": 2}
        by_attempt: dict[tuple[str, int], list[int]] = {}
        for e in stored:
            by_attempt.setdefault((e.source, e.attempt_id), []).append(order[e.event_type.split("_", 1)[1]])
        assert all(ranks == sorted(ranks) for ranks in by_attempt.values())

    asyncio.run(main())


async def _poll_forever(monitor) -> None:
    while True:
        await monitor.poll()
        await asyncio.sleep(0.02)
