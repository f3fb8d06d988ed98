"""tutoring's tables and queries (SQLAlchemy Core). A message is kept whole as proto JSON in `body`,
beside the columns queries filter and order by; a conversation's row lock numbers its messages."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime.db import parse_uuid
from services.tutoring.tables import conversations, exercise_variations, hint_ladders, llm_usage, messages


async def create_conversation(session: AsyncConnection, tenant_id: str, student_id: str) -> Any:
    row = await session.execute(
        sa.insert(conversations)
        .values(id=uuid.uuid4(), tenant_id=uuid.UUID(tenant_id), student_id=student_id, last_sequence=0)
        .returning(*conversations.c)
    )
    return row.one()


async def _by_id(session: AsyncConnection, table: sa.Table, row_id: str) -> Any | None:
    """The row with this id, or None (also for an id that is not a UUID: nothing has it)."""
    parsed = parse_uuid(row_id)
    if parsed is None:
        return None
    return (await session.execute(sa.select(table).where(table.c.id == parsed))).one_or_none()


async def get_conversation(session: AsyncConnection, conversation_id: str) -> Any | None:
    return await _by_id(session, conversations, conversation_id)


async def next_sequence(session: AsyncConnection, conversation_id: uuid.UUID) -> int:
    """Takes the conversation's row lock until commit: messages of one conversation are numbered
    in commit order, so a reader that saw sequence n never later finds a new message below n."""
    row = await session.execute(
        sa.update(conversations)
        .where(conversations.c.id == conversation_id)
        .values(last_sequence=conversations.c.last_sequence + 1, updated_at=sa.func.now())
        .returning(conversations.c.last_sequence)
    )
    return int(row.scalar_one())


async def insert_message(session: AsyncConnection, tenant_id: str, values: dict[str, Any]) -> Any:
    row = await session.execute(
        sa.insert(messages)
        .values(tenant_id=uuid.UUID(tenant_id), created_at=sa.func.now(), **values)
        .returning(*messages.c)
    )
    return row.one()


async def get_message(session: AsyncConnection, message_id: str) -> Any | None:
    return await _by_id(session, messages, message_id)


async def set_message_body(session: AsyncConnection, message_id: uuid.UUID, route: str, body: dict) -> None:
    await session.execute(
        sa.update(messages).where(messages.c.id == message_id).values(route=route, body=body)
    )


async def messages_after(
    session: AsyncConnection, conversation_id: uuid.UUID, after_sequence: int, limit: int
) -> list[Any]:
    rows = await session.execute(
        sa.select(messages)
        .where(messages.c.conversation_id == conversation_id, messages.c.sequence > after_sequence)
        .order_by(messages.c.sequence)
        .limit(limit)
    )
    return list(rows)


async def list_conversations(
    session: AsyncConnection, student_id: str, limit: int, after: tuple[datetime, str] | None
) -> list[Any]:
    q = sa.select(conversations).where(conversations.c.student_id == student_id)
    if after is not None:
        q = q.where(
            sa.tuple_(conversations.c.updated_at, conversations.c.id) < (after[0], uuid.UUID(after[1]))
        )
    rows = await session.execute(
        q.order_by(conversations.c.updated_at.desc(), conversations.c.id.desc()).limit(limit)
    )
    return list(rows)


async def climb_ladder(
    session: AsyncConnection, tenant_id: str, student_id: str, problem_key: str, cause: str, top: int
) -> int:
    """One rung up per request, never past the top; returns the rung to answer with (1 first)."""
    stmt = pg_insert(hint_ladders).values(
        tenant_id=uuid.UUID(tenant_id),
        student_id=student_id,
        problem_key=problem_key,
        rung=1,
        cause=cause,
        created_at=sa.func.now(),
        updated_at=sa.func.now(),
    )
    climbed = stmt.on_conflict_do_update(
        index_elements=[hint_ladders.c.tenant_id, hint_ladders.c.student_id, hint_ladders.c.problem_key],
        set_={"rung": sa.func.least(hint_ladders.c.rung + 1, top), "updated_at": sa.func.now()},
    ).returning(hint_ladders.c.rung)
    return int((await session.execute(climbed)).scalar_one())


async def take_variation(
    session: AsyncConnection, tenant_id: str, student_id: str, topic: str, difficulty: str
) -> int:
    """The student's next variation of (topic, difficulty): 0, 1, 2..."""
    stmt = pg_insert(exercise_variations).values(
        tenant_id=uuid.UUID(tenant_id),
        student_id=student_id,
        topic=topic,
        difficulty=difficulty,
        next_variation=1,
    )
    taken = stmt.on_conflict_do_update(
        index_elements=list(exercise_variations.primary_key.columns),
        set_={"next_variation": exercise_variations.c.next_variation + 1},
    ).returning(exercise_variations.c.next_variation)
    return int((await session.execute(taken)).scalar_one()) - 1


async def add_usage(
    session: AsyncConnection,
    tenant_id: str,
    day: date,
    agent: str,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
) -> None:
    stmt = pg_insert(llm_usage).values(
        tenant_id=uuid.UUID(tenant_id),
        day=day,
        agent=agent,
        model=model,
        calls=1,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )
    excluded = stmt.excluded
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=list(llm_usage.primary_key.columns),
            set_={
                "calls": llm_usage.c.calls + 1,
                "prompt_tokens": llm_usage.c.prompt_tokens + excluded.prompt_tokens,
                "completion_tokens": llm_usage.c.completion_tokens + excluded.completion_tokens,
            },
        )
    )


async def current_rung(session: AsyncConnection, student_id: str, problem_key: str) -> int:
    """The last rung answered for this student and problem (0: none yet)."""
    rung = await session.scalar(
        sa.select(hint_ladders.c.rung).where(
            hint_ladders.c.student_id == student_id, hint_ladders.c.problem_key == problem_key
        )
    )
    return int(rung or 0)
