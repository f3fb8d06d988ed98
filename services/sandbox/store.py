"""The sandbox's tables and queries (SQLAlchemy Core)."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime.db import parse_uuid
from services.sandbox.domain import Exercise, RunRecord, TestCase
from services.sandbox.tables import executions, exercises


def _exercise(row: Any) -> Exercise:
    return Exercise(
        id=str(row.id),
        tenant_id=str(row.tenant_id),
        title=row.title,
        prompt=row.prompt,
        topic=row.topic,
        test_cases=tuple(TestCase(**c) for c in row.test_cases),
        created_at=row.created_at,
    )


async def insert_exercise(session: AsyncConnection, exercise: Exercise, created_by: str) -> Exercise | None:
    """The stored exercise, or None when one with this id exists already (an idempotent retry)."""
    row = (
        await session.execute(
            pg_insert(exercises)
            .values(
                id=uuid.UUID(exercise.id),
                tenant_id=uuid.UUID(exercise.tenant_id),
                title=exercise.title,
                prompt=exercise.prompt,
                topic=exercise.topic,
                test_cases=[asdict(c) for c in exercise.test_cases],
                created_by=created_by,
            )
            .on_conflict_do_nothing()
            .returning(*exercises.c)
        )
    ).first()
    return _exercise(row) if row else None


async def get_exercise(session: AsyncConnection, exercise_id: str) -> Exercise | None:
    eid = parse_uuid(exercise_id)
    if eid is None:
        return None
    row = (await session.execute(sa.select(exercises).where(exercises.c.id == eid))).first()
    return _exercise(row) if row else None


async def record_execution(session: AsyncConnection, run: RunRecord) -> bool:
    """Records a run; False when this execution id is already recorded (an idempotent retry)."""
    inserted = await session.execute(
        pg_insert(executions)
        .values(
            id=uuid.UUID(run.execution_id),
            tenant_id=uuid.UUID(run.tenant_id),
            user_id=run.user_id,
            exercise_id=uuid.UUID(run.exercise_id) if run.exercise_id else None,
            verdict=run.verdict.value,
            exception_type=run.diagnosis.exception_type if run.diagnosis else "",
            duration_ms=run.duration_ms,
        )
        .on_conflict_do_nothing()
        .returning(executions.c.id)
    )
    return inserted.first() is not None
