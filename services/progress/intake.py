"""Applying activities, set-based: a list of one tenant's activities (a consumer's batch, or the one
activity of a RecordActivity call) in a fixed number of statements, whatever its length:

1. the activities, one multi-row insert (ON CONFLICT DO NOTHING RETURNING id: the idempotency);
2. their students, created if missing and locked in sorted order (one upsert … RETURNING);
3. their (student, topic) mastery rows, one read FOR UPDATE in key order, and the students' open
   alerts (the open episodes), one read;
4. the pure models applied in Python, activity by activity in the order given: mastery, streak,
   episodes expired by the quiet period or cleared by the student's progress, struggle detections;
5. one multi-row upsert of mastery, the alerts closed and opened (struggle.detected staged in the
   outbox for each one opened), one multi-row update of the students' state and summary.

A list of one and a list of many give the same rows: the models see the same states in the same
order (tests/progress/integration/test_progress_intake.py applies one sequence both ways and compares).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from services.progress import store
from services.progress.domain import Activity
from services.progress.domain import mastery as mastery_model
from services.progress.domain import streaks as streak_model
from services.progress.domain import struggle as struggle_model
from services.progress.domain.mastery import Level, MasteryState
from services.progress.domain.records import BY_PROGRESS, Recorded, Student, TopicMastery
from services.progress.domain.streaks import StreakState
from services.progress.episodes import Episodes
from services.runtime.events.outbox import Outbox


def risk(open_alerts: int, mean_mastery: float, topics: int) -> float:
    """0..1, highest first in a class list: open alerts weigh most (each up to two), then how far the
    student is from mastery on the topics they touched (docs/progress-model.md)."""
    alerts_part = min(open_alerts, 2) / 2
    mastery_part = (1.0 - mean_mastery) if topics else 0.5
    return round(0.6 * alerts_part + 0.4 * mastery_part, 4)


@dataclass
class _Student:
    """One student's state while a list is applied (from the locked row)."""

    row: Student
    streak: StreakState
    struggle: struggle_model.StruggleState
    last_active_at: datetime | None


class Intake:
    def __init__(
        self,
        outbox: Outbox,
        detector: struggle_model.StruggleDetector,
        mastery_settings: mastery_model.MasterySettings = mastery_model.DEFAULT_SETTINGS,
    ):
        self.outbox = outbox
        self.detector = detector
        self.mastery_settings = mastery_settings

    async def apply(
        self,
        session: AsyncConnection,
        tenant_id: str,
        activities: list[Activity],
        now: datetime | None = None,
    ) -> list[Recorded]:
        """Applies one tenant's activities, in order, inside the caller's transaction (an RPC's, or a
        consumer's, whose inbox rows commit with it). An activity id seen before applies nothing.
        `now` (the wall clock by default) decides which episodes the quiet period has closed."""
        now = now or datetime.now(UTC)
        recorded = [Recorded(False, a.topic, None, None) for a in activities]
        fresh = await store.insert_activities(session, tenant_id, activities)
        todo: list[int] = []
        for i, a in enumerate(activities):
            if a.event_id in fresh:
                fresh.discard(a.event_id)  # the same id twice in one list applies once
                todo.append(i)
        if not todo:
            return recorded

        student_ids = sorted({activities[i].student_id for i in todo})
        rows = await store.lock_students(session, tenant_id, student_ids)
        observations = {i: mastery_model.observation_for(activities[i], self.mastery_settings) for i in todo}
        keys = sorted({(activities[i].student_id, o.topic) for i, o in observations.items() if o is not None})
        stored = await store.lock_mastery(session, keys)
        episodes = Episodes(await store.open_alerts_of(session, student_ids), now)

        students = {
            sid: _Student(row, row.streak, row.struggle, row.last_active_at) for sid, row in rows.items()
        }
        topics = {key: row.state for key, row in stored.items()}
        for sid in student_ids:
            episodes.expire(sid, self.detector)

        for i in todo:
            a = activities[i]
            student = students[a.student_id]
            student.streak = streak_model.record_activity(
                student.streak, a.occurred_at, student.row.time_zone
            )
            mastery_state: MasteryState | None = None
            observation = observations[i]
            if observation is not None:
                key = (a.student_id, observation.topic)
                mastery_state = mastery_model.apply(
                    topics.get(key, MasteryState()), observation, self.mastery_settings
                )
                topics[key] = mastery_state
            for episode in self.detector.cleared_by(a, mastery_state, episodes.keys(a.student_id)):
                episodes.close(a.student_id, episode, BY_PROGRESS)
            student.struggle, detections = self.detector.evaluate(
                student.struggle, a, mastery_state, episodes.keys(a.student_id)
            )
            for d in detections:
                episodes.open(a.student_id, d)
            student.last_active_at = max(filter(None, (student.last_active_at, a.occurred_at)))
            recorded[i] = Recorded(True, a.topic, mastery_state, a.occurred_at)

        await store.upsert_mastery(session, tenant_id, topics)
        await episodes.write(session, tenant_id, self.outbox)
        changed: dict[str, list[tuple[TopicMastery | None, MasteryState]]] = {sid: [] for sid in students}
        for key, m in topics.items():  # every topic here was touched by this list
            changed[key[0]].append((stored.get(key), m))
        await store.update_students(
            session,
            [_summary(s, changed[sid], episodes.count(sid)) for sid, s in students.items()],
        )
        return recorded


def _summary(
    student: _Student, topics: list[tuple[TopicMastery | None, MasteryState]], open_alerts: int
) -> Student:
    """The student's summary columns, kept incrementally from their topics' rows before and states
    after (no scan of all their topics)."""
    row = student.row
    count, total, mastered = row.topics, row.mastery_sum, row.topics_mastered
    for before, m in topics:
        count += 0 if before else 1
        total += m.score - (before.score if before else 0.0)
        mastered += int(m.level == Level.MASTERED) - int(before is not None and before.level == "MASTERED")
    mean = total / count if count else 0.0
    return replace(
        row,
        streak=student.streak,
        struggle=student.struggle,
        topics=count,
        mastery_sum=total,
        mean_mastery=round(mean, 6),
        topics_mastered=mastered,
        open_alerts=open_alerts,
        risk=risk(open_alerts, mean, count),
        last_active_at=student.last_active_at,
    )
