"""Struggle episodes end without a teacher: the student's own progress clears them, the periodic check
opens activity-drop episodes, and the quiet period closes what nobody did (docs/progress-model.md).

The service in-process against the real PostgreSQL (services/runtime/testing.py `context_pg`), each
test on a tenant of its own: these are rules of the service, and the mesh adds nothing to them (the
REST and event paths to the same service are tested in test_progress_service.py)."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from services.progress.checks import PeriodicChecks
from services.progress.domain import Activity, ActivityKind
from services.progress.domain.classes import Member
from services.progress.domain.records import BY_PROGRESS, BY_QUIET_PERIOD, OPEN, RESOLVED
from services.progress.domain.struggle import RuleSettings, StruggleDetector
from services.progress.service import ProgressService
from services.runtime.events.outbox import Outbox
from services.runtime.testing import Caller, service_database

NAME_ERROR = {"kind": ActivityKind.CODE_RUN, "verdict": "RUNTIME_ERROR", "exception_type": "NameError"}


class Directory:
    """identity's answer about the tenant's users (progress asks it through the runtime's directory)."""

    def __init__(self, *members: Member):
        self.known = {m.id: m for m in members}

    async def members(self, tenant_id: str, ids: list[str]) -> dict[str, Member]:
        return {i: self.known[i] for i in ids if i in self.known}


class World:
    """One tenant: its admin, one student, and the service as `learnflow serve` builds it."""

    def __init__(self, db):
        people = Caller()
        self.tenant_id = people.tenant_id
        self.admin = people.as_("admin")
        self.student = people.as_("student")
        self.outbox = Outbox("progress", "progress")
        self.service = ProgressService(
            db,
            self.outbox,
            StruggleDetector(RuleSettings()),
            directory=Directory(Member(self.student.subject, frozenset({"student"}))),
        )
        self.checks = PeriodicChecks(db, self.outbox, StruggleDetector(RuleSettings()))

    async def record(self, *activities: dict) -> None:
        for fields in activities:
            fields = dict(fields)
            at = fields.pop("at", datetime.now(UTC))
            student_id = self.student.subject
            activity = Activity(event_id=uuid.uuid4().hex, student_id=student_id, occurred_at=at, **fields)
            await self.service.record(self.student, activity)

    async def alerts(self, state: str | None = None) -> list[tuple[str, str, str]]:
        """(rule, key, resolution) of the student's alerts, "" while not resolved."""
        found, _ = await self.service.list_alerts(self.admin, state, self.student.subject, 50, "")
        return [(a.rule, a.key, a.resolution or "") for a in found]


def run(context_pg, scenario):
    async def main():
        async with service_database(context_pg) as db:
            await scenario(World(db))

    asyncio.run(main())


def test_a_run_that_works_clears_repeated_errors_and_proficiency_clears_wheel_spinning(context_pg):
    async def scenario(w: World):
        await w.record(NAME_ERROR, NAME_ERROR, NAME_ERROR)
        assert await w.alerts() == [("repeated_error", "NameError", "")]
        await w.record({"kind": ActivityKind.CODE_RUN, "verdict": "OK"})
        assert await w.alerts() == []
        assert await w.alerts(RESOLVED) == [("repeated_error", "NameError", BY_PROGRESS)]
        await w.record(NAME_ERROR, NAME_ERROR, NAME_ERROR)  # fresh evidence: a new episode
        assert await w.alerts() == [("repeated_error", "NameError", "")]

        # Ten graded attempts at 50% three months ago: wheel-spinning. A perfect quiz ten days ago (the
        # old evidence has faded to 8 * 0.5 ** (80 / 14) = 0.152): score (0.076 + 1) / 1.152 = 0.934
        # with a graded success and a weight over 1 — proficient, which ends the episode.
        long_ago = datetime.now(UTC) - timedelta(days=90)
        attempt = {"kind": ActivityKind.EXERCISE_ATTEMPT, "topic": "loops", "score": 0.5}
        await w.record(*({**attempt, "at": long_ago + timedelta(minutes=m)} for m in range(10)))
        assert ("wheel_spinning", "loops", "") in await w.alerts()
        quiz = {"kind": ActivityKind.QUIZ_SUBMISSION, "topic": "loops", "score": 1.0}
        recent = datetime.now(UTC) - timedelta(days=10)
        await w.record({**quiz, "at": recent}, {**quiz, "at": recent + timedelta(minutes=1)})
        assert ("wheel_spinning", "loops", BY_PROGRESS) in await w.alerts(RESOLVED)
        progress = await w.service.progress(w.admin, w.student.subject)
        assert next(t for t in progress.topics if t.topic == "loops").level == "PROFICIENT"
        assert progress.open_alerts == 1  # the second repeated_error episode

    run(context_pg, scenario)


def test_the_periodic_check_alerts_an_activity_drop_and_coming_back_clears_it(context_pg):
    async def scenario(w: World):
        today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
        view = {"kind": ActivityKind.CONTENT_VIEW}
        await w.record(*({**view, "at": today - timedelta(days=d)} for d in (10, 9, 8)))
        last = (today - timedelta(days=8)).date().isoformat()

        assert await w.checks.run(datetime.now(UTC), tenants=[w.tenant_id]) == 1
        assert await w.alerts() == [("activity_drop", last, "")]
        found, _ = await w.service.list_alerts(w.admin, OPEN, w.student.subject, 10, "")
        assert "No activity for 7 days" in found[0].explanation
        assert await w.checks.run(datetime.now(UTC), tenants=[w.tenant_id]) == 0  # one episode, once

        await w.record(view)  # back today: the drop is over
        assert await w.alerts() == []
        assert await w.alerts(RESOLVED) == [("activity_drop", last, BY_PROGRESS)]

    run(context_pg, scenario)


def test_an_episode_open_for_the_quiet_period_expires(context_pg):
    """The check with an injected clock: a week and a day from now."""

    async def scenario(w: World):
        await w.record(NAME_ERROR, NAME_ERROR, NAME_ERROR)
        assert await w.alerts() == [("repeated_error", "NameError", "")]

        assert await w.checks.run(datetime.now(UTC) + timedelta(days=6), tenants=[w.tenant_id]) == 0
        assert await w.alerts() == [("repeated_error", "NameError", "")]
        assert await w.checks.run(datetime.now(UTC) + timedelta(days=8), tenants=[w.tenant_id]) == 1
        assert await w.alerts() == []
        assert await w.alerts(RESOLVED) == [("repeated_error", "NameError", BY_QUIET_PERIOD)]
        assert (await w.service.progress(w.admin, w.student.subject)).open_alerts == 0
        await w.record(NAME_ERROR, NAME_ERROR, NAME_ERROR)  # still stuck: alerted again
        assert await w.alerts() == [("repeated_error", "NameError", "")]

    run(context_pg, scenario)
