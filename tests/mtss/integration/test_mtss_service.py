"""mtss's rules, the service in-process against the real PostgreSQL (`context_pg`), each test on a
tenant of its own and a clock the test moves: sessions from templates across DST, refusals that name
the double-booked sessions, reassignment and withdrawal mid-cycle, template versions, enrollment from
a risk list, six weeks of attendance and scores through to a confirmed exit, and the Ed-Fi round trip.
The API, REST, events and roles through the mesh are in test_mtss_api.py."""

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest

from services.mtss.domain import programs as p
from services.mtss.domain.schedule import Schedule
from services.mtss.service import MtssService
from services.mtss.settings import MtssConfig
from services.runtime.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from services.runtime.events.outbox import Outbox
from services.runtime.testing import Caller, service_database

NY = "America/New_York"
MONDAY = date(2026, 9, 7)  # a Monday; New York leaves daylight saving on 1 November 2026


class Clock:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


class Directory:
    """identity's answer about the tenant's users and their roles."""

    def __init__(self):
        self.roles: dict[str, frozenset[str]] = {}

    def add(self, *roles: str) -> str:
        uid = str(uuid.uuid4())
        self.roles[uid] = frozenset(roles)
        return uid

    async def roles_of(self, tenant_id: str, ids: list[str]) -> dict[str, frozenset[str]]:
        return {i.lower(): self.roles[i.lower()] for i in ids if i.lower() in self.roles}


class World:
    def __init__(self, db):
        self.people = Caller()
        self.directory = Directory()
        self.teacher_id = self.directory.add("teacher")
        self.teacher = self.people.as_("teacher", subject=self.teacher_id)
        self.admin = self.people.as_("admin")
        self.f1 = self.directory.add("facilitator")
        self.f2 = self.directory.add("facilitator")
        self.students = [self.directory.add("student") for _ in range(4)]
        self.clock = Clock(datetime(2026, 9, 1, 12, tzinfo=UTC))
        self.service = MtssService(
            db, Outbox("mtss", "mtss"), MtssConfig(), directory=self.directory, now=self.clock
        )

    def new(self, **kw) -> p.NewIntervention:
        base = dict(
            template_key="reading-group",
            template_version=1,
            name="Reading group A",
            objectives=("Read 60 words correct per minute",),
            owner_id=self.teacher_id,
            facilitator_ids=(self.f1,),
            room="Room 12",
            goal=p.GoalSpec("", 20, 50, MONDAY + timedelta(weeks=10)),
            begin_date=MONDAY,
            end_date=MONDAY + timedelta(weeks=12) - timedelta(days=1),
            schedule=Schedule(
                "FREQ=WEEKLY;BYDAY=MO,WE,FR", time(9, 0), 30, NY, holidays=(date(2026, 10, 12),)
            ),
        )
        base.update(kw)
        return p.NewIntervention(**base)


def run(context_pg, scenario):
    async def main():
        async with service_database(context_pg) as db:
            await scenario(World(db))

    asyncio.run(main())


def test_a_program_from_a_template_makes_its_sessions_in_the_school_zone_across_dst(context_pg):
    async def scenario(w: World):
        made, count = await w.service.create_intervention(w.teacher, w.new())
        assert count == 12 * 3 - 1  # three a week for twelve weeks, less the 12 October holiday
        assert (made.template_key, made.template_version, made.minutes_per_week) == ("reading-group", 1, 90)
        assert made.goal.measure == "words correct per minute"  # from the template
        sessions = await w.service.list_sessions(w.teacher, made.id)
        assert date(2026, 10, 12) not in {s.local_date for s in sessions}
        before = next(s for s in sessions if s.local_date == date(2026, 10, 30))
        after = next(s for s in sessions if s.local_date == date(2026, 11, 2))
        assert (before.starts_at.hour, after.starts_at.hour) == (13, 14)  # 09:00 EDT, then 09:00 EST
        assert {s.facilitator_id for s in sessions} == {w.f1} and {s.room for s in sessions} == {"Room 12"}

    run(context_pg, scenario)


def test_missing_objective_owner_and_schedule_are_refused_and_nothing_is_made(context_pg):
    async def scenario(w: World):
        with pytest.raises(InvalidArgument) as err:
            await w.service.create_intervention(w.teacher, w.new(objectives=(), owner_id="", schedule=None))
        fields = {v.field for v in err.value.violations}
        assert {"intervention.objectives", "intervention.owner_id", "intervention.schedule"} <= fields
        with pytest.raises(InvalidArgument) as err:  # an owner who is a student is no owner
            await w.service.create_intervention(w.teacher, w.new(owner_id=w.students[0]))
        assert {v.field for v in err.value.violations} == {"intervention.owner_id"}
        conflicts, scanned = await w.service.scan_conflicts(w.teacher, None, None)
        assert (conflicts, scanned) == ([], 0)  # no session was stored

    run(context_pg, scenario)


def test_a_double_booking_is_refused_naming_the_sessions(context_pg):
    async def scenario(w: World):
        first, _ = await w.service.create_intervention(w.teacher, w.new())
        # Same room on Mondays at 09:15: every Monday overlaps; refused before anything is stored.
        with pytest.raises(FailedPrecondition) as err:
            await w.service.create_intervention(
                w.teacher,
                w.new(
                    name="Math",
                    facilitator_ids=(w.f2,),
                    schedule=Schedule("FREQ=WEEKLY;BYDAY=MO", time(9, 15), 30, NY),
                ),
            )
        assert err.value.reason == "SCHEDULE_CONFLICT"
        first_sessions = await w.service.list_sessions(w.teacher, first.id)
        monday = next(s for s in first_sessions if s.local_date == MONDAY)
        assert (
            monday.id in err.value.metadata["conflicts"]
            and "room:room 12:" in err.value.metadata["conflicts"]
        )
        # The same facilitator in another room on Wednesdays at 09:20 (length 10 minutes): refused too.
        with pytest.raises(FailedPrecondition) as err:
            await w.service.create_intervention(
                w.teacher,
                w.new(
                    name="CICO", room="Office", schedule=Schedule("FREQ=WEEKLY;BYDAY=WE", time(9, 20), 10, NY)
                ),
            )
        assert f"facilitator:{w.f1}:" in err.value.metadata["conflicts"]
        # Another room, another facilitator at the same time: fine.
        other, _ = await w.service.create_intervention(
            w.teacher,
            w.new(
                name="Math",
                room="Room 14",
                facilitator_ids=(w.f2,),
                schedule=Schedule("FREQ=WEEKLY;BYDAY=MO", time(9, 15), 30, NY),
            ),
        )
        other_monday = (await w.service.list_sessions(w.teacher, other.id))[0]
        # Moving its first session into Room 12 is refused and names the session it would double-book.
        with pytest.raises(FailedPrecondition) as err:
            await w.service.adjust_session(
                w.teacher,
                other_monday.id,
                start=None,
                room="room 12",
                facilitator_id=None,
                cancel=False,
                note="",
            )
        assert (
            f"{min(monday.id, other_monday.id)}:{max(monday.id, other_monday.id)}"
            in err.value.metadata["conflicts"]
        )
        # A student in both groups is double-booked by a move into the same hour, whatever the room.
        await w.service.enroll_students(w.teacher, first.id, [w.students[0]], "", None)
        with pytest.raises(FailedPrecondition) as err:  # enrolling them in the overlapping group too
            await w.service.enroll_students(w.teacher, other.id, [w.students[0]], "", None)
        assert "student:" + w.students[0] in err.value.metadata["conflicts"]
        # Moving the session an hour later clears the room; cancelling needs no check at all.
        moved = await w.service.adjust_session(
            w.teacher,
            other_monday.id,
            start=other_monday.starts_at + timedelta(hours=1),
            room="Room 12",
            facilitator_id=None,
            cancel=False,
            note="moved after assembly",
        )
        assert moved.room == "Room 12" and moved.ends_at - moved.starts_at == timedelta(minutes=30)
        assert (await w.service.scan_conflicts(w.teacher, None, None))[0] == []

    run(context_pg, scenario)


def test_reassignment_moves_upcoming_sessions_only_and_keeps_past_attendance(context_pg):
    async def scenario(w: World):
        made, _ = await w.service.create_intervention(w.teacher, w.new())
        await w.service.enroll_students(w.teacher, made.id, [w.students[0]], "", MONDAY)
        sessions = await w.service.list_sessions(w.teacher, made.id)
        w.clock.at = sessions[3].starts_at + timedelta(hours=2)  # four sessions have happened
        f1 = w.people.as_("facilitator", subject=w.f1)
        await w.service.record_attendance(f1, sessions[0].id, [p.Attendance("", w.students[0], "present", 0)])
        moved, updated, _ = await w.service.reassign_facilitator(w.teacher, made.id, w.f1, w.f2, None)
        assert moved == len(sessions) - 4 and updated.facilitator_ids == (w.f2,)
        after = await w.service.list_sessions(w.teacher, made.id)
        assert [s.facilitator_id for s in after[:4]] == [w.f1] * 4
        assert {s.facilitator_id for s in after[4:]} == {w.f2}
        view = await w.service.student_view(w.teacher, made.id, w.students[0])
        assert (view.dosage.sessions_attended, view.dosage.delivered_minutes) == (1, 30)
        # The old facilitator may no longer record for the new facilitator's sessions.
        with pytest.raises(PermissionDenied):
            await w.service.record_attendance(
                f1, after[5].id, [p.Attendance("", w.students[0], "present", 0)]
            )

    run(context_pg, scenario)


def test_withdrawal_mid_cycle_ends_the_enrollment_and_keeps_the_history(context_pg):
    async def scenario(w: World):
        made, _ = await w.service.create_intervention(w.teacher, w.new())
        s = w.students[0]
        with pytest.raises(InvalidArgument) as err:  # before the intervention begins
            await w.service.enroll_students(w.teacher, made.id, [s], "", MONDAY - timedelta(days=1))
        assert [v.field for v in err.value.violations] == ["begin_date"]
        await w.service.enroll_students(w.teacher, made.id, [s], "", MONDAY)
        sessions = await w.service.list_sessions(w.teacher, made.id)
        await w.service.record_attendance(
            w.teacher, sessions[0].id, [p.Attendance("", s, "present", 25, note="ok")]
        )
        await w.service.record_progress(
            w.teacher, made.id, p.ProgressEntry("", "", s, MONDAY, 22.0, 3, "baseline-ish", "")
        )
        w.clock.at = datetime(2026, 9, 21, 20, tzinfo=UTC)
        ended = await w.service.withdraw(w.teacher, made.id, s, None, "moved school")
        assert (ended.status, ended.end_date) == ("withdrawn", date(2026, 9, 21))
        # Later sessions are not the student's: attendance there is refused, a same-time group is free.
        late = next(x for x in sessions if x.local_date > date(2026, 9, 21))
        with pytest.raises(InvalidArgument):
            await w.service.record_attendance(w.teacher, late.id, [p.Attendance("", s, "present", 0)])
        view = await w.service.student_view(w.teacher, made.id, s)
        assert view.dosage.delivered_minutes == 25 and [h.note for h in view.history] == ["baseline-ish"]
        other, _ = await w.service.create_intervention(
            w.teacher, w.new(name="B", room="Room 3", facilitator_ids=(w.f2,))
        )
        assert len(await w.service.enroll_students(w.teacher, other.id, [s], "", None)) == 1

    run(context_pg, scenario)


def test_a_newer_template_version_applies_only_with_acknowledgment(context_pg):
    async def scenario(w: World):
        made, _ = await w.service.create_intervention(w.teacher, w.new())
        with pytest.raises(FailedPrecondition) as err:
            await w.service.reapply_template(w.teacher, made.id, 2, {"objectives"})
        assert err.value.metadata["changes"] == "exit,minutes_per_week,objectives"
        kept, _ = await w.service.get_intervention(w.teacher, made.id)
        assert (kept.template_version, kept.minutes_per_week) == (1, 90)
        updated, _ = await w.service.reapply_template(
            w.teacher, made.id, 2, {"exit", "minutes_per_week", "objectives"}
        )
        assert (updated.template_version, updated.minutes_per_week, updated.exit.min_weeks) == (2, 120, 8)

    run(context_pg, scenario)


def test_enrollment_from_a_risk_list_previews_then_enrolls_with_its_source(context_pg):
    async def scenario(w: World):
        made, _ = await w.service.create_intervention(w.teacher, w.new())
        a, b, c, _ = w.students
        stranger = str(uuid.uuid4())
        csv = f"student_id,risk,reason\n{a},0.9,ORF below benchmark\n{b},0.3,\n{c},0.7,\n{stranger},0.95,\n"
        preview, none = await w.service.enroll_from_risk_list(w.teacher, made.id, csv, 0.6, True, None)
        assert none == [] and [(x.student_id, x.eligible) for x in preview] == [
            (stranger, False),
            (a, True),
            (c, True),
            (b, False),
        ]
        assert await w.service.group_view(w.teacher, made.id) is not None
        assert (await w.service.group_view(w.teacher, made.id)).rows == []  # the dry run stored nothing
        _, made_now = await w.service.enroll_from_risk_list(w.teacher, made.id, csv, 0.6, False, None)
        assert {(e.student_id, e.source, e.enrolled_by) for e in made_now} == {
            (a, "risk_list", w.teacher_id),
            (c, "risk_list", w.teacher_id),
        }
        assert "ORF below benchmark" in next(e.reason for e in made_now if e.student_id == a)

    run(context_pg, scenario)


def test_six_weeks_of_attendance_and_scores_to_a_confirmed_exit(context_pg):
    async def scenario(w: World):
        made, _ = await w.service.create_intervention(w.teacher, w.new())
        good, weak = w.students[0], w.students[1]
        await w.service.enroll_students(w.teacher, made.id, [good, weak], "", MONDAY)
        f1 = w.people.as_("facilitator", subject=w.f1)
        sessions = await w.service.list_sessions(w.teacher, made.id)
        six_weeks = [s for s in sessions if s.local_date < MONDAY + timedelta(weeks=6)]
        for s in six_weeks:
            weak_status = "present" if s.local_date.weekday() == 0 else "absent"  # Mondays only
            await w.service.record_attendance(
                f1,
                s.id,
                [
                    p.Attendance("", good, "present", 0),
                    p.Attendance("", weak, weak_status, 0, reason_code="ILL"),
                ],
            )
        for week in range(1, 7):
            on = MONDAY + timedelta(weeks=week) - timedelta(days=3)  # the Friday of each week
            await w.service.record_progress(
                f1, made.id, p.ProgressEntry("", "", good, on, 20 + 6 * week + (week > 3) * 20, 4, "", "")
            )
            await w.service.record_progress(
                f1, made.id, p.ProgressEntry("", "", weak, on, 20 + 0.5 * week, 2, "", "")
            )
        w.clock.at = datetime.combine(MONDAY + timedelta(weeks=6), time(20), tzinfo=UTC)
        strong = await w.service.student_view(w.teacher, made.id, good)
        assert strong.analysis.n == 6 and strong.analysis.verdict == "raise_goal"
        assert strong.dosage.attendance_rate == 1.0 and strong.dosage.delivered_minutes == 30 * len(six_weeks)
        assert strong.decision.exit_recommended  # last three scores ≥ 50 after six weeks
        assert (
            strong.analysis.projection is not None
            and strong.analysis.projection.low < strong.analysis.projection.value
        )
        slow = await w.service.student_view(w.teacher, made.id, weak)
        assert slow.analysis.verdict == "change_instruction"
        # Delivered 6 of 18 sessions: intensifying is held back until the plan is delivered.
        assert slow.decision.recommendation == "check_fidelity" and not slow.decision.exit_recommended
        group = await w.service.group_view(f1, made.id)
        assert {r.enrollment.student_id: r.decision.recommendation for r in group.rows} == {
            good: "raise_goal",
            weak: "check_fidelity",
        }
        with pytest.raises(FailedPrecondition):
            await w.service.confirm_exit(w.teacher, made.id, weak, "")
        with pytest.raises(PermissionDenied):
            await w.service.confirm_exit(f1, made.id, good, "")
        exited, reasons = await w.service.confirm_exit(w.teacher, made.id, good, "")
        assert (exited.status, exited.exit_confirmed_by) == ("exited", w.teacher_id)
        assert "exit recommended" in reasons[-1]

    run(context_pg, scenario)


def test_facilitators_record_for_their_own_sessions_and_caregivers_read_their_own_child(context_pg):
    async def scenario(w: World):
        made, _ = await w.service.create_intervention(w.teacher, w.new())
        s = w.students[0]
        await w.service.enroll_students(w.teacher, made.id, [s], "", MONDAY)
        session = (await w.service.list_sessions(w.teacher, made.id))[0]
        stranger = w.people.as_("facilitator", subject=w.f2)
        with pytest.raises(PermissionDenied):
            await w.service.record_attendance(stranger, session.id, [p.Attendance("", s, "present", 0)])
        with pytest.raises(PermissionDenied):
            await w.service.create_intervention(stranger, w.new(name="mine"))
        parent_id = w.directory.add("caregiver")
        parent = w.people.as_("caregiver", subject=parent_id)
        with pytest.raises(PermissionDenied):
            await w.service.student_view(parent, made.id, s)
        await w.service.link_caregiver(w.admin, parent_id, s)
        assert (await w.service.student_view(parent, made.id, s)).enrollment.student_id == s
        with pytest.raises(PermissionDenied):
            await w.service.student_view(parent, made.id, w.students[1])
        # Another tenant sees nothing of it.
        other = Caller().as_("admin")
        with pytest.raises(NotFound):
            await w.service.get_intervention(other, made.id)

    run(context_pg, scenario)


def test_the_ed_fi_export_imports_into_another_tenant_and_exports_the_same(context_pg):
    async def scenario(w: World):
        made, _ = await w.service.create_intervention(w.teacher, w.new(code="RG-A"))
        s = w.students[0]
        await w.service.enroll_students(w.teacher, made.id, [s, w.students[1]], "screened", MONDAY)
        sessions = await w.service.list_sessions(w.teacher, made.id)
        # Two sessions on one day: Ed-Fi's date key could not hold both, our extension does.
        extra = await w.service.adjust_session(
            w.teacher,
            sessions[1].id,
            start=sessions[0].starts_at + timedelta(hours=3),
            room=None,
            facilitator_id=None,
            cancel=False,
            note="",
        )
        for x in (sessions[0], extra):
            await w.service.record_attendance(w.teacher, x.id, [p.Attendance("", s, "tardy", 20, note="bus")])
        w.clock.at = datetime(2026, 9, 20, tzinfo=UTC)
        await w.service.withdraw(w.teacher, made.id, w.students[1], None, "moved")
        exported = await w.service.export_edfi(w.admin)
        doc = json.loads(exported)
        assert len(doc["studentInterventionAttendanceEvents"]) == 2
        assert {e["eventDate"] for e in doc["studentInterventionAttendanceEvents"]} == {MONDAY.isoformat()}
        assert doc["interventions"][0]["interventionIdentificationCode"] == "RG-A"
        other_admin = Caller().as_("admin")
        counts = await w.service.import_edfi(other_admin, exported)
        assert (counts.interventions, counts.enrollments, counts.attendance) == (1, 2, 2)
        assert await w.service.export_edfi(other_admin) == exported
        again = await w.service.import_edfi(other_admin, exported)  # the code exists: skipped
        assert (again.interventions, again.enrollments, again.attendance) == (0, 0, 0)
        with pytest.raises(InvalidArgument):
            await w.service.import_edfi(
                other_admin,
                json.dumps(
                    {
                        "interventions": [{}],
                        "studentInterventionAssociations": [],
                        "studentInterventionAttendanceEvents": [],
                    }
                ),
            )
        ics, count = await w.service.calendar(w.people.as_("facilitator", subject=w.f1), "me")
        assert count == len(sessions) and ics.count("BEGIN:VEVENT") == count and "LOCATION:Room 12" in ics

    run(context_pg, scenario)
