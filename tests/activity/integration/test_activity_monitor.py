"""The monitor's rules against a real LMS database: the state machine (implied states, regressions and
conflicts skipped), bad rows reported and skipped without stopping the poll, the completeness audit
backfilling a row the cursor passed by, and the stored event's fields and xAPI shape."""

import asyncio
import uuid

import pytest
import sqlalchemy as sa

from services.activity.domain import event_id
from services.activity.lms import LmsReader
from services.runtime.testing import service_database
from tests.activity.integration.lms_world import World, new_lms


def run(context_pg, scenario):
    async def main():
        urls = new_lms(context_pg)
        async with service_database(context_pg) as db:
            await scenario(World(db, urls, str(uuid.uuid4()), f"lms-{uuid.uuid4().hex[:8]}"))

    asyncio.run(main())


async def settle_and_poll(monitor, times: int = 1) -> None:
    for _ in range(times):
        await asyncio.sleep(0.1)  # past the settle lag
        await monitor.poll()


def test_states_bad_rows_and_regressions(context_pg):
    async def scenario(w: World):
        monitor, reader = w.monitor()
        with w.owner() as lms:
            # Seen first as failed: started and completed are implied, in that order.
            failed = lms.execute(
                "INSERT INTO attempts"
                " (student_id, exam_id, state, percentage, score, started_at, finished_at)"
                " VALUES (2, 2, 'failed', 40, 4, now() - interval '90 seconds', now()) RETURNING id"
            ).fetchone()[0]
            unknown = lms.execute(
                "INSERT INTO attempts (student_id, exam_id, state) VALUES (2, 1, 'graded') RETURNING id"
            ).fetchone()[0]
            orphan = lms.execute(
                "INSERT INTO contentattempts (student_id, content_id, state)"
                " VALUES (999, 1, 'started') RETURNING id"
            ).fetchone()[0]
            watched = lms.execute(
                "INSERT INTO contentattempts (student_id, content_id, state)"
                " VALUES (1, 1, 'watched') RETURNING id"
            ).fetchone()[0]
        await settle_and_poll(monitor)
        stored = {e.event_id: e for e in await w.stored()}
        assert set(stored) == {
            event_id(w.name, "attempts", failed, "started"),
            event_id(w.name, "attempts", failed, "completed"),
            event_id(w.name, "attempts", failed, "failed"),
            event_id(w.name, "contentattempts", watched, "started"),
            event_id(w.name, "contentattempts", watched, "watched"),
        }
        result = stored[event_id(w.name, "attempts", failed, "failed")]
        assert (result.student_name, result.activity_title) == ("Ada Lovelace", "Loops Exam")
        assert result.metadata["percentage"] == 40 and result.metadata["duration_seconds"] >= 89
        assert [m.email for m in result.mentors] == ["teacher@demo.test"]
        assert result.statement["verb"]["id"] == "http://adlnet.gov/expapi/verbs/failed"
        assert result.statement["result"]["success"] is False
        assert result.statement["id"] == result.event_id and not result.processed_for_ai

        # A regression (failed → started) and a conflict (failed → passed) emit nothing; the bad rows
        # stay rejected; the poll goes on to a new good row.
        with w.owner() as lms:
            lms.execute("UPDATE attempts SET state = 'started' WHERE id = %s", (failed,))
            ok = lms.execute(
                "INSERT INTO attempts (student_id, exam_id, state) VALUES (1, 1, 'started') RETURNING id"
            ).fetchone()[0]
        await settle_and_poll(monitor)
        with w.owner() as lms:
            lms.execute("UPDATE attempts SET state = 'passed' WHERE id = %s", (failed,))
        await settle_and_poll(monitor)
        after = {e.event_id for e in await w.stored()}
        assert after == set(stored) | {event_id(w.name, "attempts", ok, "started")}
        async with w.db.transaction(w.tenant_id) as session:
            from services.activity import store

            status = await store.monitor_row(session, w.name)
            tracked = await store.tracked(session, w.name, "attempts", [unknown, failed])
        assert status.rejected >= 2 and status.skipped >= 2 and status.last_error == ""
        assert tracked[unknown].rejected == "unknown state 'graded'"
        assert tracked[failed].state == "failed" and tracked[failed].lms_state == "passed"
        assert orphan  # rejected too (missing student 999): no events above
        await reader.dispose()

    run(context_pg, scenario)


def test_the_completeness_audit_backfills_a_row_behind_the_cursor(context_pg):
    async def scenario(w: World):
        monitor, reader = w.monitor(overlap=0.5)
        with w.owner() as lms:
            for _ in range(5):
                lms.execute("INSERT INTO attempts (student_id, exam_id, state) VALUES (1, 1, 'started')")
        await settle_and_poll(monitor, 2)
        assert len(await w.stored()) == 5
        # The gap, by hand: a writer whose clock is an hour behind commits a passed attempt; its
        # time is far behind the cursor and the overlap window, so no poll reads it.
        with w.owner() as lms:
            late = lms.execute(
                "INSERT INTO attempts (student_id, exam_id, state, percentage, updated_at)"
                " VALUES (3, 3, 'passed', 91, now() - interval '1 hour') RETURNING id"
            ).fetchone()[0]
        await settle_and_poll(monitor, 2)
        assert len(await w.stored()) == 5
        assert await monitor.audit() == 1  # one (table, day) bucket differed
        ids = {e.event_id for e in await w.stored()}
        assert {event_id(w.name, "attempts", late, s) for s in ("started", "completed", "passed")} <= ids
        assert len(ids) == 8
        assert await monitor.audit() == 0  # nothing differs any more
        assert sorted(await w.published_ids()) == sorted(ids)
        await reader.dispose()

    run(context_pg, scenario)


def test_event_types_not_monitored_are_not_stored_but_advance_the_state(context_pg):
    async def scenario(w: World):
        monitor, reader = w.monitor(event_types="exam_passed,exam_failed")
        with w.owner() as lms:
            lms.execute("INSERT INTO attempts (student_id, exam_id, state) VALUES (1, 1, 'started')")
            lms.execute(
                "INSERT INTO attempts (student_id, exam_id, state, percentage) VALUES (1, 1, 'passed', 80)"
            )
        await settle_and_poll(monitor)
        assert [e.event_type for e in await w.stored()] == ["exam_passed"]
        await reader.dispose()

    run(context_pg, scenario)


def test_a_page_whose_students_identity_cannot_link_is_not_applied_until_it_can(context_pg):
    """identity away while a failed exam is read: the page waits (the poll fails and says why) rather
    than storing the result unlinked, which would keep it from progress for good."""

    class FlakyIdentity:
        def __init__(self) -> None:
            self.down = True

        async def link(self, emails: set[str]) -> dict[str, str]:
            if self.down:
                raise ConnectionError("identity ListUsers: UNAVAILABLE")
            return {e: "user-ada" for e in emails if e == "ada@lms.test"}

    async def scenario(w: World):
        from services.activity import store
        from services.activity.monitor import ActivityMonitor
        from services.runtime.events.outbox import Outbox

        reader = LmsReader(w.urls.reader, pool_size=2)
        identity = FlakyIdentity()
        monitor = ActivityMonitor(
            w.db, Outbox("activity", "activity"), reader, w.config(event_types="exam_failed"), linker=identity
        )
        with w.owner() as lms:
            failed = lms.execute(
                "INSERT INTO attempts (student_id, exam_id, state, percentage) VALUES (2, 2, 'failed', 40)"
                " RETURNING id"
            ).fetchone()[0]
        await asyncio.sleep(0.1)  # past the settle lag
        with pytest.raises(ConnectionError):
            await monitor.poll()
        assert await w.stored() == []
        async with w.db.transaction(w.tenant_id) as session:
            status = await store.monitor_row(session, w.name)
        assert "identity ListUsers: UNAVAILABLE" in status.last_error

        identity.down = False
        await monitor.poll()
        [event] = await w.stored()
        assert (event.event_id, event.user_id) == (event_id(w.name, "attempts", failed, "failed"), "user-ada")
        async with w.db.transaction(w.tenant_id) as session:
            to_progress = (
                await session.execute(
                    sa.text(
                        "SELECT count(*) FROM activity.outbox WHERE subject = 'progress.events'"
                        " AND headers->>'learnflow-tenant' = :t"
                    ),
                    {"t": w.tenant_id},
                )
            ).scalar_one()
        assert to_progress == 1
        await reader.dispose()

    run(context_pg, scenario)
