"""tutoring's use cases on the request side: storing what a student asks and handing it to the
agents through the outbox; reading conversations; streaming them live. Agents answer through
`reply()`, inside their consumer's transaction."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

from learnflow.tutoring.v1 import events_pb2
from learnflow.tutoring.v1 import resources_pb2 as pb
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime import pagination
from services.runtime.db import Database, parse_uuid, tenant_of
from services.runtime.errors import FieldViolation, InvalidArgument, NotFound, PermissionDenied, Violations
from services.runtime.events.outbox import Outbox
from services.runtime.request_context import Principal
from services.tutoring import convert, store
from services.tutoring.domain import exercises

log = logging.getLogger(__name__)

MAX_TEXT = 4_000
MAX_CODE = 64 * 1024
MAX_ERROR = 16 * 1024
STREAM_PAGE = 100
RESPONSES = "learning.responses"


class Notifier:
    """Wakes StreamConversation calls when an answer for their conversation is published on
    learning.responses (a core NATS subscription in every API process: fan-out, not a queue). The
    database stays the source of truth: a woken stream reads what is new, and streams also look
    every `poll_seconds` in case a notification was missed."""

    def __init__(self, poll_seconds: float = 2.0):
        self.poll_seconds = poll_seconds
        self._watchers: dict[str, set[asyncio.Event]] = {}
        self._sub: Any = None

    async def start(self, nc: Any) -> None:
        if nc is not None:
            self._sub = await nc.subscribe(RESPONSES, cb=self._on_message)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def _on_message(self, msg: Any) -> None:
        try:
            conversation_id = events_pb2.ResponseReady.FromString(msg.data).message.conversation_id
        except Exception:  # not ours to judge here; the stream's poll still finds the message
            return
        for waiter in self._watchers.get(conversation_id, ()):
            waiter.set()

    @contextlib.contextmanager
    def watch(self, conversation_id: str) -> Any:
        waiter = asyncio.Event()
        self._watchers.setdefault(conversation_id, set()).add(waiter)
        try:
            yield waiter
        finally:
            watchers = self._watchers.get(conversation_id)
            if watchers is not None:
                watchers.discard(waiter)
                if not watchers:
                    del self._watchers[conversation_id]


class TutoringService:
    def __init__(self, db: Database, outbox: Outbox, notifier: Notifier):
        self.db = db
        self.outbox = outbox
        self.notifier = notifier

    # --- asking --------------------------------------------------------------------------------------

    async def ask(
        self, caller: Principal, conversation_id: str, text: str, code: str, error: str
    ) -> pb.ChatMessage:
        v = Violations()
        _check_len(v, "text", text, MAX_TEXT)
        _check_len(v, "code", code, MAX_CODE)
        _check_len(v, "error", error, MAX_ERROR)
        v.raise_if_any()
        # Empty questions are accepted: triage answers them gracefully (FR-008).
        message = pb.ChatMessage(author=pb.AUTHOR_STUDENT, text=text.strip(), code=code, error=error)
        request = events_pb2.TutoringRequest(text=message.text, code=code, error=error)
        return await self._post(caller, conversation_id, message, "learning.requests", request)

    async def submit_code(
        self, caller: Principal, conversation_id: str, code: str, text: str
    ) -> pb.ChatMessage:
        v = Violations()
        if not code.strip():
            v.add("code", "is required")
        _check_len(v, "code", code, MAX_CODE)
        _check_len(v, "text", text, MAX_TEXT)
        v.raise_if_any()
        triage = pb.Triage(
            route=pb.ROUTE_CODE_REVIEW, confidence=1.0, reason="submitted for review", decided_by="client"
        )
        message = pb.ChatMessage(author=pb.AUTHOR_STUDENT, text=text.strip(), code=code, triage=triage)
        request = events_pb2.TutoringRequest(text=message.text, code=code, triage=triage)
        return await self._post(caller, conversation_id, message, "code.submissions", request)

    async def request_exercise(
        self, caller: Principal, conversation_id: str, topic: str, difficulty: int, variation: int
    ) -> pb.ChatMessage:
        v = Violations()
        topic = topic.strip().lower()
        if not topic:
            v.add("topic", "is required")
        elif topic not in exercises.topics():
            v.add("topic", f"unknown topic; choose one of {', '.join(exercises.topics())}")
        if difficulty not in (pb.DIFFICULTY_UNSPECIFIED, *convert.DIFFICULTIES):
            v.add("difficulty", "must be EASY, MEDIUM or HARD")
        if variation < 0:
            v.add("variation", "must be >= 0")
        v.raise_if_any()
        difficulty = difficulty or pb.DIFFICULTY_EASY
        level = convert.DIFFICULTIES[difficulty]
        triage = pb.Triage(
            route=pb.ROUTE_EXERCISE,
            confidence=1.0,
            reason="exercise requested",
            topic=topic,
            decided_by="client",
        )
        message = pb.ChatMessage(
            author=pb.AUTHOR_STUDENT, text=f"A {level} exercise on {topic}, please.", triage=triage
        )
        request = events_pb2.TutoringRequest(
            text=message.text, triage=triage, topic=topic, difficulty=difficulty, variation=variation
        )
        return await self._post(caller, conversation_id, message, "exercise.requests", request)

    async def _post(
        self,
        caller: Principal,
        conversation_id: str,
        message: pb.ChatMessage,
        subject: str,
        request: events_pb2.TutoringRequest,
    ) -> pb.ChatMessage:
        async with self.db.transaction(caller.tenant_id) as session:
            if conversation_id:
                # Only the student writes into their conversation (an admin may read it).
                conversation = await self._own_conversation(session, caller, conversation_id, write=True)
            else:
                conversation = await store.create_conversation(session, caller.tenant_id, caller.subject)
            if request.topic and not request.variation:
                # The student's next variation of this exercise, so asking again gives a new one.
                request.variation = await store.take_variation(
                    session, caller.tenant_id, caller.subject, request.topic, str(request.difficulty)
                )
            row = await self._insert(session, caller.tenant_id, conversation.id, message)
            request.conversation_id = str(conversation.id)
            request.message_id = str(row.id)
            request.student_id = caller.subject
            await self.outbox.stage(session, subject, request)
        return convert.message_from_row(row)

    async def _insert(
        self, session: AsyncConnection, tenant_id: str, conversation_id: uuid.UUID, message: pb.ChatMessage
    ) -> Any:
        sequence = await store.next_sequence(session, conversation_id)
        return await store.insert_message(
            session,
            tenant_id,
            {
                "id": uuid.uuid4(),
                "conversation_id": conversation_id,
                "sequence": sequence,
                "author": pb.Author.Name(message.author),
                "route": convert.ROUTE_SLUGS.get(message.triage.route, ""),
                "agent": message.agent,
                "provider": message.provider,
                "in_reply_to": parse_uuid(message.in_reply_to),
                "body": convert.body_of(message),
            },
        )

    # --- answering (inside an agent's consumer transaction) ------------------------------------------

    async def reply(
        self, session: AsyncConnection, request: events_pb2.TutoringRequest, answer: pb.ChatMessage
    ) -> pb.ChatMessage:
        """Stores a tutor message answering `request` and publishes learning.responses."""
        answer.author = pb.AUTHOR_TUTOR
        answer.in_reply_to = request.message_id
        conversation_id = parse_uuid(request.conversation_id)
        if conversation_id is None:
            raise InvalidArgument(f"request {request.message_id} names no conversation")  # dead-lettered
        row = await self._insert(session, tenant_of(session), conversation_id, answer)
        stored = convert.message_from_row(row)
        await self.outbox.stage(
            session, RESPONSES, events_pb2.ResponseReady(message=stored, student_id=request.student_id)
        )
        return stored

    async def record_triage(
        self, session: AsyncConnection, request: events_pb2.TutoringRequest, triage: pb.Triage
    ) -> None:
        """Writes the route taken, and why, onto the student's message."""
        row = await store.get_message(session, request.message_id)
        if row is None:
            raise NotFound(f"message {request.message_id} not found", reason="MESSAGE_NOT_FOUND")
        message = convert.message_from_row(row)
        message.triage.CopyFrom(triage)
        await store.set_message_body(
            session, row.id, convert.ROUTE_SLUGS.get(triage.route, ""), convert.body_of(message)
        )

    # --- reading -------------------------------------------------------------------------------------

    async def _own_conversation(
        self, session: AsyncConnection, caller: Principal, conversation_id: str, *, write: bool = False
    ) -> Any:
        conversation = await store.get_conversation(session, conversation_id)
        if conversation is None:
            raise NotFound(f"conversation {conversation_id} not found", reason="CONVERSATION_NOT_FOUND")
        if conversation.student_id != caller.subject and (write or not caller.has_any("admin")):
            raise PermissionDenied("this conversation is not yours", reason="NOT_YOUR_CONVERSATION")
        return conversation

    async def conversation(
        self, caller: Principal, conversation_id: str, page_size: int, page_token: str
    ) -> tuple[pb.Conversation, list[pb.ChatMessage], str]:
        if not conversation_id:
            raise InvalidArgument(
                "conversation_id is required", [FieldViolation("conversation_id", "is required")]
            )
        size = pagination.page_size(page_size)
        position = pagination.decode_token(page_token)
        after = position.get("s") if position else 0
        if not isinstance(after, int) or after < 0:
            raise _bad_token()
        async with self.db.transaction(caller.tenant_id) as session:
            conversation = await self._own_conversation(session, caller, conversation_id)
            rows = await store.messages_after(session, conversation.id, after, size + 1)
        token = pagination.encode_token({"s": rows[size - 1].sequence}) if len(rows) > size else ""
        return (
            convert.conversation_from_row(conversation),
            [convert.message_from_row(r) for r in rows[:size]],
            token,
        )

    async def conversations(
        self, caller: Principal, page_size: int, page_token: str
    ) -> tuple[list[pb.Conversation], str]:
        size = pagination.page_size(page_size)
        position = pagination.decode_token(page_token)
        after = None
        if position:
            try:
                after = (datetime.fromisoformat(position["t"]), str(uuid.UUID(position["i"])))
            except (KeyError, TypeError, ValueError) as exc:
                raise _bad_token() from exc
        async with self.db.transaction(caller.tenant_id) as session:
            rows = await store.list_conversations(session, caller.subject, size + 1, after)
        token = ""
        if len(rows) > size:
            last = rows[size - 1]
            token = pagination.encode_token({"t": last.updated_at.isoformat(), "i": str(last.id)})
        return [convert.conversation_from_row(r) for r in rows[:size]], token

    async def stream(
        self, caller: Principal, conversation_id: str, after_sequence: int, max_wait_seconds: int
    ) -> AsyncGenerator[pb.ChatMessage, None]:
        v = Violations()
        if not conversation_id:
            v.add("conversation_id", "is required")
        if after_sequence < 0:
            v.add("after_sequence", "must be >= 0")
        if not 0 <= max_wait_seconds <= 3600:
            v.add("max_wait_seconds", "must be between 0 and 3600")
        v.raise_if_any()
        max_wait = max_wait_seconds or 300
        async with self.db.transaction(caller.tenant_id) as session:
            conversation = await self._own_conversation(session, caller, conversation_id)
        last = after_sequence
        with self.notifier.watch(str(conversation.id)) as woken:  # before reading: no lost wake-up
            deadline = time.monotonic() + max_wait
            while True:
                woken.clear()
                async with self.db.transaction(caller.tenant_id) as session:
                    rows = await store.messages_after(session, conversation.id, last, STREAM_PAGE)
                for row in rows:
                    yield convert.message_from_row(row)
                    last = row.sequence
                if len(rows) == STREAM_PAGE:
                    continue
                now = time.monotonic()
                if rows:
                    deadline = now + max_wait
                if now >= deadline:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), min(deadline - now, self.notifier.poll_seconds))


def _check_len(v: Violations, field: str, value: str, limit: int) -> None:
    if len(value) > limit:
        v.add(field, f"must be at most {limit} characters")


def _bad_token() -> InvalidArgument:
    return InvalidArgument(
        "page_token is not valid",
        [FieldViolation("page_token", "use a next_page_token from a previous response of this RPC")],
    )
