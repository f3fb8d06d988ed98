"""The query side in-process against the real PostgreSQL: ListActivityEvents filtered and paginated,
the AI export queue (a lease hides its batch, an ack marks it processed, an expired lease is offered
again and cannot be acknowledged, replay by sequence range) and GetMonitorStatus."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from services.activity.domain import EventFilter
from services.activity.service import ActivityService
from services.runtime.errors import FailedPrecondition, InvalidArgument
from services.runtime.events.outbox import Outbox
from services.runtime.testing import Caller, service_database
from tests.activity.integration.lms_world import World, new_lms


def test_list_export_ack_expiry_replay_and_status(context_pg):
    async def main():
        urls = new_lms(context_pg)
        async with service_database(context_pg) as db:
            people = Caller()
            w = World(db, urls, people.tenant_id, f"lms-{uuid.uuid4().hex[:8]}")
            admin = people.as_("admin")
            service = ActivityService(db, Outbox("activity", "activity"), w.config())
            monitor, reader = w.monitor()
            with w.owner() as lms:
                for student in (1, 2, 2):
                    lms.execute(
                        "INSERT INTO attempts (student_id, exam_id, state, percentage)"
                        " VALUES (%s, 1, 'passed', 75)",
                        (student,),
                    )
            await asyncio.sleep(0.1)
            await monitor.poll()

            # 3 attempts x (started, completed, passed) = 9 events; a page of 4 at a time.
            seen, token = [], ""
            while True:
                page, token = await service.list_events(admin, EventFilter(), 4, token)
                seen += page
                if not token:
                    break
            assert len(seen) == 9 and [e.sequence for e in seen] == sorted(e.sequence for e in seen)
            mine, _ = await service.list_events(
                admin, EventFilter(student_id=2, event_type="exam_passed"), 0, ""
            )
            assert [(e.student_id, e.event_type) for e in mine] == [(2, "exam_passed")] * 2
            none, _ = await service.list_events(
                admin, EventFilter(since=datetime.now(UTC) + timedelta(hours=1)), 0, ""
            )
            assert none == []
            with pytest.raises(InvalidArgument):
                await service.list_events(admin, EventFilter(event_type="exam_exploded"), 0, "")
            # Another tenant sees none of it (row-level security).
            assert (await service.list_events(Caller().as_("admin"), EventFilter(), 0, ""))[0] == []

            lease, _, batch = await service.export(admin, 5, 60)
            assert [e.sequence for e in batch] == [e.sequence for e in seen[:5]]
            lease2, _, batch2 = await service.export(admin, 50, 1)
            assert [e.sequence for e in batch2] == [
                e.sequence for e in seen[5:]
            ]  # the leased ones are hidden
            assert await service.ack(admin, lease) == 5
            await asyncio.sleep(1.1)  # lease2 expires unacknowledged
            with pytest.raises(FailedPrecondition):
                await service.ack(admin, lease2)
            lease3, _, batch3 = await service.export(admin, 50, 60)
            assert [e.sequence for e in batch3] == [e.sequence for e in seen[5:]]  # offered again
            assert await service.ack(admin, lease3) == 4
            assert (await service.export(admin, 50, 60))[0] == ""  # nothing waits
            done, _ = await service.list_events(admin, EventFilter(), 50, "")
            assert all(e.processed_for_ai for e in done)

            assert await service.replay(admin, seen[2].sequence, seen[3].sequence, "model retrained") == 2
            async with db.transaction(people.tenant_id) as session:
                audited = (
                    await session.execute(
                        sa.text(
                            "SELECT count(*) FROM activity.outbox"
                            " WHERE subject = 'audit.activity.events.replayed'"
                            " AND headers->>'learnflow-tenant' = :t"
                        ),
                        {"t": people.tenant_id},
                    )
                ).scalar_one()
            assert audited == 1
            again = (await service.export(admin, 50, 60))[2]
            assert [e.event_id for e in again] == [seen[2].event_id, seen[3].event_id]
            with pytest.raises(InvalidArgument):
                await service.replay(admin, 5, 2)

            status = await service.status(admin)
            assert status.enabled and status.last_error == "" and status.late_commit_guard
            assert status.events_by_type == {"exam_started": 3, "exam_completed": 3, "exam_passed": 3}
            assert status.watermark_age_seconds is not None and status.watermark_age_seconds < 30
            assert {c.source for c in status.cursors} == {"attempts"}
            # Another tenant's admin sees nothing of this LMS's monitor (cursors, errors, emails).
            other = await service.status(Caller().as_("admin"))
            assert (other.enabled, other.cursors, other.last_poll_at, other.events_by_type) == (
                False,
                (),
                None,
                {},
            )
            await reader.dispose()

    asyncio.run(main())
