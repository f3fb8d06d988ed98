"""The interventions service in-process against the real PostgreSQL (services/runtime/testing.py
`context_pg`), each test on a tenant of its own: versions following the watched folder, invalid edits
keeping the last good version, rollback and diff, the daily cap under concurrency, a decision in
flight across a policy change, the backtest over stored signals, and the delivery record."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from services.interventions import service as service_module
from services.interventions import store
from services.interventions.domain import Delivery, DeliveryOutcome, DeliveryRefused, Receipt
from services.interventions.domain.engine import Signal
from services.interventions.domain.policy import content_sha256, parse
from services.interventions.folder import PolicyFolder
from services.interventions.service import DELIVER, DELIVER_BATCH, TEACHERS, InterventionsService, SlaTracker
from services.interventions.settings import InterventionsConfig
from services.runtime.db import Database
from services.runtime.errors import FailedPrecondition, InvalidArgument, PermissionDenied, Unavailable
from services.runtime.events.outbox import Outbox
from services.runtime.jobs import Job, JobQueue
from services.runtime.testing import Caller

POLICIES = Path(__file__).resolve().parents[3] / "policies"
REVIEW = (POLICIES / "review_concept.md").read_text()


class Moodle:
    """Stands in for notify's SendMessage at the service's delivery port (clients.py): records what
    would be sent and answers with a Moodle message id; `fail` makes the next attempts fail."""

    def __init__(self) -> None:
        self.sent: list[Delivery] = []
        self.fail = 0

    async def deliver(self, delivery: Delivery) -> Receipt:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("moodle unreachable")
        self.sent.append(delivery)
        return Receipt(provider_message_id=str(1000 + len(self.sent)))


class Directory:
    """Stands in for progress's ListStudentTeachers at the service's teacher port (teachers.py):
    `classes` maps a student to their teachers; `down` makes the next lookups fail as an unreachable
    progress does (Unavailable); every call's students are recorded."""

    def __init__(self) -> None:
        self.classes: dict[str, tuple[str, ...]] = {}
        self.calls: list[list[str]] = []
        self.down = 0

    async def teachers_of(self, tenant_id: str, student_ids: Any) -> dict[str, tuple[str, ...]]:
        self.calls.append(sorted(student_ids))
        if self.down:
            self.down -= 1
            raise Unavailable("progress ListStudentTeachers: UNAVAILABLE connection refused")
        return {s: self.classes[s] for s in student_ids if s in self.classes}


class World:
    def __init__(self, db: Database, folder: Path):
        self.people = Caller()
        self.tenant = self.people.tenant_id
        self.admin = self.people.as_("admin")
        self.student = str(uuid.uuid4())
        self.teacher = str(uuid.uuid4())
        self.moodle = Moodle()
        self.sla: dict[str, float] = {}
        config = InterventionsConfig(policies_dir=str(folder))
        self.folder = PolicyFolder(folder)
        self.folder.scan()
        self.db = db
        self.directory = Directory()
        self.service = InterventionsService(
            db,
            Outbox("interventions", "interventions"),
            config,
            folder=self.folder,
            jobs=JobQueue("interventions"),
            deliverer=self.moodle,
            sla=SlaTracker(180, 3600, self.sla.__setitem__),
            teachers=self.directory,
        )

    def struggle(self, at: datetime | None = None, student: str | None = None, source: str = "") -> Signal:
        return Signal(
            id=str(uuid.uuid4()),
            tenant_id=self.tenant,
            student_id=student or self.student,
            kind="struggle.detected",
            occurred_at=at or datetime.now(UTC),
            rule="repeated_error",
            key="NameError",
            error="NameError",
            topic="loops",
            explanation="NameError 3 times in 7 minutes",
            teacher_ids=(self.teacher,),
            source=source or uuid.uuid4().hex,
        )

    async def deliver_all(self) -> None:
        """Runs the delivery jobs the decisions enqueued, as the job runner would (one attempt)."""
        async with self.db.transaction(self.tenant) as s:
            rows = (
                await s.execute(
                    sa.text("SELECT id, payload FROM interventions.jobs WHERE kind = :k"), {"k": DELIVER}
                )
            ).all()
        for row in rows:
            job = Job(
                str(row.id),
                DELIVER,
                self.tenant,
                None,
                row.payload,
                1,
                4,
                datetime.now(UTC),
                datetime.now(UTC),
            )
            async with self.db.transaction(self.tenant) as s:
                await self.service.deliver_job(job, s)
            async with self.db.transaction(self.tenant) as s:
                await s.execute(sa.text("DELETE FROM interventions.jobs WHERE id = :i"), {"i": row.id})


def run(context_pg: Any, tmp_path: Path, scenario: Callable[[World], Awaitable[None]], *files: str) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    for name in files or ("review_concept.md",):
        (folder / name).write_text((POLICIES / name).read_text())

    async def main() -> None:
        db = Database(context_pg.app_url, pool_size=12)
        try:
            await scenario(World(db, folder))
        finally:
            await db.dispose()

    asyncio.run(main())


def test_a_saved_file_becomes_a_new_version_and_an_invalid_edit_keeps_the_last_good(context_pg, tmp_path):
    async def scenario(w: World) -> None:
        first = await w.service.evaluate(w.struggle())
        (d,) = first.decisions
        assert (d.intervention, d.status, d.policy_version) == ("review_concept", "sent", 1)
        assert ("rule is repeated_error", True, "repeated_error") in [
            (t.condition, t.held, t.value) for t in d.trace
        ]
        assert d.message.startswith(
            "Hi there, you've run into NameError a few times (NameError 3 times in 7 minutes)"
        )

        path = w.folder.path / "review_concept.md"
        path.write_text(REVIEW.replace("cooldown_minutes: 120", "cooldown_minutes: 0"))
        os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)
        assert w.folder.scan()
        versions, _ = await w.service.list_versions(w.tenant, "review_concept", 0, "")
        assert [(v.version, v.source, v.deactivated_at is None) for v in versions] == [
            (2, "file", True),
            (1, "file", False),
        ]
        (d,) = (await w.service.evaluate(w.struggle())).decisions
        assert (d.status, d.policy_version) == ("sent", 2)  # cool-down 0: sent again

        path.write_text(REVIEW.replace("intervention: review_concept", "intervention: scold"))
        os.utime(path, ns=(path.stat().st_mtime_ns + 2 * 10**9,) * 2)
        assert not w.folder.scan()
        (problem,) = w.folder.problems["review_concept.md"]
        assert problem.line == 4 and "scold" in problem.message
        (d,) = (await w.service.evaluate(w.struggle())).decisions
        assert (d.status, d.policy_version) == ("sent", 2)

    run(context_pg, tmp_path, scenario)


def test_conflicting_files_the_last_modified_wins(context_pg, tmp_path):
    async def scenario(w: World) -> None:
        other = w.folder.path / "agent20.md"
        other.write_text(REVIEW.replace("urgency: 60", "urgency: 90"))
        first = w.folder.path / "review_concept.md"
        os.utime(other, ns=(first.stat().st_mtime_ns + 10**9,) * 2)
        w.folder.scan()
        (d,) = (await w.service.evaluate(w.struggle())).decisions
        assert d.urgency == 90
        os.utime(first, ns=(other.stat().st_mtime_ns + 10**9,) * 2)
        w.folder.scan()
        (d,) = (await w.service.evaluate(w.struggle(student=str(uuid.uuid4())))).decisions
        assert d.urgency == 60

    run(context_pg, tmp_path, scenario)


def test_activate_rollback_diff_and_an_invalid_policy_activates_nothing(context_pg, tmp_path):
    async def scenario(w: World) -> None:
        with pytest.raises(InvalidArgument) as caught:
            await w.service.activate(
                w.tenant, REVIEW.replace("{student_name}", "{nickname}"), "review_concept.md", "ana", ""
            )
        assert any(
            "review_concept.md:15: message.student names {nickname}" in v.description
            for v in caught.value.violations
        )
        v2 = await w.service.activate(
            w.tenant, REVIEW.replace("urgency: 60", "urgency: 70"), "review_concept.md", "ana", "more urgent"
        )
        assert (v2.version, v2.source, v2.author) == (2, "api", "ana")  # v1 is the folder's default
        text, changes = await w.service.diff(w.tenant, "review_concept", 1, 2)
        assert "-urgency: 60\n+urgency: 70" in text
        assert [(c.path, c.before, c.after) for c in changes] == [("urgency", "60", "70")]
        v3 = await w.service.rollback(w.tenant, "review_concept", 1, "ben", "too many messages")
        assert (v3.version, v3.source, v3.sha256) == (
            3,
            "rollback",
            (await w.service.get_version(w.tenant, "review_concept", 1)).sha256,
        )
        (d,) = (await w.service.evaluate(w.struggle())).decisions
        assert (d.urgency, d.policy_version) == (60, 3)
        async with w.db.transaction(w.tenant) as s:
            audited = (
                (
                    await s.execute(
                        sa.text(
                            "SELECT subject FROM interventions.outbox "
                            "WHERE subject LIKE 'audit.%' AND headers->>'learnflow-tenant' = :t"
                        ),
                        {"t": w.tenant},
                    )
                )
                .scalars()
                .all()
            )
        assert (
            audited.count("audit.interventions.policy.activated") == 2
            and "audit.interventions.policy.rolled_back" in audited
        )

    run(context_pg, tmp_path, scenario)


# Edits the review found ending in INTERNAL (the schema's validator raising on YAML's dates and
# number keys, PostgreSQL refusing NaN in the rules) or activating and then failing every decision
# (minutes compared with "ten", a template's format spec): each refused with its line, nothing stored.
RULE = "- field: rule\n      is: repeated_error"
BAD_EDITS = [
    (("title: Review the concept after repeated mistakes", "title: !!timestamp 2024-09-01"), 3, "date"),
    (("urgency: 60", "urgency: 60\n1: x"), 7, "a setting is named 1"),
    (("is: repeated_error", "is: .nan"), 12, "not a finite number"),
    ((RULE, "- field: minutes\n      at_least: .inf"), 12, "not a finite number"),
    ((RULE, '- field: minutes\n      is: "ten"'), 12, "minutes is a number"),
    (("{student_name}", "{student_name:.0f}"), 15, "writes {student_name:.0f}"),
    (("{topic} and", "{topic!x} and"), 15, "writes {topic!x}"),
]


def test_policies_json_cannot_hold_or_no_signal_can_meet_are_refused_with_their_line(context_pg, tmp_path):
    async def scenario(w: World) -> None:
        now = datetime.now(UTC)
        for (old, new), line, words in BAD_EDITS:
            content = REVIEW.replace(old, new)
            assert content != REVIEW
            policy, problems = w.service.check(content, "review_concept.md")
            assert policy is None and [(p.line, words in p.message) for p in problems] == [(line, True)]
            with pytest.raises(InvalidArgument) as caught:
                await w.service.activate(w.tenant, content, "review_concept.md", "ana", "")
            assert f"review_concept.md:{line}: " in caught.value.violations[0].description
            with pytest.raises(InvalidArgument):
                await w.service.backtest(w.tenant, content, "review_concept.md", now, now)
        versions, _ = await w.service.list_versions(w.tenant, "review_concept", 0, "")
        assert [v.version for v in versions] == [1]  # the folder's, nothing activated since
        dated = REVIEW.replace("title: Review the concept after repeated mistakes", "title: 2024-09-01")
        v2 = await w.service.activate(w.tenant, dated, "review_concept.md", "ana", "a date is text")
        assert v2.rules["title"] == "2024-09-01"

    run(context_pg, tmp_path, scenario)


def test_a_version_in_force_that_no_longer_parses_is_skipped_not_an_error(context_pg, tmp_path):
    """A version activated before parse refused format specs would fail every decision: evaluation
    leaves it out (logged) and decides by the others; rolling back to it is refused."""

    async def scenario(w: World) -> None:
        await w.service.evaluate(w.struggle())  # the folder's versions (1) in force
        broken = REVIEW.replace("{error}", "{error:.0f}")
        valid = parse(REVIEW, "review_concept.md")
        async with w.db.transaction(w.tenant) as s:
            await store.insert_version(
                s,
                w.tenant,
                replace(valid, content=broken, sha256=content_sha256(broken)),
                source="api",
                author="before the rule",
                reason="",
                now=datetime.now(UTC),
            )
        decided = (await w.service.evaluate(w.struggle(student=str(uuid.uuid4())))).decisions
        assert [(d.intervention, d.status) for d in decided] == [("teacher_alert", "sent")]
        with pytest.raises(FailedPrecondition) as caught:
            await w.service.rollback(w.tenant, "review_concept", 2, "ben", "")
        assert "review_concept.md:15: message.student writes {error:.0f}" in caught.value.message
        await w.service.rollback(w.tenant, "review_concept", 1, "ben", "the good one")
        decided = (await w.service.evaluate(w.struggle(student=str(uuid.uuid4())))).decisions
        assert sorted(d.intervention for d in decided) == ["review_concept", "teacher_alert"]

    run(context_pg, tmp_path, scenario, "review_concept.md", "teacher_alert.md")


def _looping(depth: int = 8) -> str:
    """A CEL condition of 10^depth steps: `[0,...,0].all(a, [0,...,0].all(b, ... true))`."""
    ten = "[" + ",".join("0" * 10) + "]"
    expression = "true"
    for name in "abcdefgh"[:depth]:
        expression = f"{ten}.all({name},{expression})"
    return expression


def test_an_expression_that_loops_is_refused_and_a_stored_one_is_skipped(context_pg, tmp_path):
    """A teacher's CEL condition nesting .all() over literal lists would hold the event loop for hours
    (and the student's day locked): CheckPolicy, ActivatePolicy and BacktestPolicy refuse it with its
    line, and a version stored before the rule is left out of evaluation, which decides at once."""

    async def scenario(w: World) -> None:
        looping = REVIEW.replace(RULE, f"- expression: '{_looping()}'")
        assert looping != REVIEW
        policy, problems = w.service.check(looping, "review_concept.md")
        assert policy is None and [(p.line, p.message.split(",")[0]) for p in problems] == [
            (11, "when.all.0.expression uses .all()")
        ]
        with pytest.raises(InvalidArgument) as caught:
            await w.service.activate(w.tenant, looping, "review_concept.md", "ana", "")
        assert (
            "review_concept.md:11: when.all.0.expression uses .all()"
            in caught.value.violations[0].description
        )
        now = datetime.now(UTC)
        with pytest.raises(InvalidArgument):
            await w.service.backtest(w.tenant, looping, "review_concept.md", now - timedelta(days=1), now)
        versions, _ = await w.service.list_versions(w.tenant, "review_concept", 0, "")
        assert [v.version for v in versions] == [1]  # the folder's, nothing activated

        valid = parse(REVIEW, "review_concept.md")
        async with w.db.transaction(w.tenant) as s:
            await store.insert_version(
                s,
                w.tenant,
                replace(valid, content=looping, sha256=content_sha256(looping)),
                source="api",
                author="before the rule",
                reason="",
                now=now,
            )
        started = asyncio.get_running_loop().time()
        decided = (await w.service.evaluate(w.struggle())).decisions
        assert [(d.intervention, d.status) for d in decided] == [("teacher_alert", "sent")]
        assert asyncio.get_running_loop().time() - started < 5

    run(context_pg, tmp_path, scenario, "review_concept.md", "teacher_alert.md")


def test_a_backtest_window_holding_more_signals_than_it_replays_is_refused(context_pg, tmp_path, monkeypatch):
    """The window's signals are read up to one past the cap, never all of a large tenant's years."""
    monkeypatch.setattr(service_module, "MAX_BACKTEST_SIGNALS", 3)

    async def scenario(w: World) -> None:
        start = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
        for minutes in (0, 30, 150, 300):
            await w.service.evaluate(w.struggle(start + timedelta(minutes=minutes)))
        calls: list[int] = []
        read = store.signals_between

        async def counted(session: Any, since: datetime, until: datetime, limit: int) -> Any:
            calls.append(limit)
            return await read(session, since, until, limit)

        monkeypatch.setattr(store, "signals_between", counted)
        with pytest.raises(InvalidArgument) as caught:
            await w.service.backtest(w.tenant, REVIEW, "review_concept.md", start, start + timedelta(days=1))
        assert caught.value.reason == "BACKTEST_WINDOW_TOO_LARGE" and calls == [4]
        assert (
            "2026-11-02T08:00:00+00:00 to 2026-11-03T08:00:00+00:00 holds more than 3" in caught.value.message
        )
        assert "narrow the window" in caught.value.message
        assert [v.field for v in caught.value.violations] == ["start_time", "end_time"]
        report = await w.service.backtest(
            w.tenant, REVIEW, "review_concept.md", start, start + timedelta(minutes=300)
        )
        assert report.signals == 3  # exactly the cap: replayed as before

    run(context_pg, tmp_path, scenario)


def test_the_daily_cap_is_exact_when_ten_signals_arrive_at_once(context_pg, tmp_path):
    async def scenario(w: World) -> None:
        await w.service.activate(
            w.tenant,
            REVIEW.replace("cooldown_minutes: 120", "cooldown_minutes: 0"),
            "review_concept.md",
            "ana",
            "",
        )
        now = datetime.now(UTC)
        results = await asyncio.gather(
            *(w.service.evaluate(w.struggle(now + timedelta(seconds=i))) for i in range(10))
        )
        statuses = sorted(d.status for r in results for d in r.decisions)
        assert statuses == ["sent"] * 3 + ["suppressed"] * 7
        reasons = {d.reason.split(":")[0] for r in results for d in r.decisions if d.status == "suppressed"}
        assert reasons == {"daily cap"}

    run(context_pg, tmp_path, scenario)


def test_a_decision_in_flight_completes_under_the_version_it_started_with(context_pg, tmp_path):
    async def scenario(w: World) -> None:
        signal = w.struggle()
        day = signal.occurred_at.date()
        await w.service.list_versions(w.tenant, "", 0, "")  # version 1 from the folder
        async with w.db.transaction(w.tenant) as hold:
            await hold.execute(
                sa.text(
                    "INSERT INTO interventions.student_days (tenant_id, student_id, day, sent) "
                    "VALUES (:t, :s, :d, 0)"
                ),
                {"t": w.tenant, "s": w.student, "d": day},
            )
            await hold.execute(
                sa.text("SELECT 1 FROM interventions.student_days WHERE student_id = :s FOR UPDATE"),
                {"s": w.student},
            )
            in_flight = asyncio.create_task(w.service.evaluate(signal))
            await asyncio.sleep(0.5)  # it has read the versions in force and waits for the student's row
            assert not in_flight.done()
            await w.service.activate(
                w.tenant, REVIEW.replace("urgency: 60", "urgency: 99"), "review_concept.md", "ana", ""
            )
        (d,) = (await in_flight).decisions
        assert (d.policy_version, d.urgency) == (1, 60)
        (d,) = (await w.service.evaluate(w.struggle(student=str(uuid.uuid4())))).decisions
        assert (d.policy_version, d.urgency) == (2, 99)

    run(context_pg, tmp_path, scenario)


def test_delivery_records_the_moodle_message_id_and_attempts_and_the_sla(context_pg, tmp_path):
    async def scenario(w: World) -> None:
        (d,) = (await w.service.evaluate(w.struggle())).decisions
        assert d.delivery_status == "pending"
        await w.deliver_all()
        (sent,) = w.moodle.sent
        assert (sent.recipients, sent.intervention, sent.subject) == (
            (w.student,),
            "review_concept",
            "Time to review loops",
        )
        (after,), _ = await w.service.list_decisions(w.admin, w.student, 0, "")
        assert (after.delivery_status, after.delivery_attempts, after.moodle_message_id) == (
            "sent",
            1,
            "1001",
        )
        assert w.sla[w.tenant] == 1.0
        same = await w.service.evaluate(w.struggle(source="once"))
        again = await w.service.evaluate(w.struggle(source="once"))
        assert again.signal_id == same.signal_id and [x.id for x in again.decisions] == [
            x.id for x in same.decisions
        ]

    run(context_pg, tmp_path, scenario)


def test_backtest_over_stored_signals(context_pg, tmp_path):
    async def scenario(w: World) -> None:
        start = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
        for minutes in (0, 30, 150, 300, 450):
            await w.service.evaluate(w.struggle(start + timedelta(minutes=minutes)))
        report = await w.service.backtest(
            w.tenant,
            REVIEW.replace("cooldown_minutes: 120", "cooldown_minutes: 30"),
            "review_concept.md",
            start,
            start + timedelta(days=1),
        )
        assert (report.signals, report.sent_before, report.sent_after) == (5, 3, 3)
        assert [(f.before, f.after) for f in report.flips] == [("suppressed", "sent"), ("sent", "suppressed")]
        assert report.students_affected == (w.student,)
        (live,) = [
            d
            for d in (await w.service.list_decisions(w.admin, w.student, 0, ""))[0]
            if d.signal_occurred_at == start + timedelta(minutes=30)
        ]
        assert live.status == "suppressed"  # the live path decided as the backtest's "before"
        with pytest.raises(InvalidArgument):
            await w.service.backtest(w.tenant, "nonsense", "x.md", start, start + timedelta(days=1))

    run(context_pg, tmp_path, scenario)


def test_notifys_outcomes_complete_a_queued_delivery(context_pg, tmp_path):
    """notify accepts at once (queued); its notify.delivery.sent and .read events finish the record."""

    class Notify:
        async def deliver(self, delivery: Delivery) -> Receipt:
            return Receipt(notify_delivery_id="n-1")

    async def scenario(w: World) -> None:
        w.service.deliverer = Notify()
        (d,) = (await w.service.evaluate(w.struggle())).decisions
        await w.deliver_all()
        (queued,), _ = await w.service.list_decisions(w.admin, w.student, 0, "")
        assert (queued.delivery_status, queued.delivery_attempts) == ("queued", 1)
        at = datetime.now(UTC)
        await w.service.delivery_outcome(w.tenant, d.id, "failed", attempts=2, at=at, error="one channel")
        await w.service.delivery_outcome(w.tenant, d.id, "sent", attempts=2, at=at, moodle_message_id="77")
        await w.service.delivery_outcome(w.tenant, d.id, "read", attempts=2, at=at + timedelta(minutes=1))
        (done,), _ = await w.service.list_decisions(w.admin, w.student, 0, "")
        assert (done.delivery_status, done.delivery_attempts, done.moodle_message_id) == ("read", 2, "77")
        assert done.delivered_at == at
        assert w.sla[w.tenant] == 0.0  # counted once, at its first outcome (a failure: late)

    run(context_pg, tmp_path, scenario)


def test_a_batch_of_notifys_outcomes_is_applied_as_one_after_another(context_pg, tmp_path):
    """The consumer's batch path (delivery_outcomes) records what the outcomes applied one at a time
    record: in order per decision, a failure after a send ignored, a read keeping the send's time and
    id; one audit record and one interventions.decided per final outcome."""

    class Notify:
        async def deliver(self, delivery: Delivery) -> Receipt:
            return Receipt(notify_delivery_id="n-1")

    async def scenario(w: World) -> None:
        w.service.deliverer = Notify()
        (d1,) = (await w.service.evaluate(w.struggle())).decisions
        (d2,) = (await w.service.evaluate(w.struggle(student=str(uuid.uuid4())))).decisions
        await w.deliver_all()
        at = datetime.now(UTC)

        async def published(subject: str) -> int:
            async with w.db.transaction(w.tenant) as s:
                return int(
                    (
                        await s.execute(
                            sa.text(
                                "SELECT count(*) FROM interventions.outbox WHERE subject = :s "
                                "AND headers->>'learnflow-tenant' = :t"
                            ),
                            {"s": subject, "t": w.tenant},
                        )
                    ).scalar_one()
                )

        decided_before = await published("interventions.decided")
        async with w.db.transaction(w.tenant) as s:
            await w.service.delivery_outcomes(
                s,
                [
                    DeliveryOutcome(d1.id, "failed", 2, at, error="one channel"),
                    DeliveryOutcome(d1.id, "sent", 2, at + timedelta(seconds=1), "77"),
                    DeliveryOutcome(d2.id, "sent", 1, at, "78"),
                    DeliveryOutcome(d1.id, "read", 2, at + timedelta(minutes=1)),
                    DeliveryOutcome(d2.id, "failed", 3, at, error="too late: it was sent"),
                    DeliveryOutcome(str(uuid.uuid4()), "sent", 1, at, "79"),  # no such decision
                ],
            )
        got = {d.id: d for d in (await w.service.list_decisions(w.admin, "", 0, ""))[0]}
        one, two = got[d1.id], got[d2.id]
        assert (one.delivery_status, one.delivery_attempts, one.moodle_message_id) == ("read", 2, "77")
        assert (one.delivered_at, one.delivery_error) == (at + timedelta(seconds=1), "")
        assert (two.delivery_status, two.delivery_attempts, two.moodle_message_id) == ("sent", 1, "78")
        assert two.delivered_at == at
        assert await published("audit.interventions.intervention.delivery_failed") == 1
        assert await published("audit.interventions.intervention.delivered") == 2
        assert await published("interventions.decided") - decided_before == 3

    run(context_pg, tmp_path, scenario)


def test_what_identity_said_about_the_student_sets_the_day_and_the_name(context_pg, tmp_path):
    async def scenario(w: World) -> None:
        async with w.db.transaction(w.tenant) as s:
            await w.service.set_student(s, w.tenant, w.student, "Asia/Tokyo", "Ana")
        late = datetime(2026, 12, 7, 20, 30, tzinfo=UTC)  # 05:30 on the 8th in Tokyo
        (d,) = (await w.service.evaluate(w.struggle(late))).decisions
        assert d.local_day.isoformat() == "2026-12-08"
        assert d.message.startswith("Hi Ana, you've run into NameError")
        (other,) = (await w.service.evaluate(w.struggle(late, student=str(uuid.uuid4())))).decisions
        assert other.local_day.isoformat() == "2026-12-07" and other.message.startswith("Hi there")

    run(context_pg, tmp_path, scenario)


def test_ask_teacher_tells_the_student_and_their_teachers(context_pg, tmp_path):
    async def scenario(w: World) -> None:
        def hint() -> Signal:
            return replace(w.struggle(), kind="hint.requested", rule="", key="", error="", explanation="")

        assert (await w.service.evaluate(hint())).decisions == []
        assert (await w.service.evaluate(hint())).decisions == []
        decided = (await w.service.evaluate(hint())).decisions  # the third within 20 minutes
        assert sorted(d.recipients for d in decided) == sorted([(w.student,), (w.teacher,)])
        assert {d.intervention for d in decided} == {"ask_teacher"}
        await w.deliver_all()
        by_recipient = {d.recipients: d for d in w.moodle.sent}
        assert "send your teacher a message" in by_recipient[(w.student,)].message
        assert "may ask you for help" in by_recipient[(w.teacher,)].message
        # On the teachers' channels, not the student's.
        assert not by_recipient[(w.student,)].to_teachers and by_recipient[(w.teacher,)].to_teachers

    run(context_pg, tmp_path, scenario, "ask_teacher.md")


def test_repeated_hint_requests_arriving_at_once_are_counted_exactly(context_pg, tmp_path):
    """Three hint requests decided concurrently (the consumer decides several batches at once): each
    counts the others that committed before it, so exactly one of them is the third and asks the
    teacher; without the student's lock around the count each would see fewer than three."""

    async def scenario(w: World) -> None:
        at = datetime.now(UTC)

        def hint(i: int) -> Signal:  # one moment for all three: none is "before" another
            return replace(
                w.struggle(at),
                kind="hint.requested",
                rule="",
                key="",
                error="",
                explanation="",
                teacher_ids=(),
            )

        for _round in range(3):  # a race lost once in a while would pass once: try it a few times
            w.student = str(uuid.uuid4())
            results = await asyncio.gather(*(w.service.evaluate(hint(i)) for i in range(3)))
            decided = [d for r in results for d in r.decisions]
            # The student's ask_teacher, and its note to teachers still to be looked up (no recipients).
            mine = [d for d in decided if d.recipients]
            assert [(d.intervention, d.status, d.recipients) for d in mine] == [
                ("ask_teacher", "sent", (w.student,))
            ]
            assert [(d.intervention, d.delivery_status) for d in decided if not d.recipients] == [
                ("ask_teacher", "pending")
            ]
            assert any(s.held and s.value == "3 times (topic loops)" for s in mine[0].trace)

    run(context_pg, tmp_path, scenario, "ask_teacher.md")


# --- the consumers' set-based path (evaluate_batch) -------------------------------------------------


def _script(w: World, students: list[str], start: datetime) -> list[Signal]:
    """A morning of several students' signals, in arrival order: struggles (review_concept with its
    cool-down, teacher_alert), hint requests (ask_teacher on the third within 20 minutes, then its
    cool-down), long work (calm_break) and enough of it for one student to reach the daily cap, one
    arriving late (an earlier signal time than the one before)."""
    a, b, c = students

    def at(minutes: float) -> datetime:
        return start + timedelta(minutes=minutes)

    def hint(student: str, minutes: float, topic: str = "loops") -> Signal:
        return replace(
            w.struggle(at(minutes), student=student),
            kind="hint.requested",
            rule="",
            key="",
            error="",
            explanation="",
            topic=topic,
            teacher_ids=(),
        )

    def work(student: str, minutes: float, length: float) -> Signal:
        return replace(hint(student, minutes), kind="work.session", topic="", minutes=length)

    return [
        w.struggle(at(0), student=a),
        hint(b, 1),
        hint(b, 2),
        work(c, 3, 50),
        hint(b, 4),  # b's third: ask_teacher
        w.struggle(at(5), student=a),  # review_concept in its cool-down
        hint(b, 6),  # ask_teacher in its cool-down
        hint(a, 7, "lists"),
        work(a, 8, 60),
        hint(a, 6.5, "lists"),  # late: signal time before the previous one
        hint(a, 9, "lists"),  # a's third on lists: ask_teacher (a's third of the day)
        work(a, 400, 90),  # calm_break's cool-down is over, the daily cap is not
        w.struggle(at(401), student=c),
        hint(c, 402),
    ]


def _outcome(decisions: list[Any], students: list[str]) -> list[tuple[Any, ...]]:
    who = {s: f"student{i}" for i, s in enumerate(students)}
    return sorted(
        (
            who[d.student_id],
            d.signal_occurred_at,
            d.policy_id,
            d.status,
            d.reason.replace(d.student_id, who[d.student_id]),
            d.message,
            d.local_day,
            tuple(who.get(r, r) for r in d.recipients),
        )
        for d in decisions
    )


def test_a_batch_decides_as_the_signals_taken_one_after_another(context_pg, tmp_path):
    """The consumers' set-based path against the one-signal path on the same script (each on
    students of its own): every decision the same, with the same reason, message and recipients;
    the signals, decision events and delivery jobs stored alike."""

    async def scenario(w: World) -> None:
        start = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
        one_by_one = [str(uuid.uuid4()) for _ in range(3)]
        batched = [str(uuid.uuid4()) for _ in range(3)]
        alone = []
        for sig in _script(w, one_by_one, start):
            alone += (await w.service.evaluate(sig)).decisions
        script = _script(w, batched, start)
        async with w.db.transaction(w.tenant) as s:
            stored = await w.service.evaluate_batch(s, script[:6])
        async with w.db.transaction(w.tenant) as s:  # a second batch carries on from the first
            stored += await w.service.evaluate_batch(s, script[6:])
        async with w.db.transaction(w.tenant) as s:
            together = [d for student in batched for d in await _decisions_of(s, student)]
            payloads = (
                await s.execute(
                    sa.text(
                        "SELECT kind, payload FROM interventions.jobs WHERE tenant_id = CAST(:t AS uuid)"
                    ),
                    {"t": w.tenant},
                )
            ).all()
            # One job per batch with sent decisions (BatchSendMessages), or per decision when alone;
            # ask_teacher's notes to teachers the hints did not name wait for the teacher lookup's.
            batched_ids = {d.id for d in together}
            jobs = [
                i
                for kind, payload in payloads
                for i in (
                    payload["decision_ids"] if kind in (DELIVER_BATCH, TEACHERS) else [payload["decision_id"]]
                )
                if i in batched_ids
            ]
            events = (
                await s.execute(
                    sa.text(
                        "SELECT count(*) FROM interventions.outbox WHERE subject = 'interventions.decided' "
                        "AND headers->>'learnflow-tenant' = :t"
                    ),
                    {"t": w.tenant},
                )
            ).scalar_one()
            signals = (
                await s.execute(
                    sa.text("SELECT count(*) FROM interventions.signals WHERE student_id = ANY(:s)"),
                    {"s": batched},
                )
            ).scalar_one()
        assert stored == len(together) == len(alone)
        assert _outcome(together, batched) == _outcome(alone, one_by_one)
        sent = [d for d in together if d.status == "sent"]
        assert {d.policy_id for d in sent} == {"review_concept", "teacher_alert", "ask_teacher", "calm_break"}
        assert any(d.reason.startswith("daily cap") for d in together)
        assert any(d.reason.startswith("cool-down") for d in together)
        assert sorted(jobs) == sorted(d.id for d in sent) and signals == len(script)
        assert events == len(alone) + len(together)  # one per decision of both paths, none delivered yet

    run(
        context_pg,
        tmp_path,
        scenario,
        "review_concept.md",
        "ask_teacher.md",
        "calm_break.md",
        "teacher_alert.md",
    )


async def _decisions_of(session: Any, student: str) -> list[Any]:
    from services.interventions import store

    found = await store.list_decisions(session, student, limit=1000, after=None)
    return list(found)


def test_a_redelivered_batch_decides_nothing_twice(context_pg, tmp_path):
    async def scenario(w: World) -> None:
        signals = [w.struggle(source=f"event:{uuid.uuid4()}") for _ in range(2)]
        async with w.db.transaction(w.tenant) as s:
            first = await w.service.evaluate_batch(s, signals)
        async with w.db.transaction(w.tenant) as s:
            again = await w.service.evaluate_batch(s, [replace(x, id=str(uuid.uuid4())) for x in signals])
        assert (first, again) == (2, 0)  # review_concept, then its cool-down suppresses the second

    run(context_pg, tmp_path, scenario)


def test_concurrent_batches_keep_the_cap_exact_and_do_not_deadlock(context_pg, tmp_path):
    """Four batches at once, each with the same students in a different order (the consumer decides
    batches concurrently): the student rows are locked in one order, so none deadlocks, and the cap
    holds across them."""

    async def scenario(w: World) -> None:
        await w.service.activate(
            w.tenant,
            REVIEW.replace("cooldown_minutes: 120", "cooldown_minutes: 0"),
            "review_concept.md",
            "ana",
            "",
        )
        students = [str(uuid.uuid4()) for _ in range(4)]
        now = datetime.now(UTC)

        async def batch(n: int) -> int:
            order = students[n:] + students[:n]
            signals = [w.struggle(now + timedelta(seconds=n), student=s) for s in order for _ in range(2)]
            async with w.db.transaction(w.tenant) as s:
                return await w.service.evaluate_batch(s, signals)

        assert sum(await asyncio.gather(*(batch(n) for n in range(4)))) == 4 * 4 * 2
        async with w.db.transaction(w.tenant) as s:
            for student in students:
                statuses = sorted(d.status for d in await _decisions_of(s, student))
                assert statuses == ["sent"] * 3 + ["suppressed"] * 5, student

    run(context_pg, tmp_path, scenario)


class BatchMoodle(Moodle):
    """A port with deliver_many (notify's BatchSendMessages): refuses a whole call when one
    recipient is unknown, as notify does."""

    def __init__(self, unknown: set[str]) -> None:
        super().__init__()
        self.unknown = unknown
        self.calls: list[int] = []

    async def deliver_many(self, deliveries: list[Delivery]) -> list[Receipt]:
        self.calls.append(len(deliveries))
        if any(r in self.unknown for d in deliveries for r in d.recipients):
            raise DeliveryRefused("notify BatchSendMessages: INVALID_ARGUMENT unknown recipient")
        return [await self.deliver(d) for d in deliveries]

    async def deliver(self, delivery: Delivery) -> Receipt:
        if any(r in self.unknown for r in delivery.recipients):
            raise DeliveryRefused("notify SendMessage: INVALID_ARGUMENT unknown recipient")
        return await super().deliver(delivery)


async def _run_jobs(w: World) -> list[str]:
    """Runs the due delivery jobs of both kinds once (as the job runner would); the kinds run."""
    ran: list[str] = []
    while True:
        async with w.db.transaction(w.tenant) as s:
            rows = (
                await s.execute(
                    sa.text(
                        "SELECT id, kind, payload FROM interventions.jobs WHERE kind = ANY(:k) "
                        "AND tenant_id = CAST(:t AS uuid) ORDER BY created_at"
                    ),
                    {"k": [DELIVER, DELIVER_BATCH], "t": w.tenant},
                )
            ).all()
        if not rows:
            return ran
        for row in rows:
            job = Job(
                str(row.id), row.kind, w.tenant, None, row.payload, 1, 4, datetime.now(UTC), datetime.now(UTC)
            )
            async with w.db.transaction(w.tenant) as s:
                handler = w.service.deliver_batch_job if row.kind == DELIVER_BATCH else w.service.deliver_job
                await handler(job, s)
                await s.execute(sa.text("DELETE FROM interventions.jobs WHERE id = :i"), {"i": row.id})
            ran.append(row.kind)


def test_a_batchs_decisions_are_delivered_in_one_call_and_a_refusal_fails_only_its_decision(
    context_pg, tmp_path
):
    async def scenario(w: World) -> None:
        bad = str(uuid.uuid4())
        w.moodle = w.service.deliverer = BatchMoodle({bad})
        good = [str(uuid.uuid4()) for _ in range(3)]
        async with w.db.transaction(w.tenant) as s:
            await w.service.evaluate_batch(s, [w.struggle(student=g) for g in good])
        assert await _run_jobs(w) == [DELIVER_BATCH]
        assert w.moodle.calls == [6]  # three students' review_concept and their teacher alerts, one call
        async with w.db.transaction(w.tenant) as s:
            done = [d for g in good for d in await _decisions_of(s, g)]
        assert {(d.delivery_status, d.moodle_message_id != "") for d in done} == {("sent", True)}

        # One unknown student in the batch: notify refuses the call; each decision is then delivered
        # alone, so only the unknown student's fails.
        others = [str(uuid.uuid4()) for _ in range(2)]
        async with w.db.transaction(w.tenant) as s:
            await w.service.evaluate_batch(s, [w.struggle(student=x) for x in [*others, bad]])
        assert sorted(await _run_jobs(w)) == [DELIVER] * 6 + [DELIVER_BATCH]
        async with w.db.transaction(w.tenant) as s:
            status = {
                (d.student_id, d.intervention): (d.delivery_status, d.delivery_error)
                for x in [*others, bad]
                for d in await _decisions_of(s, x)
            }
        assert status[(bad, "review_concept")][0] == "failed"
        assert "unknown recipient" in status[(bad, "review_concept")][1]
        assert all(v[0] == "sent" for (student, _), v in status.items() if student != bad)

    run(context_pg, tmp_path, scenario, "review_concept.md", "teacher_alert.md")


# --- ask_teacher's note when the signal names no teachers (tutoring's events) -----------------------


async def _run_kind(w: World, kind: str, *, attempts: int = 1, max_attempts: int = 4) -> list[Exception]:
    """Runs the due jobs of one kind once, as the runner would: a job whose handler raises stays
    queued (its failure is returned), one that succeeds is done."""
    failures: list[Exception] = []
    async with w.db.transaction(w.tenant) as s:
        rows = (
            await s.execute(
                sa.text(
                    "SELECT id, payload FROM interventions.jobs WHERE kind = :k "
                    "AND tenant_id = CAST(:t AS uuid) ORDER BY created_at"
                ),
                {"k": kind, "t": w.tenant},
            )
        ).all()
    handlers = {
        DELIVER: w.service.deliver_job,
        DELIVER_BATCH: w.service.deliver_batch_job,
        TEACHERS: w.service.teachers_job,
    }
    for row in rows:
        job = Job(
            str(row.id),
            kind,
            w.tenant,
            None,
            row.payload,
            attempts,
            max_attempts,
            datetime.now(UTC),
            datetime.now(UTC),
        )
        try:
            async with w.db.transaction(w.tenant) as s:
                await handlers[kind](job, s)
                await s.execute(sa.text("DELETE FROM interventions.jobs WHERE id = :i"), {"i": row.id})
        except Exception as exc:
            failures.append(exc)
    return failures


def _hint(w: World, student: str, at: datetime) -> Signal:
    """tutoring's hint as the consumer reads it: no teachers named."""
    return Signal(
        id=str(uuid.uuid4()),
        tenant_id=w.tenant,
        student_id=student,
        kind="hint.requested",
        occurred_at=at,
        topic="loops",
        source=f"event:{uuid.uuid4()}",
    )


def test_ask_teacher_notes_of_tutorings_signals_find_the_teachers_in_one_call(context_pg, tmp_path):
    """Two students each ask for a third hint in one consumed batch; the signals name no teachers.
    The students' messages are decided and delivered at once, progress unreachable or not; the two
    notes wait for one teacher lookup for both students, retried while progress is away; then the
    student with a class has their teacher told, the one without is suppressed "no recipient"."""

    async def scenario(w: World) -> None:
        taught, alone = str(uuid.uuid4()), str(uuid.uuid4())
        w.directory.classes = {taught: (w.teacher,)}
        w.directory.down = 1
        at = datetime.now(UTC)
        batch = [_hint(w, s, at + timedelta(seconds=i)) for i in range(3) for s in (taught, alone)]
        async with w.db.transaction(w.tenant) as s:
            assert await w.service.evaluate_batch(s, batch) == 4
        assert w.directory.calls == []  # nothing asked on the decision's path

        # The students' own messages go out without waiting for the lookup.
        assert await _run_kind(w, DELIVER_BATCH) == []
        assert sorted(d.recipients for d in w.moodle.sent) == sorted([(taught,), (alone,)])

        # progress unreachable: the lookup job fails (to be retried), the notes still wait.
        (failure,) = await _run_kind(w, TEACHERS, attempts=1, max_attempts=12)
        assert isinstance(failure, Unavailable)
        async with w.db.transaction(w.tenant) as s:
            notes = [d for x in (taught, alone) for d in await _decisions_of(s, x) if not d.recipients]
        assert [(d.status, d.delivery_status) for d in notes] == [("sent", "pending")] * 2

        # Back: one call for both students.
        assert await _run_kind(w, TEACHERS, attempts=2, max_attempts=12) == []
        assert w.directory.calls == [sorted([taught, alone])] * 2
        assert await _run_kind(w, DELIVER) == []
        (note,) = [d for d in w.moodle.sent if d.to_teachers]
        assert note.recipients == (w.teacher,) and "may ask you for help" in note.message
        async with w.db.transaction(w.tenant) as s:
            (told,) = [d for d in await _decisions_of(s, taught) if d.recipients == (w.teacher,)]
            (nobody,) = [d for d in await _decisions_of(s, alone) if d.status == "suppressed"]
        assert (told.intervention, told.delivery_status) == ("ask_teacher", "sent")
        assert nobody.reason.startswith("no recipient: progress knows no teacher")
        assert nobody.delivery_status == "not_sent"

    run(context_pg, tmp_path, scenario, "ask_teacher.md")


def test_a_teacher_note_fails_with_the_reason_when_progress_stays_away(context_pg, tmp_path):
    async def scenario(w: World) -> None:
        w.directory.down = 100
        at = datetime.now(UTC)
        async with w.db.transaction(w.tenant) as s:
            await w.service.evaluate_batch(
                s, [_hint(w, w.student, at + timedelta(seconds=i)) for i in range(3)]
            )
        assert await _run_kind(w, TEACHERS, attempts=12, max_attempts=12) == []  # the last attempt
        async with w.db.transaction(w.tenant) as s:
            (note,) = [d for d in await _decisions_of(s, w.student) if not d.recipients]
            (mine,) = [d for d in await _decisions_of(s, w.student) if d.recipients]
        assert note.delivery_status == "failed"
        assert note.delivery_error.startswith("the student's teachers could not be looked up in progress")
        assert mine.status == "sent"  # the student's message is not affected

    run(context_pg, tmp_path, scenario, "ask_teacher.md")


# --- work sessions: the producer of work.session (calm_break) ----------------------------------------

MORNING = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # within calm_break's 07:00-23:00 (UTC student)


def _run_signal(w: World, at: datetime, student: str | None = None, source: str = "") -> Signal:
    return Signal(
        id=str(uuid.uuid4()),
        tenant_id=w.tenant,
        student_id=student or w.student,
        kind="sandbox.executed",
        occurred_at=at,
        topic="loops",
        key="loops",
        verdict="ok",
        source=source or f"event:{uuid.uuid4()}",
    )


async def _consume(w: World, batch: list[Signal]) -> None:
    """What the consumers' batch handler does (app.py batch_of): track the work, then decide all."""
    async with w.db.transaction(w.tenant) as s:
        produced = await w.service.track_work(s, batch)
        await w.service.evaluate_batch(s, [*batch, *produced])


async def _work_signals(w: World, student: str | None = None) -> list[Any]:
    async with w.db.transaction(w.tenant) as s:
        rows = await s.execute(
            sa.text(
                "SELECT key, source, minutes, occurred_at FROM interventions.signals "
                "WHERE kind = 'work.session' AND student_id = :s ORDER BY occurred_at"
            ),
            {"s": student or w.student},
        )
        return list(rows)


def test_uninterrupted_work_brings_calm_break_with_its_duration_once_per_session(context_pg, tmp_path):
    async def scenario(w: World) -> None:
        runs = [_run_signal(w, MORNING + timedelta(minutes=5 * i)) for i in range(11)]  # 10:00 .. 10:50
        for start in range(0, len(runs), 3):
            await _consume(w, runs[start : start + 3])
        (work,) = await _work_signals(w)
        assert (work.minutes, work.occurred_at) == (45.0, MORNING + timedelta(minutes=45))
        assert work.source == f"work.session:{work.key}:45"
        async with w.db.transaction(w.tenant) as s:
            (calm,) = [d for d in await _decisions_of(s, w.student) if d.intervention == "calm_break"]
        assert calm.status == "sent" and "working hard for 45 minutes" in calm.message

        # The same events again (a redelivery): the session has signalled 45 already.
        await _consume(w, [replace(r, id=str(uuid.uuid4())) for r in runs])
        assert len(await _work_signals(w)) == 1

        # A gap of 15 minutes (> 10) starts a new session: its own 45 minutes, its own signal, which
        # calm_break's cool-down (180 minutes) suppresses.
        later = [_run_signal(w, MORNING + timedelta(minutes=65 + 5 * i)) for i in range(10)]  # 11:05 .. 11:50
        await _consume(w, later)
        first, second = await _work_signals(w)
        assert first.key != second.key and second.minutes == 45.0
        assert second.occurred_at == MORNING + timedelta(minutes=110)
        async with w.db.transaction(w.tenant) as s:
            calms = [d for d in await _decisions_of(s, w.student) if d.intervention == "calm_break"]
        assert sorted(d.status for d in calms) == ["sent", "suppressed"]

    run(context_pg, tmp_path, scenario, "calm_break.md")


def test_a_threshold_is_signalled_once_when_batches_of_one_session_run_at_once(context_pg, tmp_path):
    """Four batches of one student's runs decided concurrently (in_flight > 1): each would see the
    session cross 45 minutes; the locked session row lets exactly one signal it."""

    async def scenario(w: World) -> None:
        for _round in range(3):
            w.student = str(uuid.uuid4())
            await _consume(w, [_run_signal(w, MORNING)])
            batches = [
                # Each batch alone is one unbroken stretch (no gap of 10 minutes) from 10:00 past 10:45.
                [_run_signal(w, MORNING + timedelta(minutes=m + n)) for m in (5, 14, 23, 32, 41, 46)]
                for n in range(4)
            ]
            await asyncio.gather(*(_consume(w, b) for b in reversed(batches)))  # the latest first
            (work,) = await _work_signals(w)
            assert work.minutes >= 45
            # No batch's update lost: the session spans them all.
            async with w.db.transaction(w.tenant) as s:
                row = (
                    await s.execute(
                        sa.text(
                            "SELECT session_id, started_at, last_activity_at, signalled "
                            "FROM interventions.work_sessions WHERE student_id = :s"
                        ),
                        {"s": w.student},
                    )
                ).one()
            assert (str(row.session_id), row.signalled) == (work.key, [45.0])
            assert (row.started_at, row.last_activity_at) == (MORNING, MORNING + timedelta(minutes=49))
            async with w.db.transaction(w.tenant) as s:
                calms = [d for d in await _decisions_of(s, w.student) if d.intervention == "calm_break"]
            assert [d.status for d in calms] == ["sent"]

    run(context_pg, tmp_path, scenario, "calm_break.md")


def test_a_teacher_acts_only_on_the_students_of_their_classes(context_pg, tmp_path):
    """progress's rule (docs/progress-model.md, "Who sees whom") on interventions: a teacher reads and
    evaluates the interventions of their classes' students only; any other id — another class's
    student, an id of nobody — is PERMISSION_DENIED before anything is read or stored, and a teacher
    names no teachers. Admins and services act on every student of the tenant."""

    async def scenario(w: World) -> None:
        teacher = w.people.as_("teacher", subject=w.teacher)
        service = w.people.as_("service", subject="workload:mtss")
        stranger = str(uuid.uuid4())  # a student of no class of this teacher's
        w.directory.classes = {w.student: (w.teacher,), stranger: (str(uuid.uuid4()),)}
        mine = replace(w.struggle(), teacher_ids=())

        (d,) = (await w.service.evaluate_for(teacher, mine)).decisions
        assert (d.student_id, d.status) == (w.student, "sent")
        (read,), _ = await w.service.list_decisions(teacher, w.student, 0, "")
        assert read.id == d.id

        for other in (stranger, str(uuid.uuid4()), "not-a-user-id"):
            with pytest.raises(PermissionDenied) as denied:
                await w.service.list_decisions(teacher, other, 0, "")
            assert denied.value.reason == "NOT_YOUR_STUDENT"
            with pytest.raises(PermissionDenied) as denied:
                await w.service.evaluate_for(teacher, replace(mine, student_id=other, source=other))
            assert denied.value.reason == "NOT_YOUR_STUDENT"
        with pytest.raises(PermissionDenied) as denied:  # naming teachers, even for their own student
            await w.service.evaluate_for(teacher, replace(w.struggle(), source="named"))
        assert (denied.value.reason, denied.value.metadata) == (
            "TEACHER_IDS_NOT_ALLOWED",
            {"field": "signal.teacher_ids"},
        )
        # Nothing was stored for the refused signals: the stranger's day is untouched.
        assert (await w.service.list_decisions(w.admin, stranger, 0, ""))[0] == []
        async with w.db.transaction(w.tenant) as s:
            stored = (
                await s.execute(sa.text("SELECT count(*) FROM interventions.signals WHERE source = 'named'"))
            ).scalar_one()
        assert stored == 0

        # An admin and a service: any student, teachers named.
        (theirs,) = (await w.service.evaluate_for(w.admin, w.struggle(student=stranger))).decisions
        assert theirs.status == "sent"
        (anyones,) = (await w.service.evaluate_for(service, w.struggle(student=str(uuid.uuid4())))).decisions
        assert anyones.status == "sent"
        (seen,), _ = await w.service.list_decisions(w.admin, stranger, 0, "")
        assert seen.id == theirs.id
        # progress unreachable: a teacher is refused with UNAVAILABLE, never let through.
        w.directory.down = 1
        with pytest.raises(Unavailable):
            await w.service.list_decisions(teacher, w.student, 0, "")

    run(context_pg, tmp_path, scenario)


def test_a_teachers_list_without_a_student_holds_only_their_students(context_pg, tmp_path, monkeypatch):
    """ListDecisions without a student: an admin reads the tenant's decisions, a teacher those of their
    classes' students only, newest first; the teacher's pages read the table a chunk at a time (here
    3 decisions, at most 2 chunks a page), so a page may be short, and paging on finds the rest."""
    monkeypatch.setattr(service_module, "SCAN_CHUNK", 3)
    monkeypatch.setattr(service_module, "SCAN_CHUNKS", 2)

    async def scenario(w: World) -> None:
        teacher = w.people.as_("teacher", subject=w.teacher)
        others = [str(uuid.uuid4()) for _ in range(4)]
        second = str(uuid.uuid4())  # another student of the teacher's
        w.directory.classes = {w.student: (w.teacher,), second: ("someone", w.teacher)}
        start = datetime.now(UTC) - timedelta(days=1)
        order = [w.student, *others, *others, second, *others, w.student]
        for i, student in enumerate(order):  # a cool-down of 0 would not matter: each is a decision
            await w.service.evaluate(w.struggle(start + timedelta(minutes=i), student=student))

        everyone, token = await w.service.list_decisions(w.admin, "", 100, "")
        assert len(everyone) == len(order) and token == ""
        expected = [d.id for d in everyone if d.student_id in (w.student, second)]
        assert len(expected) == 3

        seen: list[str] = []
        pages = 0
        token = ""
        while True:
            page, token = await w.service.list_decisions(teacher, "", 2, token)
            assert len(page) <= 2
            seen += [d.id for d in page]
            pages += 1
            if not token:
                break
        assert seen == expected and pages >= 3

    run(context_pg, tmp_path, scenario)
