"""progress's use cases. Recording an activity is one transaction (intake.py applies it, set-based,
as it applies a consumer's batch): the activity row (idempotency), the student's row locked, mastery,
streak and struggle updated in O(1), episodes cleared, expired and opened, and struggle.detected staged
in the outbox."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from services.progress import store
from services.progress.domain import Activity, check_activity
from services.progress.domain import classes as class_rules
from services.progress.domain import mastery as mastery_model
from services.progress.domain import struggle as struggle_model
from services.progress.domain.classes import Member, MembershipChange
from services.progress.domain.records import (
    ACKNOWLEDGED,
    OPEN,
    RESOLVED,
    Recorded,
    Streak,
    StruggleAlert,
    Student,
    StudentClass,
    StudentProgress,
    StudentSummary,
)
from services.progress.domain.streaks import current_streak
from services.progress.intake import Intake, risk
from services.runtime import audit, pagination
from services.runtime.db import Database
from services.runtime.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Violations,
)
from services.runtime.events.outbox import Outbox
from services.runtime.ratelimit import RateLimiter
from services.runtime.request_context import Principal

STAFF = frozenset({"teacher", "admin", "service"})
# The workloads that may read a class's summaries (ListClassSummaries), each only on behalf of a user
# who may read the class and each read audited: mtss builds its risk lists from them (issue 14).
# Any other workload is refused: the service role alone is not a reason to see a class's risks.
SUMMARY_READERS = frozenset({"workload:mtss"})
# The workloads that may learn each student's teachers (ListStudentTeachers): interventions, to tell
# the teachers of a student who keeps asking for hints that the student may ask them (issue 13).
TEACHER_READERS = frozenset({"workload:interventions"})


class UserDirectory(Protocol):
    """Who the tenant's users are (identity, asked by clients.Directory)."""

    async def members(self, tenant_id: str, ids: list[str]) -> dict[str, Member]: ...


class ProgressService:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        detector: struggle_model.StruggleDetector,
        mastery_settings: mastery_model.MasterySettings = mastery_model.DEFAULT_SETTINGS,
        directory: UserDirectory | None = None,
        per_user: RateLimiter | None = None,
    ):
        self.per_user = per_user
        self.db = db
        self.outbox = outbox
        self.directory = directory
        self.intake = Intake(outbox, detector, mastery_settings)

    # --- intake ------------------------------------------------------------------------------------

    async def record(self, caller: Principal, activity: Activity) -> Recorded:
        if not caller.has_any("service") and activity.student_id not in ("", caller.subject):
            raise PermissionDenied("students record their own activity", reason="NOT_YOUR_ACTIVITY")
        if not activity.student_id:
            activity = _with_student(activity, caller.subject)
        v = Violations()
        check_activity(v, activity)
        v.raise_if_any()
        if self.per_user is not None and not caller.has_any("service"):
            await self.per_user.take(f"{caller.tenant_id}:{caller.subject}")
        async with self.db.transaction(caller.tenant_id) as session:
            return (await self.intake.apply(session, caller.tenant_id, [activity]))[0]

    async def set_time_zone(self, session: AsyncConnection, tenant_id: str, student_id: str, tz: str) -> None:
        await store.set_time_zone(session, tenant_id, student_id, tz or "UTC")

    # --- queries -----------------------------------------------------------------------------------

    async def may_see(self, session: AsyncConnection, caller: Principal, student_id: str) -> None:
        """Students see themselves; teachers the students of their classes; admins and services all."""
        if student_id == caller.subject or caller.has_any("admin", "service"):
            return
        if caller.has_any("teacher") and caller.subject in await store.teachers_of(session, student_id):
            return
        raise PermissionDenied(
            "you may see only your own progress or your classes' students", reason="NOT_YOUR_STUDENT"
        )

    async def progress(self, caller: Principal, student_id: str) -> StudentProgress:
        student_id = caller.subject if student_id == "me" else student_id
        if not student_id:
            raise InvalidArgument("student_id is required", [FieldViolation("student_id", "is required")])
        async with self.db.transaction(caller.tenant_id) as session:
            await self.may_see(session, caller, student_id)
            student = await store.get_student(session, student_id)
            topics = await store.mastery_of(session, student_id)
            recent = await store.recent_activities(session, student_id)
        if student is None:
            # No activity yet: the defaults, for a user of the caller's tenant. Anyone else (another
            # tenant's student, an id of nobody) is NOT_FOUND, never an empty record.
            if student_id != caller.subject:
                await self._require_user(caller, student_id)
            student = Student(student_id)
        return StudentProgress(
            student_id=student_id,
            topics=tuple(topics),
            streak=_streak(student, datetime.now(UTC)),
            recent_activity=tuple(recent),
            open_alerts=student.open_alerts,
        )

    async def class_summaries(
        self,
        caller: Principal,
        class_id: str,
        page_size: int,
        page_token: str,
        order_by: str,
        on_behalf_of: str = "",
    ) -> tuple[list[StudentSummary], str]:
        """Teachers read their classes, admins any class. A workload of SUMMARY_READERS reads a class
        on behalf of a user (on_behalf_of) who could read it themselves, and the read is audited
        (class.summaries_read: who, for whom, how many students) — a narrow grant, not the service
        role's usual reach."""
        if order_by not in ("", "risk", "mastery"):
            raise InvalidArgument(
                "order_by must be risk or mastery",
                [FieldViolation("order_by", "must be 'risk' (default) or 'mastery'")],
            )
        as_workload = not caller.has_any("teacher", "admin")
        if as_workload:
            if caller.subject not in SUMMARY_READERS:
                raise PermissionDenied(
                    "this workload may not read class summaries", reason="WORKLOAD_NOT_ALLOWED"
                )
            if not on_behalf_of:
                raise InvalidArgument(
                    "on_behalf_of is required for a workload",
                    [FieldViolation("on_behalf_of", "is required: the user the summaries are read for")],
                )
        elif on_behalf_of:
            raise InvalidArgument(
                "on_behalf_of is for workloads only",
                [FieldViolation("on_behalf_of", "must be empty: users read class summaries as themselves")],
            )
        size = pagination.page_size(page_size)
        position = pagination.decode_token(page_token, v=float, s=str)
        after = (position["v"], position["s"]) if position else None
        reader = on_behalf_of.lower() if as_workload else caller.subject
        reader_is_admin = caller.has_any("admin")
        if as_workload:
            # Asked before the transaction: no connection is held while identity answers.
            found = await self._directory().members(caller.tenant_id, [reader])
            member = found.get(reader)
            reader_is_admin = member is not None and not member.disabled and "admin" in member.roles
        async with self.db.transaction(caller.tenant_id) as session:
            cls = await store.get_class(session, class_id)
            if cls is None:
                raise NotFound(f"class {class_id} not found", reason="CLASS_NOT_FOUND")
            if not reader_is_admin and reader not in cls.teacher_ids:
                raise PermissionDenied("only the class's teachers see its summary", reason="NOT_YOUR_CLASS")
            students = await store.class_summaries(
                session, cls.id, order_by=order_by or "risk", limit=size + 1, after=after
            )
            if as_workload:
                await audit.record(
                    self.outbox,
                    session,
                    "class.summaries_read",
                    f"classes/{cls.id}",
                    after={
                        "on_behalf_of": reader,
                        "students": min(len(students), size),
                        "order_by": order_by or "risk",
                    },
                )
        token = ""
        if len(students) > size:
            last = students[size - 1]
            value = last.mean_mastery if order_by == "mastery" else last.risk
            token = pagination.encode_token({"v": value, "s": last.student_id})
        now = datetime.now(UTC)
        return [_summary(s, now) for s in students[:size]], token

    async def _require_user(self, caller: Principal, user_id: str) -> None:
        """NOT_FOUND unless user_id is a user of the caller's tenant (identity decides)."""
        if not class_rules.is_uuid(user_id) or not await self._directory().members(
            caller.tenant_id, [str(uuid.UUID(user_id))]
        ):
            raise NotFound(f"student {user_id} not found", reason="STUDENT_NOT_FOUND")

    def _directory(self) -> UserDirectory:
        if self.directory is None:
            raise FailedPrecondition(
                "progress cannot ask identity who the tenant's users are", reason="NO_DIRECTORY"
            )
        return self.directory

    async def _check_members(
        self, caller: Principal, teachers: tuple[str, list[str]], students: tuple[str, list[str]]
    ) -> None:
        """INVALID_ARGUMENT, one violation per id, unless every teacher id names a teacher of the
        tenant and every student id a student. Asked before the transaction: no connection is held
        while identity answers."""
        ids = [*teachers[1], *students[1]]
        users = await self._directory().members(caller.tenant_id, ids) if ids else {}
        v = Violations()
        class_rules.check_members(v, teachers[0], teachers[1], users, "teacher")
        class_rules.check_members(v, students[0], students[1], users, "student")
        v.raise_if_any("some class members are not teachers or students of this tenant")

    async def create_class(
        self, caller: Principal, name: str, teacher_ids: list[str], student_ids: list[str]
    ) -> StudentClass:
        class_rules.may_manage_classes(caller.roles)
        if not name.strip():
            raise InvalidArgument("class.name is required", [FieldViolation("class.name", "is required")])
        teachers, students = class_rules.canonical(teacher_ids), class_rules.canonical(student_ids)
        await self._check_members(caller, ("class.teacher_ids", teachers), ("class.student_ids", students))
        async with self.db.transaction(caller.tenant_id) as session:
            created = await store.create_class(session, caller.tenant_id, name.strip(), teachers, students)
            await audit.record(
                self.outbox,
                session,
                "class.created",
                f"classes/{created.id}",
                after={"name": created.name, "teacher_ids": teachers, "student_ids": students},
            )
            return created

    async def student_teachers(self, caller: Principal, student_ids: list[str]) -> dict[str, list[str]]:
        """Each asked student's teachers (students in no class are absent), for a workload of
        TEACHER_READERS only: any other caller is refused, whatever its roles."""
        if caller.subject not in TEACHER_READERS:
            raise PermissionDenied(
                "only interventions' workload may list students' teachers", reason="WORKLOAD_NOT_ALLOWED"
            )
        wanted = sorted({s.lower() for s in student_ids})
        async with self.db.transaction(caller.tenant_id) as session:
            return await store.teachers_of_students(session, wanted)

    async def get_class(self, caller: Principal, class_id: str) -> StudentClass:
        async with self.db.transaction(caller.tenant_id) as session:
            found = await store.get_class(session, class_id, members=True)
        if found is None:
            raise NotFound(f"class {class_id} not found", reason="CLASS_NOT_FOUND")
        if not caller.has_any(*class_rules.CLASS_ADMINS) and caller.subject not in found.teacher_ids:
            raise PermissionDenied("only the class's teachers read it", reason="NOT_YOUR_CLASS")
        return found

    async def list_classes(
        self, caller: Principal, page_size: int, page_token: str
    ) -> tuple[list[StudentClass], str]:
        size = pagination.page_size(page_size)
        position = pagination.decode_token(page_token, n=str, i=uuid.UUID)
        after = (position["n"], str(position["i"])) if position else None
        teacher = None if caller.has_any(*class_rules.CLASS_ADMINS) else caller.subject
        async with self.db.transaction(caller.tenant_id) as session:
            found = await store.list_classes(session, teacher_id=teacher, limit=size + 1, after=after)
        token = ""
        if len(found) > size:
            last = found[size - 1]
            token = pagination.encode_token({"n": last.name, "i": last.id})
        return found[:size], token

    async def update_membership(
        self, caller: Principal, class_id: str, change: MembershipChange
    ) -> StudentClass:
        class_rules.may_manage_classes(caller.roles)
        add_teachers = class_rules.canonical(change.add_teacher_ids)
        add_students = class_rules.canonical(change.add_student_ids)
        await self._check_members(
            caller, ("add_teacher_ids", add_teachers), ("add_student_ids", add_students)
        )
        remove_teachers = set(class_rules.canonical(change.remove_teacher_ids))
        remove_students = class_rules.canonical(change.remove_student_ids)
        async with self.db.transaction(caller.tenant_id) as session:
            # Locked: two changes of one class apply one after the other (the teacher array, the limits).
            current = await store.get_class(session, class_id, lock=True)
            if current is None:
                raise NotFound(f"class {class_id} not found", reason="CLASS_NOT_FOUND")
            teachers = [
                t for t in dict.fromkeys([*current.teacher_ids, *add_teachers]) if t not in remove_teachers
            ]
            if len(teachers) > class_rules.MAX_TEACHERS:
                raise InvalidArgument(
                    "too many teachers",
                    [
                        FieldViolation(
                            "add_teacher_ids", f"a class has at most {class_rules.MAX_TEACHERS} teachers"
                        )
                    ],
                )
            removing = set(remove_students)
            adding = [s for s in add_students if s not in removing]  # both: removed
            await store.change_membership(
                session, caller.tenant_id, current.id, teachers, adding, remove_students
            )
            if await store.count_students(session, current.id) > class_rules.MAX_STUDENTS:
                # Raising rolls the whole change back.
                raise InvalidArgument(
                    "too many students",
                    [
                        FieldViolation(
                            "add_student_ids", f"a class has at most {class_rules.MAX_STUDENTS} students"
                        )
                    ],
                )
            changed = await store.get_class(session, current.id, members=True)
            assert changed is not None  # locked above
            await audit.record(
                self.outbox,
                session,
                "class.membership_changed",
                f"classes/{current.id}",
                before={"teacher_ids": list(current.teacher_ids)},
                after={
                    "teacher_ids": list(changed.teacher_ids),
                    "added_student_ids": adding,
                    "removed_student_ids": remove_students,
                },
            )
        return changed

    async def delete_class(self, caller: Principal, class_id: str) -> None:
        class_rules.may_manage_classes(caller.roles)
        async with self.db.transaction(caller.tenant_id) as session:
            if not await store.delete_class(session, class_id):
                raise NotFound(f"class {class_id} not found", reason="CLASS_NOT_FOUND")
            await audit.record(self.outbox, session, "class.deleted", f"classes/{class_id}")

    async def list_alerts(
        self, caller: Principal, state: str | None, student_id: str, page_size: int, page_token: str
    ) -> tuple[list[StruggleAlert], str]:
        size = pagination.page_size(page_size)
        position = pagination.decode_token(page_token, t=datetime, i=uuid.UUID)
        after = (position["t"], str(position["i"])) if position else None
        states = (state,) if state else (OPEN, ACKNOWLEDGED)
        teacher = None if caller.has_any("admin", "service") else caller.subject
        known = True
        async with self.db.transaction(caller.tenant_id) as session:
            if student_id:
                # One student's alerts: the same rules as their progress (a teacher's own students;
                # NOT_FOUND for anyone who is not a student of the tenant, never an empty list).
                await self.may_see(session, caller, student_id)
                known = await store.get_student(session, student_id) is not None
            rows = await store.list_alerts(
                session,
                states=states,
                student_id=student_id or None,
                teacher_id=teacher,
                limit=size + 1,
                after=after,
            )
        if student_id and not known:
            await self._require_user(caller, student_id)
        token = ""
        if len(rows) > size:
            last = rows[size - 1]
            token = pagination.encode_token({"t": last.created_at.isoformat(), "i": last.id})
        return rows[:size], token

    async def acknowledge_alert(self, caller: Principal, alert_id: str) -> StruggleAlert:
        return await self._change_alert(caller, alert_id, ACKNOWLEDGED)

    async def resolve_alert(self, caller: Principal, alert_id: str) -> StruggleAlert:
        return await self._change_alert(caller, alert_id, RESOLVED)

    async def _change_alert(self, caller: Principal, alert_id: str, to: str) -> StruggleAlert:
        async with self.db.transaction(caller.tenant_id) as session:
            found = await store.get_alert(session, alert_id)
            if found is None:
                raise NotFound(f"alert {alert_id} not found", reason="ALERT_NOT_FOUND")
            await self.may_see(session, caller, found.student_id)
            # The student first, then the alert: the order every writer of a student's alerts takes.
            student = (await store.lock_students(session, caller.tenant_id, [found.student_id]))[
                found.student_id
            ]
            alert = await store.get_alert(session, alert_id, lock=True)
            assert alert is not None  # alerts are never deleted
            if alert.state == RESOLVED:
                raise FailedPrecondition("the alert is already resolved", reason="ALERT_RESOLVED")
            if to == ACKNOWLEDGED and alert.state == ACKNOWLEDGED:
                return alert
            changed = await store.set_alert_state(session, alert.id, to, caller.subject, datetime.now(UTC))
            await audit.record(
                self.outbox,
                session,
                f"alert.{to}",
                f"alerts/{alert.id}",
                before={"state": alert.state, "student_id": alert.student_id},
                after={"state": to, "student_id": alert.student_id},
            )
            open_alerts = await store.count_open(session, alert.student_id)
            await store.update_alert_summaries(
                session,
                {alert.student_id: (open_alerts, risk(open_alerts, student.mean_mastery, student.topics))},
            )
            return changed


def _with_student(activity: Activity, student_id: str) -> Activity:
    return replace(activity, student_id=student_id)


def _streak(student: Student, now: datetime) -> Streak:
    """The student's streak as of `now`, counted in their time zone."""
    s = student.streak
    return Streak(current_streak(s, now, student.time_zone), s.longest, s.last_active_date)


def _summary(student: Student, now: datetime) -> StudentSummary:
    return StudentSummary(
        student_id=student.student_id,
        mean_mastery=student.mean_mastery,
        topics_mastered=student.topics_mastered,
        open_alerts=student.open_alerts,
        risk=student.risk,
        streak=_streak(student, now),
        last_active_at=student.last_active_at,
    )
