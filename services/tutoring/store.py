"""tutoring's tables and queries (SQLAlchemy Core). A message is kept whole as JSON in `body`,
beside the columns queries filter and order by; a conversation's row lock numbers its messages.

The body's layout is the ChatMessage's proto JSON form (field names as in the proto, enums by their
proto names, default values left out, the columns' fields not repeated), the layout rows have always
had: the codec below writes and reads it from the domain's ChatMessage without protobuf."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime.db import parse_uuid
from services.tutoring.domain.chat import (
    Author,
    ChatMessage,
    CodeReview,
    Conversation,
    ExerciseCard,
    HintStep,
    ReviewComment,
    Routing,
    Source,
)
from services.tutoring.domain.exercises import Difficulty
from services.tutoring.domain.triage import Route
from services.tutoring.tables import conversations, exercise_variations, hint_ladders, llm_usage, messages

# --- a message's body: the domain's ChatMessage in the stored (proto JSON) layout -----------------

_AUTHORS = {a: f"AUTHOR_{a.name}" for a in Author}
_ROUTES = {r: f"ROUTE_{r.name}" for r in Route}
_DIFFICULTIES = {d: f"DIFFICULTY_{d.name}" for d in Difficulty}
_RUNGS = {1: "HINT_RUNG_LOCATE", 2: "HINT_RUNG_EXPLAIN", 3: "HINT_RUNG_FIX"}


_AUTHOR_OF = {v: k for k, v in _AUTHORS.items()}
_ROUTE_OF = {v: k for k, v in _ROUTES.items()}
_DIFFICULTY_OF = {v: k for k, v in _DIFFICULTIES.items()}
_RUNG_OF = {v: k for k, v in _RUNGS.items()}


def _set(values: dict[str, Any]) -> dict[str, Any]:
    """Without the default values (None, 0, "", False, empty), as proto JSON leaves them out."""
    return {k: v for k, v in values.items() if v not in (None, 0, 0.0, "", False, [], {})}


def _routing(r: Routing | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return _set(
        {
            "route": _ROUTES.get(r.route) if r.route else None,
            "confidence": r.confidence,
            "reason": r.reason,
            "topic": r.topic,
            "decided_by": r.decided_by,
        }
    )


def _body(m: ChatMessage) -> dict[str, Any]:
    body = _set(
        {
            "author": _AUTHORS.get(m.author) if m.author else None,
            "text": m.text,
            "code": m.code,
            "error": m.error,
            "in_reply_to": m.in_reply_to,
            "agent": m.agent,
            "provider": m.provider,
            "sources": [_set({"title": s.title, "ref": s.ref}) for s in m.sources],
        }
    )
    # A message field that is set appears even when all its fields are defaults ({}).
    if m.triage is not None:
        body["triage"] = _routing(m.triage)
    if m.hint is not None:
        h = m.hint
        body["hint"] = _set(
            {
                "rung": _RUNGS.get(h.rung),
                "rungs": h.rungs,
                "problem_key": h.problem_key,
                "cause": h.cause,
                "line": h.line,
            }
        )
    if m.review is not None:
        comments = [
            _set({"line": c.line, "kind": c.kind, "message": c.message, "suggestion": c.suggestion})
            for c in m.review.comments
        ]
        body["review"] = _set(
            {"comments": comments, "quality": m.review.quality, "run_verdict": m.review.run_verdict}
        )
    if m.exercise is not None:
        e = m.exercise
        body["exercise"] = _set(
            {
                "exercise_id": e.exercise_id,
                "title": e.title,
                "prompt": e.prompt,
                "starter_code": e.starter_code,
                "topic": e.topic,
                "difficulty": _DIFFICULTIES.get(e.difficulty) if e.difficulty else None,
                "variation": e.variation,
                "visible_cases": e.visible_cases,
                "hidden_cases": e.hidden_cases,
            }
        )
    return body


def _routing_of(d: dict[str, Any] | None) -> Routing | None:
    if d is None:
        return None
    return Routing(
        route=_ROUTE_OF.get(d.get("route", "")),
        confidence=float(d.get("confidence", 0.0)),
        reason=d.get("reason", ""),
        topic=d.get("topic", ""),
        decided_by=d.get("decided_by", ""),
    )


def _message(row: Any) -> ChatMessage:
    b = row.body
    hint = b.get("hint")
    review = b.get("review")
    exercise = b.get("exercise")
    return ChatMessage(
        author=_AUTHOR_OF.get(b.get("author", "")),
        text=b.get("text", ""),
        code=b.get("code", ""),
        error=b.get("error", ""),
        in_reply_to=b.get("in_reply_to", ""),
        triage=_routing_of(b.get("triage")),
        agent=b.get("agent", ""),
        provider=b.get("provider", ""),
        sources=tuple(Source(s.get("title", ""), s.get("ref", "")) for s in b.get("sources", ())),
        hint=None
        if hint is None
        else HintStep(
            rung=_RUNG_OF.get(hint.get("rung", ""), 0),
            rungs=hint.get("rungs", 0),
            problem_key=hint.get("problem_key", ""),
            cause=hint.get("cause", ""),
            line=hint.get("line", 0),
        ),
        review=None
        if review is None
        else CodeReview(
            comments=tuple(
                ReviewComment(
                    c.get("line", 0), c.get("kind", ""), c.get("message", ""), c.get("suggestion", "")
                )
                for c in review.get("comments", ())
            ),
            quality=float(review.get("quality", 0.0)),
            run_verdict=review.get("run_verdict", ""),
        ),
        exercise=None
        if exercise is None
        else ExerciseCard(
            exercise_id=exercise.get("exercise_id", ""),
            title=exercise.get("title", ""),
            prompt=exercise.get("prompt", ""),
            starter_code=exercise.get("starter_code", ""),
            topic=exercise.get("topic", ""),
            difficulty=_DIFFICULTY_OF.get(exercise.get("difficulty", "")),
            variation=exercise.get("variation", 0),
            visible_cases=exercise.get("visible_cases", 0),
            hidden_cases=exercise.get("hidden_cases", 0),
        ),
        id=str(row.id),
        conversation_id=str(row.conversation_id),
        sequence=row.sequence,
        created_at=row.created_at,
    )


def _conversation(row: Any) -> Conversation:
    return Conversation(str(row.id), row.student_id, row.created_at, row.updated_at)


# --- conversations and messages ------------------------------------------------------------------


async def create_conversation(session: AsyncConnection, tenant_id: str, student_id: str) -> Conversation:
    row = await session.execute(
        sa.insert(conversations)
        .values(id=uuid.uuid4(), tenant_id=uuid.UUID(tenant_id), student_id=student_id, last_sequence=0)
        .returning(*conversations.c)
    )
    return _conversation(row.one())


async def _by_id(session: AsyncConnection, table: sa.Table, row_id: str) -> Any | None:
    """The row with this id, or None (also for an id that is not a UUID: nothing has it)."""
    parsed = parse_uuid(row_id)
    if parsed is None:
        return None
    return (await session.execute(sa.select(table).where(table.c.id == parsed))).one_or_none()


async def get_conversation(session: AsyncConnection, conversation_id: str) -> Conversation | None:
    row = await _by_id(session, conversations, conversation_id)
    return _conversation(row) if row else None


async def insert_message(
    session: AsyncConnection, tenant_id: str, conversation_id: str, message: ChatMessage
) -> ChatMessage:
    """Stores the message as the conversation's next; returns it with its id, sequence and time.
    Takes the conversation's row lock until commit: messages of one conversation are numbered in
    commit order, so a reader that saw sequence n never later finds a new message below n."""
    conversation = uuid.UUID(conversation_id)
    sequence = await session.execute(
        sa.update(conversations)
        .where(conversations.c.id == conversation)
        .values(last_sequence=conversations.c.last_sequence + 1, updated_at=sa.func.now())
        .returning(conversations.c.last_sequence)
    )
    row = await session.execute(
        sa.insert(messages)
        .values(
            id=uuid.uuid4(),
            tenant_id=uuid.UUID(tenant_id),
            conversation_id=conversation,
            sequence=int(sequence.scalar_one()),
            author=_AUTHORS[message.author] if message.author else "AUTHOR_UNSPECIFIED",
            route=message.triage.route.value if message.triage and message.triage.route else "",
            agent=message.agent,
            provider=message.provider,
            in_reply_to=parse_uuid(message.in_reply_to),
            body=_body(message),
            created_at=sa.func.now(),
        )
        .returning(*messages.c)
    )
    return _message(row.one())


async def get_message(session: AsyncConnection, message_id: str) -> ChatMessage | None:
    row = await _by_id(session, messages, message_id)
    return _message(row) if row else None


async def set_message_body(session: AsyncConnection, message: ChatMessage) -> None:
    """Rewrites a stored message's body and route (triage records its decision on the student's)."""
    route = message.triage.route.value if message.triage and message.triage.route else ""
    await session.execute(
        sa.update(messages)
        .where(messages.c.id == uuid.UUID(message.id))
        .values(route=route, body=_body(message))
    )


async def messages_after(
    session: AsyncConnection, conversation_id: str, after_sequence: int, limit: int
) -> list[ChatMessage]:
    rows = await session.execute(
        sa.select(messages)
        .where(messages.c.conversation_id == uuid.UUID(conversation_id), messages.c.sequence > after_sequence)
        .order_by(messages.c.sequence)
        .limit(limit)
    )
    return [_message(r) for r in rows]


async def messages_before(
    session: AsyncConnection, conversation_id: str, before_sequence: int, limit: int
) -> list[ChatMessage]:
    """The conversation's messages before `before_sequence`, newest first (what a follow-up follows)."""
    rows = await session.execute(
        sa.select(messages)
        .where(
            messages.c.conversation_id == uuid.UUID(conversation_id), messages.c.sequence < before_sequence
        )
        .order_by(messages.c.sequence.desc())
        .limit(limit)
    )
    return [_message(r) for r in rows]


async def list_conversations(
    session: AsyncConnection, student_id: str, limit: int, after: tuple[datetime, str] | None
) -> list[Conversation]:
    q = sa.select(conversations).where(conversations.c.student_id == student_id)
    if after is not None:
        q = q.where(
            sa.tuple_(conversations.c.updated_at, conversations.c.id) < (after[0], uuid.UUID(after[1]))
        )
    rows = await session.execute(
        q.order_by(conversations.c.updated_at.desc(), conversations.c.id.desc()).limit(limit)
    )
    return [_conversation(r) for r in rows]


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


# The difficulty column holds the proto enum's number, as it always has (1 easy, 2 medium, 3 hard).
_DIFFICULTY_KEYS = {Difficulty.EASY: "1", Difficulty.MEDIUM: "2", Difficulty.HARD: "3"}


async def take_variation(
    session: AsyncConnection, tenant_id: str, student_id: str, topic: str, difficulty: Difficulty
) -> int:
    """The student's next variation of (topic, difficulty): 0, 1, 2..."""
    stmt = pg_insert(exercise_variations).values(
        tenant_id=uuid.UUID(tenant_id),
        student_id=student_id,
        topic=topic,
        difficulty=_DIFFICULTY_KEYS[difficulty],
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
