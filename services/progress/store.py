"""progress's tables and queries (SQLAlchemy Core). The domain's O(1) states (mastery, streak,
struggle) are kept whole as JSONB beside the columns that queries sort and filter by."""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import types
import typing
import uuid
from datetime import date, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.progress.domain import Activity, ActivityKind
from services.progress.domain.mastery import MasteryState
from services.progress.domain.records import (
    ACKNOWLEDGED,
    BY_TEACHER,
    RESOLVED,
    StruggleAlert,
    Student,
    StudentClass,
    TopicMastery,
)
from services.progress.domain.streaks import StreakState
from services.progress.domain.struggle import StruggleState
from services.progress.tables import activities, alerts, class_members, classes, mastery, students, tenants
from services.runtime.db import parse_uuid

# --- rows to domain objects ----------------------------------------------------------------------


def _student(row: Any) -> Student:
    """A student's row; a class member without one (an outer join's NULLs) gets the defaults."""
    return Student(
        student_id=row.student_id,
        time_zone=row.time_zone or "UTC",
        streak=state_from_json(StreakState, row.streak),
        struggle=state_from_json(StruggleState, row.struggle),
        topics=row.topics or 0,
        mastery_sum=row.mastery_sum or 0.0,
        mean_mastery=row.mean_mastery or 0.0,
        topics_mastered=row.topics_mastered or 0,
        open_alerts=row.open_alerts or 0,
        risk=row.risk or 0.0,
        last_active_at=row.last_active_at,
    )


def _mastery(row: Any) -> TopicMastery:
    return TopicMastery(
        student_id=row.student_id,
        topic=row.topic,
        score=row.score,
        evidence=row.evidence,
        level=row.level,
        attempts=row.attempts,
        updated_at=row.updated_at,
        state=state_from_json(MasteryState, row.state),
    )


def _alert(row: Any) -> StruggleAlert:
    return StruggleAlert(
        id=str(row.id),
        student_id=row.student_id,
        rule=row.rule,
        key=row.key,
        explanation=row.explanation,
        severity=row.severity,
        state=row.state,
        created_at=row.created_at,
        acknowledged_at=row.acknowledged_at,
        resolved_at=row.resolved_at,
        resolution=row.resolution,
    )


def _activity(row: Any) -> Activity:
    return Activity(
        event_id=row.id,
        student_id=row.student_id,
        kind=ActivityKind(row.kind),
        occurred_at=row.occurred_at,
        topic=row.topic,
        exercise_id=row.exercise_id,
        quiz_id=row.quiz_id,
        score=row.score,
        verdict=row.verdict,
        exception_type=row.exception_type,
        duration_seconds=row.duration_seconds,
    )


# --- activities ----------------------------------------------------------------------------------


# The intake is set-based: each statement takes a whole batch as arrays (one per column) and unnests
# them, so its text is the same whatever the batch size and SQLAlchemy compiles it once.


def _array(name: str, item: Any) -> Any:
    # Prefixed: a bind parameter may not share a column's name in an INSERT or UPDATE.
    return sa.bindparam(f"v_{name}", type_=postgresql.ARRAY(item))


def _arrays(rows: list[dict[str, Any]], columns: dict[str, Any]) -> dict[str, list[Any]]:
    """The parameters of `_array` binds: one list per column; JSONB travels as JSON text."""
    return {
        f"v_{name}": [json.dumps(r[name]) if isinstance(kind, postgresql.JSONB) else r[name] for r in rows]
        for name, kind in columns.items()
    }


_ACTIVITY_COLUMNS = {
    "id": sa.Text(),
    "student_id": sa.Text(),
    "topic": sa.Text(),
    "kind": sa.Text(),
    "score": sa.Float(),
    "verdict": sa.Text(),
    "exception_type": sa.Text(),
    "quiz_id": sa.Text(),
    "exercise_id": sa.Text(),
    "duration_seconds": sa.Float(),
    "occurred_at": sa.DateTime(timezone=True),
}
_INSERT_ACTIVITIES = (
    pg_insert(activities)
    .from_select(
        ["tenant_id", *_ACTIVITY_COLUMNS],
        sa.select(
            sa.bindparam("tenant_id", type_=sa.Uuid),
            *(
                sa.func.unnest(_array(name, t)).label(name)  # several unnests in SELECT: zipped
                for name, t in _ACTIVITY_COLUMNS.items()
            ),
        ),
    )
    .on_conflict_do_nothing()
    .returning(activities.c.id)
)


def _activity_values(a: Activity) -> dict[str, Any]:
    return {
        "id": a.event_id,
        "student_id": a.student_id,
        "topic": a.topic,
        "kind": a.kind.value,
        "score": a.score,
        "verdict": a.verdict,
        "exception_type": a.exception_type,
        "quiz_id": a.quiz_id,
        "exercise_id": a.exercise_id,
        "duration_seconds": a.duration_seconds,
        "occurred_at": a.occurred_at,
    }


async def insert_activities(session: AsyncConnection, tenant_id: str, activities: list[Activity]) -> set[str]:
    """Records activities; returns the ids not recorded before (the intake's idempotency: recording
    the same id twice applies once)."""
    params = _arrays([_activity_values(a) for a in activities], _ACTIVITY_COLUMNS)
    result = await session.execute(_INSERT_ACTIVITIES, {"tenant_id": uuid.UUID(tenant_id), **params})
    return {r.id for r in result}


async def recent_activities(session: AsyncConnection, student_id: str, limit: int = 20) -> list[Activity]:
    rows = await session.execute(
        sa.select(activities)
        .where(activities.c.student_id == student_id)
        .order_by(activities.c.occurred_at.desc())
        .limit(limit)
    )
    return [_activity(r) for r in rows]


# --- students and mastery ------------------------------------------------------------------------


_LOCK_STUDENTS = (
    pg_insert(students)
    .from_select(
        ["tenant_id", "student_id"],
        sa.select(sa.bindparam("tenant_id", type_=sa.Uuid), sa.func.unnest(_array("ids", sa.Text()))),
    )
    .on_conflict_do_update(
        index_elements=["tenant_id", "student_id"],
        set_={"student_id": pg_insert(students).excluded.student_id},
    )
    .returning(*students.c)
)


async def lock_students(
    session: AsyncConnection, tenant_id: str, student_ids: list[str]
) -> dict[str, Student]:
    """The students' rows, created if missing, locked for this transaction (activities of one student
    apply one batch at a time; different students in parallel). One statement: create if missing,
    lock (the no-op update takes the row lock), return. The ids are locked in sorted order, so two
    transactions locking overlapping sets cannot deadlock."""
    params = {"tenant_id": uuid.UUID(tenant_id), "v_ids": sorted(set(student_ids))}
    return {r.student_id: _student(r) for r in await session.execute(_LOCK_STUDENTS, params)}


_SUMMARY_COLUMNS = {
    "streak": postgresql.JSONB(),
    "struggle": postgresql.JSONB(),
    "topics": sa.Integer(),
    "mastery_sum": sa.Float(),
    "mean_mastery": sa.Float(),
    "topics_mastered": sa.Integer(),
    "open_alerts": sa.Integer(),
    "risk": sa.Float(),
    "last_active_at": sa.DateTime(timezone=True),
}
_ALERT_SUMMARY = ("open_alerts", "risk")


def _update_students(columns: tuple[str, ...]) -> Any:
    """UPDATE students FROM unnest(arrays): one statement for the batch's students. JSONB travels as
    text (an array of jsonb is not something psycopg guesses) and is cast back."""
    arrays = [sa.func.unnest(_array("student_id", sa.Text())).label("student_id")]
    for name in columns:
        kind = _SUMMARY_COLUMNS[name]
        arrays.append(
            sa.func.unnest(_array(name, sa.Text() if isinstance(kind, postgresql.JSONB) else kind)).label(
                name
            )
        )
    v = sa.select(*arrays).subquery("v")
    values = {
        name: sa.cast(v.c[name], postgresql.JSONB)
        if isinstance(_SUMMARY_COLUMNS[name], postgresql.JSONB)
        else v.c[name]
        for name in columns
    }
    return sa.update(students).where(students.c.student_id == v.c.student_id).values(values)


_UPDATE_SUMMARIES = _update_students(tuple(_SUMMARY_COLUMNS))
_UPDATE_ALERT_SUMMARIES = _update_students(_ALERT_SUMMARY)


async def update_students(session: AsyncConnection, changed: list[Student]) -> None:
    """Writes the states and summary columns of several students (the intake), one statement."""
    if not changed:
        return
    rows = [
        {
            "student_id": s.student_id,
            "streak": state_to_json(s.streak),
            "struggle": state_to_json(s.struggle),
            "topics": s.topics,
            "mastery_sum": s.mastery_sum,
            "mean_mastery": s.mean_mastery,
            "topics_mastered": s.topics_mastered,
            "open_alerts": s.open_alerts,
            "risk": s.risk,
            "last_active_at": s.last_active_at,
        }
        for s in changed
    ]
    await session.execute(_UPDATE_SUMMARIES, _arrays(rows, {"student_id": sa.Text(), **_SUMMARY_COLUMNS}))


async def update_alert_summaries(session: AsyncConnection, summaries: dict[str, tuple[int, float]]) -> None:
    """Writes students' open_alerts and risk (student id -> (open alerts, risk)) after their alerts
    changed, one statement."""
    if not summaries:
        return
    rows = [{"student_id": sid, "open_alerts": n, "risk": r} for sid, (n, r) in summaries.items()]
    columns = {"student_id": sa.Text(), **{name: _SUMMARY_COLUMNS[name] for name in _ALERT_SUMMARY}}
    await session.execute(_UPDATE_ALERT_SUMMARIES, _arrays(rows, columns))


async def set_time_zone(session: AsyncConnection, tenant_id: str, student_id: str, time_zone: str) -> None:
    await session.execute(
        pg_insert(students)
        .values(tenant_id=uuid.UUID(tenant_id), student_id=student_id, time_zone=time_zone)
        .on_conflict_do_update(index_elements=["tenant_id", "student_id"], set_={"time_zone": time_zone})
    )


async def get_student(session: AsyncConnection, student_id: str) -> Student | None:
    row = (await session.execute(sa.select(students).where(students.c.student_id == student_id))).first()
    return _student(row) if row else None


_KEYS = sa.select(
    sa.func.unnest(_array("student_ids", sa.Text())).label("student_id"),
    sa.func.unnest(_array("topics", sa.Text())).label("topic"),
).subquery("k")
_LOCK_MASTERY = (
    sa.select(mastery)
    .join(_KEYS, sa.and_(mastery.c.student_id == _KEYS.c.student_id, mastery.c.topic == _KEYS.c.topic))
    .order_by(mastery.c.student_id, mastery.c.topic)  # one lock order for every transaction
    .with_for_update(of=mastery)
)
_MASTERY_VALUES = {
    "score": sa.Float(),
    "evidence": sa.Float(),
    "level": sa.Text(),
    "attempts": sa.Integer(),
    "state": postgresql.JSONB(),
    "updated_at": sa.DateTime(timezone=True),
}
_MASTERY_ROWS = sa.select(
    sa.bindparam("tenant_id", type_=sa.Uuid),
    sa.func.unnest(_array("student_id", sa.Text())),
    sa.func.unnest(_array("topic", sa.Text())),
    *(
        sa.cast(sa.func.unnest(_array(name, sa.Text())), postgresql.JSONB)
        if isinstance(kind, postgresql.JSONB)
        else sa.func.unnest(_array(name, kind))
        for name, kind in _MASTERY_VALUES.items()
    ),
)
_UPSERT_MASTERY = (
    pg_insert(mastery)
    .from_select(["tenant_id", "student_id", "topic", *_MASTERY_VALUES], _MASTERY_ROWS)
    .on_conflict_do_update(
        index_elements=["tenant_id", "student_id", "topic"],
        set_={name: pg_insert(mastery).excluded[name] for name in _MASTERY_VALUES},
    )
)


async def lock_mastery(
    session: AsyncConnection, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], TopicMastery]:
    """The (student, topic) mastery rows that exist among `keys`, locked (in key order)."""
    if not keys:
        return {}
    params = {"v_student_ids": [s for s, _ in keys], "v_topics": [t for _, t in keys]}
    return {(r.student_id, r.topic): _mastery(r) for r in await session.execute(_LOCK_MASTERY, params)}


async def upsert_mastery(
    session: AsyncConnection, tenant_id: str, states: dict[tuple[str, str], MasteryState]
) -> None:
    """Writes each (student, topic)'s mastery state and the figures derived from it, inserting the
    new ones; one statement."""
    if not states:
        return
    rows = [
        {
            "student_id": sid,
            "topic": topic,
            "score": m.score,
            "evidence": m.weight,
            "level": m.level.name,
            "attempts": m.attempts,
            "state": state_to_json(m),
            "updated_at": m.last_at,
        }
        for (sid, topic), m in states.items()
    ]
    params = {
        "tenant_id": uuid.UUID(tenant_id),
        **_arrays(rows, {"student_id": sa.Text(), "topic": sa.Text(), **_MASTERY_VALUES}),
    }
    await session.execute(_UPSERT_MASTERY, params)


async def mastery_of(session: AsyncConnection, student_id: str) -> list[TopicMastery]:
    rows = await session.execute(
        sa.select(mastery).where(mastery.c.student_id == student_id).order_by(mastery.c.topic)
    )
    return [_mastery(r) for r in rows]


# --- classes -------------------------------------------------------------------------------------


async def create_class(
    session: AsyncConnection, tenant_id: str, name: str, teacher_ids: list[str], student_ids: list[str]
) -> StudentClass:
    class_id = uuid.uuid4()
    await session.execute(
        sa.insert(classes).values(
            id=class_id, tenant_id=uuid.UUID(tenant_id), name=name, teacher_ids=teacher_ids
        )
    )
    if student_ids:
        await session.execute(
            sa.insert(class_members),
            [{"tenant_id": uuid.UUID(tenant_id), "class_id": class_id, "student_id": s} for s in student_ids],
        )
    return StudentClass(str(class_id), name, tuple(teacher_ids), tuple(student_ids))


async def get_class(
    session: AsyncConnection, class_id: str, *, members: bool = False, lock: bool = False
) -> StudentClass | None:
    """The class, with its students when `members` (a summary needs only the teachers). `lock` holds
    the class row until the transaction ends: membership changes of one class are serialized."""
    cid = parse_uuid(class_id)
    if cid is None:
        return None
    q = sa.select(classes).where(classes.c.id == cid)
    row = (await session.execute(q.with_for_update() if lock else q)).first()
    if row is None:
        return None
    students = (await _students_of(session, [row.id])).get(row.id, []) if members else []
    return StudentClass(str(row.id), row.name, tuple(row.teacher_ids), tuple(students))


async def _students_of(session: AsyncConnection, class_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    rows = await session.execute(
        sa.select(class_members.c.class_id, class_members.c.student_id)
        .where(class_members.c.class_id.in_(class_ids))
        .order_by(class_members.c.class_id, class_members.c.student_id)
    )
    found: dict[uuid.UUID, list[str]] = {}
    for r in rows:
        found.setdefault(r.class_id, []).append(r.student_id)
    return found


async def list_classes(
    session: AsyncConnection, *, teacher_id: str | None, limit: int, after: tuple[str, str] | None
) -> list[StudentClass]:
    """The tenant's classes (or those teacher_id teaches) by (name, id), with their students."""
    q = sa.select(classes)
    if teacher_id is not None:
        q = q.where(classes.c.teacher_ids.any_() == teacher_id)
    if after is not None:
        q = q.where(
            sa.tuple_(classes.c.name, classes.c.id)
            > sa.tuple_(sa.literal(after[0]), sa.literal(uuid.UUID(after[1])))
        )
    rows = list(await session.execute(q.order_by(classes.c.name, classes.c.id).limit(limit)))
    students = await _students_of(session, [r.id for r in rows]) if rows else {}
    return [
        StudentClass(str(r.id), r.name, tuple(r.teacher_ids), tuple(students.get(r.id, []))) for r in rows
    ]


async def count_students(session: AsyncConnection, class_id: str) -> int:
    return int(
        (
            await session.execute(
                sa.select(sa.func.count()).where(class_members.c.class_id == uuid.UUID(class_id))
            )
        ).scalar_one()
    )


async def change_membership(
    session: AsyncConnection,
    tenant_id: str,
    class_id: str,
    teacher_ids: list[str],
    add_students: list[str],
    remove_students: list[str],
) -> None:
    """Sets the teachers and adds and removes students (adding a member twice is a no-op)."""
    cid = uuid.UUID(class_id)
    await session.execute(sa.update(classes).where(classes.c.id == cid).values(teacher_ids=teacher_ids))
    if remove_students:
        await session.execute(
            sa.delete(class_members).where(
                class_members.c.class_id == cid, class_members.c.student_id.in_(remove_students)
            )
        )
    if add_students:
        await session.execute(
            pg_insert(class_members)
            .values(
                [{"tenant_id": uuid.UUID(tenant_id), "class_id": cid, "student_id": s} for s in add_students]
            )
            .on_conflict_do_nothing()
        )


async def delete_class(session: AsyncConnection, class_id: str) -> bool:
    """Deletes the class (its memberships go with it, ON DELETE CASCADE); False when there was none."""
    cid = parse_uuid(class_id)
    if cid is None:
        return False
    return bool((await session.execute(sa.delete(classes).where(classes.c.id == cid))).rowcount)


async def teachers_of(session: AsyncConnection, student_id: str) -> list[str]:
    return (await teachers_of_students(session, [student_id])).get(student_id, [])


async def teachers_of_students(session: AsyncConnection, student_ids: list[str]) -> dict[str, list[str]]:
    """Each student's teachers (through their classes), sorted; students without a class are absent."""
    rows = await session.execute(
        sa.select(class_members.c.student_id, sa.func.unnest(classes.c.teacher_ids).label("teacher"))
        .select_from(classes.join(class_members, class_members.c.class_id == classes.c.id))
        .where(class_members.c.student_id.in_(student_ids))
        .distinct()
    )
    found: dict[str, list[str]] = {}
    for r in rows:
        found.setdefault(r.student_id, []).append(r.teacher)
    return {student: sorted(teachers) for student, teachers in found.items()}


async def class_summaries(
    session: AsyncConnection,
    class_id: str,
    *,
    order_by: str,
    limit: int,
    after: tuple[float, str] | None,
) -> list[Student]:
    """A page of the class's students, by risk (highest first) or mastery (lowest first), then id."""
    risk_order = order_by != "mastery"
    sort = students.c.risk if risk_order else students.c.mean_mastery
    q = (
        sa.select(class_members.c.student_id, students)
        .select_from(
            class_members.outerjoin(
                students,
                sa.and_(
                    students.c.student_id == class_members.c.student_id,
                    students.c.tenant_id == class_members.c.tenant_id,
                ),
            )
        )
        .where(class_members.c.class_id == uuid.UUID(class_id))
    )
    value = sa.func.coalesce(sort, 0.0)
    if after is not None:
        key = sa.tuple_(-value if risk_order else value, class_members.c.student_id)
        q = q.where(key > sa.tuple_(sa.literal(-after[0] if risk_order else after[0]), sa.literal(after[1])))
    q = q.order_by((value.desc() if risk_order else value.asc()), class_members.c.student_id).limit(limit)
    return [_student(r) for r in await session.execute(q)]


# --- alerts --------------------------------------------------------------------------------------


async def open_alerts_of(session: AsyncConnection, student_ids: list[str]) -> list[StruggleAlert]:
    """The alerts not resolved yet (the open episodes) of these students."""
    rows = await session.execute(
        sa.select(alerts).where(alerts.c.student_id.in_(student_ids), alerts.c.state != RESOLVED)
    )
    return [_alert(r) for r in rows]


async def insert_alerts(
    session: AsyncConnection, tenant_id: str, rows: list[dict[str, Any]]
) -> list[StruggleAlert]:
    """Inserts alerts (dicts of id, student_id, rule, key, explanation, severity, state, resolved_at,
    resolution) and returns those inserted. One whose episode is already open is not (the partial
    unique index decides, so concurrent writers cannot open two)."""
    if not rows:
        return []
    tenant = uuid.UUID(tenant_id)
    inserted = await session.execute(
        pg_insert(alerts)
        .values([{"tenant_id": tenant, **r} for r in rows])
        .on_conflict_do_nothing(
            index_elements=["tenant_id", "student_id", "rule", "key"],
            index_where=sa.text("state <> 'resolved'"),
        )
        .returning(*alerts.c)
    )
    return [_alert(r) for r in inserted]


async def resolve_alerts(session: AsyncConnection, ids: list[str], resolution: str, at: datetime) -> None:
    """Closes alerts by the service itself (the student's progress, or the quiet period)."""
    if ids:
        await session.execute(
            sa.update(alerts)
            .where(alerts.c.id.in_([uuid.UUID(i) for i in ids]))
            .values(state=RESOLVED, resolved_at=at, resolution=resolution)
        )


async def alert_keys(session: AsyncConnection, student_ids: list[str], rule: str) -> set[tuple[str, str]]:
    """(student, key) of every alert of `rule` these students ever had, whatever its state."""
    rows = await session.execute(
        sa.select(alerts.c.student_id, alerts.c.key).where(
            alerts.c.student_id.in_(student_ids), alerts.c.rule == rule
        )
    )
    return {(r.student_id, r.key) for r in rows}


async def students_with_alerts_opened_before(session: AsyncConnection, before: datetime) -> list[str]:
    rows = await session.execute(
        sa.select(alerts.c.student_id)
        .where(alerts.c.state != RESOLVED, alerts.c.created_at <= before)
        .distinct()
    )
    return [r.student_id for r in rows]


async def students_idle_since(session: AsyncConnection, before: datetime) -> list[Student]:
    """The students last active at `before` or earlier."""
    rows = await session.execute(sa.select(students).where(students.c.last_active_at <= before))
    return [_student(r) for r in rows]


async def known_tenants(session: AsyncConnection) -> list[str]:
    return [str(r.tenant_id) for r in await session.execute(sa.select(tenants.c.tenant_id))]


async def count_open(session: AsyncConnection, student_id: str) -> int:
    return int(
        await session.scalar(
            sa.select(sa.func.count()).where(alerts.c.student_id == student_id, alerts.c.state != RESOLVED)
        )
        or 0
    )


async def get_alert(session: AsyncConnection, alert_id: str, *, lock: bool = False) -> StruggleAlert | None:
    aid = parse_uuid(alert_id)
    if aid is None:
        return None
    q = sa.select(alerts).where(alerts.c.id == aid)
    row = (await session.execute(q.with_for_update() if lock else q)).first()
    return _alert(row) if row else None


async def set_alert_state(
    session: AsyncConnection, alert_id: str, state: str, by: str, at: datetime
) -> StruggleAlert:
    values: dict[str, Any] = {"state": state}
    if state == ACKNOWLEDGED:
        values.update(acknowledged_at=at, acknowledged_by=by)
    else:
        values.update(resolved_at=at, resolved_by=by, resolution=BY_TEACHER)
    row = (
        await session.execute(
            sa.update(alerts).where(alerts.c.id == uuid.UUID(alert_id)).values(**values).returning(*alerts.c)
        )
    ).one()
    return _alert(row)


async def list_alerts(
    session: AsyncConnection,
    *,
    states: tuple[str, ...],
    student_id: str | None,
    teacher_id: str | None,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[StruggleAlert]:
    q = sa.select(alerts).where(alerts.c.state.in_(states))
    if student_id:
        q = q.where(alerts.c.student_id == student_id)
    if teacher_id:
        q = q.where(
            alerts.c.student_id.in_(
                sa.select(class_members.c.student_id)
                .select_from(class_members.join(classes, class_members.c.class_id == classes.c.id))
                .where(classes.c.teacher_ids.any_() == teacher_id)
            )
        )
    if after is not None:
        q = q.where(
            sa.tuple_(alerts.c.created_at, alerts.c.id)
            < sa.tuple_(sa.literal(after[0]), sa.literal(uuid.UUID(after[1])))
        )
    q = q.order_by(alerts.c.created_at.desc(), alerts.c.id.desc()).limit(limit)
    return [_alert(r) for r in await session.execute(q)]


# --- the domain's states as JSONB -----------------------------------------------------------------

T = TypeVar("T")


def state_to_json(state: Any) -> dict[str, Any]:
    """A frozen dataclass of plain values, datetimes, dates, enums and tuples, as JSON."""

    def encode(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, enum.Enum):
            return value.value
        if isinstance(value, tuple | list):
            return [encode(v) for v in value]
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return state_to_json(value)
        return value

    return {f.name: encode(getattr(state, f.name)) for f in dataclasses.fields(state)}


def state_from_json(cls: type[T], data: dict[str, Any] | None) -> T:
    """The inverse of state_to_json, guided by the dataclass's type hints; {} or None gives the defaults."""
    if not data:
        return cls()
    hints = _hints(typing.cast(type, cls))
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            values[f.name] = _decode(hints[f.name], data[f.name])
    return cls(**values)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _decode(options[0], value) if len(options) == 1 else value
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:  # tuple[X, ...]
            return tuple(_decode(args[0], v) for v in value)
        return tuple(_decode(a, v) for a, v in zip(args, value, strict=True))  # tuple[A, B]
    if hint is datetime:
        return datetime.fromisoformat(value)
    if hint is date:
        return date.fromisoformat(value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return state_from_json(hint, value)
    return value
