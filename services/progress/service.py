"""progress's use cases. Recording an activity is one transaction: the activity row (idempotency),
the student's row locked (one activity of a student at a time), mastery, streak and struggle
updated in O(1), alerts opened once per episode, and struggle.detected staged in the outbox."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from learnflow.progress.v1 import events_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from services.progress import store
from services.progress.convert import alert_to_proto
from services.progress.domain import Activity, check_activity
from services.progress.domain import mastery as mastery_model
from services.progress.domain import streaks as streak_model
from services.progress.domain import struggle as struggle_model
from services.progress.domain.mastery import Level, MasteryState
from services.progress.domain.streaks import StreakState
from services.runtime import pagination
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
from services.runtime.request_context import Principal

STAFF = frozenset({"teacher", "admin", "service"})


@dataclass(frozen=True)
class Recorded:
    applied: bool
    topic: str
    mastery: MasteryState | None
    at: datetime | None


def risk(open_alerts: int, mean_mastery: float, topics: int) -> float:
    """0..1, highest first in a class list: open alerts weigh most (each up to two), then how far the
    student is from mastery on the topics they touched (docs/progress-model.md)."""
    alerts_part = min(open_alerts, 2) / 2
    mastery_part = (1.0 - mean_mastery) if topics else 0.5
    return round(0.6 * alerts_part + 0.4 * mastery_part, 4)


class ProgressService:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        detector: struggle_model.StruggleDetector,
        mastery_settings: mastery_model.MasterySettings = mastery_model.DEFAULT_SETTINGS,
    ):
        self.db = db
        self.outbox = outbox
        self.detector = detector
        self.mastery_settings = mastery_settings

    # --- intake ------------------------------------------------------------------------------------

    async def record(self, caller: Principal, activity: Activity) -> Recorded:
        if not caller.has_any("service") and activity.student_id not in ("", caller.subject):
            raise PermissionDenied("students record their own activity", reason="NOT_YOUR_ACTIVITY")
        if not activity.student_id:
            activity = _with_student(activity, caller.subject)
        v = Violations()
        check_activity(v, activity)
        v.raise_if_any()
        async with self.db.transaction(caller.tenant_id) as session:
            return await self.apply(session, caller.tenant_id, activity)

    async def apply(self, session: AsyncConnection, tenant_id: str, activity: Activity) -> Recorded:
        """Applies one activity inside the caller's transaction (an RPC's or a consumer's, whose inbox
        row commits with it). Recording the same event id twice applies once."""
        fresh = await store.insert_activity(
            session,
            tenant_id,
            {
                "id": activity.event_id,
                "student_id": activity.student_id,
                "topic": activity.topic,
                "kind": activity.kind.value,
                "score": activity.score,
                "verdict": activity.verdict,
                "exception_type": activity.exception_type,
                "exercise_id": activity.exercise_id,
                "quiz_id": activity.quiz_id,
                "duration_seconds": activity.duration_seconds,
                "occurred_at": activity.occurred_at,
            },
        )
        if not fresh:
            return Recorded(False, activity.topic, None, None)
        student = await store.lock_student(session, tenant_id, activity.student_id)
        streak = streak_model.record_activity(
            store.state_from_json(StreakState, student.streak), activity.occurred_at, student.time_zone
        )

        mastery_state: MasteryState | None = None
        topics, mastery_sum, mastered = student.topics, student.mastery_sum, student.topics_mastered
        observation = mastery_model.observation_for(activity, self.mastery_settings)
        if observation is not None and activity.topic:
            row = await store.lock_mastery(session, activity.student_id, activity.topic)
            before = store.state_from_json(MasteryState, row.state if row else None)
            mastery_state = mastery_model.apply(before, observation, self.mastery_settings)
            await store.upsert_mastery(
                session,
                tenant_id,
                activity.student_id,
                activity.topic,
                score=mastery_state.score,
                evidence=mastery_state.weight,
                level=mastery_state.level.name,
                attempts=mastery_state.attempts,
                state=store.state_to_json(mastery_state),
                updated_at=mastery_state.last_at or activity.occurred_at,
            )

            # The student's summary, kept incrementally (no scan of their topics per event).
            topics += 0 if row else 1
            mastery_sum += mastery_state.score - (row.score if row else 0.0)
            mastered += int(mastery_state.level == Level.MASTERED) - int(
                row is not None and row.level == "MASTERED"
            )

        # Open episodes are not looked up first: the partial unique index refuses a second open alert
        # for the same (student, rule, key), which is also what makes concurrent consumers safe.
        struggle_state, detections = self.detector.evaluate(
            store.state_from_json(struggle_model.StruggleState, student.struggle),
            activity,
            mastery_state,
            set(),
        )
        opened = 0
        teachers: list[str] | None = None
        for d in detections:
            alert = await store.open_alert(
                session, tenant_id, activity.student_id, d.rule, d.key, d.explanation, d.severity.value
            )
            if alert is None:
                continue  # an episode for (student, rule, key) is already open
            opened += 1
            if teachers is None:
                teachers = await store.teachers_of(session, activity.student_id)
            await self.outbox.stage(
                session,
                "struggle.detected",
                events_pb2.StruggleDetected(alert=alert_to_proto(alert), teacher_ids=teachers),
                tenant_id=tenant_id,
            )

        mean = mastery_sum / topics if topics else 0.0
        open_alerts = student.open_alerts + opened
        last_active = max(filter(None, (student.last_active_at, activity.occurred_at)))
        await store.update_student(
            session,
            activity.student_id,
            streak=store.state_to_json(streak),
            struggle=store.state_to_json(struggle_state),
            topics=topics,
            mastery_sum=mastery_sum,
            mean_mastery=round(mean, 6),
            topics_mastered=mastered,
            open_alerts=open_alerts,
            risk=risk(open_alerts, mean, topics),
            last_active_at=last_active,
        )
        return Recorded(True, activity.topic, mastery_state, activity.occurred_at)

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

    async def progress(
        self, caller: Principal, student_id: str
    ) -> tuple[Any, list[Any], list[Any], StreakState]:
        student_id = caller.subject if student_id == "me" else student_id
        if not student_id:
            raise InvalidArgument("student_id is required", [FieldViolation("student_id", "is required")])
        async with self.db.transaction(caller.tenant_id) as session:
            await self.may_see(session, caller, student_id)
            student = await store.get_student(session, student_id)
            topics = await store.mastery_of(session, student_id)
            recent = await store.recent_activities(session, student_id)
        streak = store.state_from_json(StreakState, student.streak if student else None)
        return student, topics, recent, streak

    async def class_summaries(
        self, caller: Principal, class_id: str, page_size: int, page_token: str, order_by: str
    ) -> tuple[list[Any], str]:
        if order_by not in ("", "risk", "mastery"):
            raise InvalidArgument(
                "order_by must be risk or mastery",
                [FieldViolation("order_by", "must be 'risk' (default) or 'mastery'")],
            )
        size = pagination.page_size(page_size)
        position = pagination.decode_token(page_token)
        after = (float(position["v"]), str(position["s"])) if position else None
        async with self.db.transaction(caller.tenant_id) as session:
            cls = await store.get_class(session, class_id)
            if cls is None:
                raise NotFound(f"class {class_id} not found", reason="CLASS_NOT_FOUND")
            if not caller.has_any("admin") and caller.subject not in cls.teacher_ids:
                raise PermissionDenied("only the class's teachers see its summary", reason="NOT_YOUR_CLASS")
            rows = await store.class_summaries(
                session, cls.id, order_by=order_by or "risk", limit=size + 1, after=after
            )
        token = ""
        if len(rows) > size:
            last = rows[size - 1]
            value = (last.mean_mastery if order_by == "mastery" else last.risk) or 0.0
            token = pagination.encode_token({"v": value, "s": last.student_id})
        return rows[:size], token

    async def create_class(
        self, caller: Principal, name: str, teacher_ids: list[str], student_ids: list[str]
    ) -> tuple[str, list[str]]:
        if not name.strip():
            raise InvalidArgument("class.name is required", [FieldViolation("class.name", "is required")])
        teachers = sorted({*teacher_ids, *([caller.subject] if caller.has_any("teacher") else [])})
        async with self.db.transaction(caller.tenant_id) as session:
            class_id = await store.create_class(
                session, caller.tenant_id, name.strip(), teachers, sorted(set(student_ids))
            )
        return str(class_id), teachers

    async def list_alerts(
        self, caller: Principal, state: str | None, student_id: str, page_size: int, page_token: str
    ) -> tuple[list[Any], str]:
        size = pagination.page_size(page_size)
        position = pagination.decode_token(page_token)
        after = (datetime.fromisoformat(position["t"]), str(position["i"])) if position else None
        states = (state,) if state else (store.OPEN, store.ACKNOWLEDGED)
        teacher = None if caller.has_any("admin", "service") else caller.subject
        async with self.db.transaction(caller.tenant_id) as session:
            rows = await store.list_alerts(
                session,
                states=states,
                student_id=student_id or None,
                teacher_id=teacher,
                limit=size + 1,
                after=after,
            )
        token = ""
        if len(rows) > size:
            last = rows[size - 1]
            token = pagination.encode_token({"t": last.created_at.isoformat(), "i": str(last.id)})
        return rows[:size], token

    async def change_alert(self, caller: Principal, alert_id: str, to: str) -> Any:
        async with self.db.transaction(caller.tenant_id) as session:
            alert = await store.get_alert(session, alert_id, lock=True)
            if alert is None:
                raise NotFound(f"alert {alert_id} not found", reason="ALERT_NOT_FOUND")
            await self.may_see(session, caller, alert.student_id)
            if alert.state == store.RESOLVED:
                raise FailedPrecondition("the alert is already resolved", reason="ALERT_RESOLVED")
            if to == store.ACKNOWLEDGED and alert.state == store.ACKNOWLEDGED:
                return alert
            changed = await store.set_alert_state(session, alert.id, to, caller.subject, datetime.now(UTC))
            student = await store.lock_student(session, caller.tenant_id, alert.student_id)
            open_alerts = await store.count_open(session, alert.student_id)
            await store.update_student(
                session,
                alert.student_id,
                open_alerts=open_alerts,
                risk=risk(open_alerts, student.mean_mastery, student.topics),
            )
            return changed


def _with_student(activity: Activity, student_id: str) -> Activity:
    return replace(activity, student_id=student_id)
