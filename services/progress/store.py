"""progress's tables and queries (SQLAlchemy Core). The domain's O(1) states (mastery, streak,
struggle) are kept whole as JSONB beside the columns that queries sort and filter by."""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
import uuid
from datetime import date, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime.db import metadata, parse_uuid

md = metadata("progress")

activities = sa.Table(
    "activities",
    md,
    sa.Column("tenant_id", sa.Uuid, primary_key=True),
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("student_id", sa.Text),
    sa.Column("topic", sa.Text),
    sa.Column("kind", sa.Text),
    sa.Column("score", sa.Float),
    sa.Column("verdict", sa.Text),
    sa.Column("exception_type", sa.Text),
    sa.Column("quiz_id", sa.Text),
    sa.Column("exercise_id", sa.Text),
    sa.Column("duration_seconds", sa.Float),
    sa.Column("occurred_at", sa.DateTime(timezone=True)),
)
mastery = sa.Table(
    "mastery",
    md,
    sa.Column("tenant_id", sa.Uuid, primary_key=True),
    sa.Column("student_id", sa.Text, primary_key=True),
    sa.Column("topic", sa.Text, primary_key=True),
    sa.Column("score", sa.Float),
    sa.Column("evidence", sa.Float),
    sa.Column("level", sa.Text),
    sa.Column("attempts", sa.Integer),
    sa.Column("state", postgresql.JSONB),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
)
students = sa.Table(
    "students",
    md,
    sa.Column("tenant_id", sa.Uuid, primary_key=True),
    sa.Column("student_id", sa.Text, primary_key=True),
    sa.Column("time_zone", sa.Text),
    sa.Column("streak", postgresql.JSONB),
    sa.Column("struggle", postgresql.JSONB),
    sa.Column("topics", sa.Integer),
    sa.Column("mastery_sum", sa.Float),
    sa.Column("mean_mastery", sa.Float),
    sa.Column("topics_mastered", sa.Integer),
    sa.Column("open_alerts", sa.Integer),
    sa.Column("risk", sa.Float),
    sa.Column("last_active_at", sa.DateTime(timezone=True)),
)
classes = sa.Table(
    "classes",
    md,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid),
    sa.Column("name", sa.Text),
    sa.Column("teacher_ids", postgresql.ARRAY(sa.Text)),
)
class_members = sa.Table(
    "class_members",
    md,
    sa.Column("tenant_id", sa.Uuid),
    sa.Column("class_id", sa.Uuid, primary_key=True),
    sa.Column("student_id", sa.Text, primary_key=True),
)
alerts = sa.Table(
    "struggle_alerts",
    md,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid),
    sa.Column("student_id", sa.Text),
    sa.Column("rule", sa.Text),
    sa.Column("key", sa.Text),
    sa.Column("explanation", sa.Text),
    sa.Column("severity", sa.Text),
    sa.Column("state", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    sa.Column("acknowledged_at", sa.DateTime(timezone=True)),
    sa.Column("acknowledged_by", sa.Text),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
    sa.Column("resolved_by", sa.Text),
)

OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"


# --- activities ----------------------------------------------------------------------------------


# The intake's statements are built once: constructing SQLAlchemy statements per event was the
# largest share of a consumer's CPU (py-spy); executing a prebuilt one reuses its compiled form.
_INSERT_ACTIVITY = pg_insert(activities).on_conflict_do_nothing().returning(activities.c.id)
_LOCK_STUDENT = (
    pg_insert(students)
    .values(tenant_id=sa.bindparam("tenant_id", type_=sa.Uuid), student_id=sa.bindparam("student_id"))
    .on_conflict_do_update(
        index_elements=["tenant_id", "student_id"],
        set_={"student_id": pg_insert(students).excluded.student_id},
    )
    .returning(*students.c)
)
_LOCK_MASTERY = (
    sa.select(mastery)
    .where(mastery.c.student_id == sa.bindparam("student_id"), mastery.c.topic == sa.bindparam("topic"))
    .with_for_update()
)
_MASTERY_VALUES = ("score", "evidence", "level", "attempts", "state", "updated_at")
_UPSERT_MASTERY = pg_insert(mastery).on_conflict_do_update(
    index_elements=["tenant_id", "student_id", "topic"],
    set_={name: pg_insert(mastery).excluded[name] for name in _MASTERY_VALUES},
)


async def insert_activity(session: AsyncConnection, tenant_id: str, values: dict[str, Any]) -> bool:
    """False when this activity id was recorded before (idempotent intake)."""
    row = (await session.execute(_INSERT_ACTIVITY, {"tenant_id": uuid.UUID(tenant_id), **values})).first()
    return row is not None


async def recent_activities(session: AsyncConnection, student_id: str, limit: int = 20) -> list[Any]:
    return list(
        (
            await session.execute(
                sa.select(activities)
                .where(activities.c.student_id == student_id)
                .order_by(activities.c.occurred_at.desc())
                .limit(limit)
            )
        ).all()
    )


# --- students and mastery ------------------------------------------------------------------------


async def lock_student(session: AsyncConnection, tenant_id: str, student_id: str) -> Any:
    """The student's row, created if missing, locked for this transaction (activities of one student
    apply one at a time; different students in parallel)."""
    # One statement: create if missing, lock (the no-op update takes the row lock), return.
    params = {"tenant_id": uuid.UUID(tenant_id), "student_id": student_id}
    return (await session.execute(_LOCK_STUDENT, params)).one()


_SUMMARY_COLUMNS = (
    "streak",
    "struggle",
    "topics",
    "mastery_sum",
    "mean_mastery",
    "topics_mastered",
    "open_alerts",
    "risk",
    "last_active_at",
)
_UPDATE_SUMMARY = (
    sa.update(students)
    .where(students.c.student_id == sa.bindparam("_student_id"))
    .values({name: sa.bindparam(name, type_=students.c[name].type) for name in _SUMMARY_COLUMNS})
)


async def update_student(session: AsyncConnection, student_id: str, **values: Any) -> None:
    if set(values) == set(_SUMMARY_COLUMNS):  # the intake's hot path: prebuilt
        await session.execute(_UPDATE_SUMMARY, {"_student_id": student_id, **values})
        return
    await session.execute(sa.update(students).where(students.c.student_id == student_id).values(**values))


async def set_time_zone(session: AsyncConnection, tenant_id: str, student_id: str, time_zone: str) -> None:
    await session.execute(
        pg_insert(students)
        .values(tenant_id=uuid.UUID(tenant_id), student_id=student_id, time_zone=time_zone)
        .on_conflict_do_update(index_elements=["tenant_id", "student_id"], set_={"time_zone": time_zone})
    )


async def get_student(session: AsyncConnection, student_id: str) -> Any | None:
    return (await session.execute(sa.select(students).where(students.c.student_id == student_id))).first()


async def lock_mastery(session: AsyncConnection, student_id: str, topic: str) -> Any | None:
    return (await session.execute(_LOCK_MASTERY, {"student_id": student_id, "topic": topic})).first()


async def upsert_mastery(
    session: AsyncConnection, tenant_id: str, student_id: str, topic: str, **values: Any
) -> None:
    await session.execute(
        _UPSERT_MASTERY,
        {"tenant_id": uuid.UUID(tenant_id), "student_id": student_id, "topic": topic, **values},
    )


async def mastery_of(session: AsyncConnection, student_id: str) -> list[Any]:
    return list(
        (
            await session.execute(
                sa.select(mastery).where(mastery.c.student_id == student_id).order_by(mastery.c.topic)
            )
        ).all()
    )


# --- classes -------------------------------------------------------------------------------------


async def create_class(
    session: AsyncConnection, tenant_id: str, name: str, teacher_ids: list[str], student_ids: list[str]
) -> uuid.UUID:
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
    return class_id


async def get_class(session: AsyncConnection, class_id: str) -> Any | None:
    cid = parse_uuid(class_id)
    if cid is None:
        return None
    return (await session.execute(sa.select(classes).where(classes.c.id == cid))).first()


async def teachers_of(session: AsyncConnection, student_id: str) -> list[str]:
    rows = await session.execute(
        sa.select(sa.func.unnest(classes.c.teacher_ids).label("teacher"))
        .select_from(classes.join(class_members, class_members.c.class_id == classes.c.id))
        .where(class_members.c.student_id == student_id)
        .distinct()
    )
    return sorted(r.teacher for r in rows)


async def class_summaries(
    session: AsyncConnection,
    class_id: uuid.UUID,
    *,
    order_by: str,
    limit: int,
    after: tuple[float, str] | None,
) -> list[Any]:
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
        .where(class_members.c.class_id == class_id)
    )
    value = sa.func.coalesce(sort, 0.0)
    if after is not None:
        key = sa.tuple_(-value if risk_order else value, class_members.c.student_id)
        q = q.where(key > sa.tuple_(sa.literal(-after[0] if risk_order else after[0]), sa.literal(after[1])))
    q = q.order_by((value.desc() if risk_order else value.asc()), class_members.c.student_id).limit(limit)
    return list((await session.execute(q)).all())


# --- alerts --------------------------------------------------------------------------------------


async def open_alert(
    session: AsyncConnection,
    tenant_id: str,
    student_id: str,
    rule: str,
    key: str,
    explanation: str,
    severity: str,
) -> Any | None:
    """The new alert, or None when an episode for (student, rule, key) is already open (the partial
    unique index decides, so concurrent consumers cannot open two)."""
    return (
        await session.execute(
            pg_insert(alerts)
            .values(
                id=uuid.uuid4(),
                tenant_id=uuid.UUID(tenant_id),
                student_id=student_id,
                rule=rule,
                key=key,
                explanation=explanation,
                severity=severity,
                state=OPEN,
            )
            .on_conflict_do_nothing(
                index_elements=["tenant_id", "student_id", "rule", "key"],
                index_where=sa.text("state <> 'resolved'"),
            )
            .returning(*alerts.c)
        )
    ).first()


async def count_open(session: AsyncConnection, student_id: str) -> int:
    return int(
        await session.scalar(
            sa.select(sa.func.count()).where(alerts.c.student_id == student_id, alerts.c.state != RESOLVED)
        )
        or 0
    )


async def get_alert(session: AsyncConnection, alert_id: str, *, lock: bool = False) -> Any | None:
    aid = parse_uuid(alert_id)
    if aid is None:
        return None
    q = sa.select(alerts).where(alerts.c.id == aid)
    return (await session.execute(q.with_for_update() if lock else q)).first()


async def set_alert_state(
    session: AsyncConnection, alert_id: uuid.UUID, state: str, by: str, at: datetime
) -> Any:
    values: dict[str, Any] = {"state": state}
    if state == ACKNOWLEDGED:
        values.update(acknowledged_at=at, acknowledged_by=by)
    else:
        values.update(resolved_at=at, resolved_by=by)
    return (
        await session.execute(
            sa.update(alerts).where(alerts.c.id == alert_id).values(**values).returning(*alerts.c)
        )
    ).one()


async def list_alerts(
    session: AsyncConnection,
    *,
    states: tuple[str, ...],
    student_id: str | None,
    teacher_id: str | None,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[Any]:
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
    return list((await session.execute(q)).all())


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
