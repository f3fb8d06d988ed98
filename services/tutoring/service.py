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
from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime import pagination
from services.runtime.db import Database, parse_uuid, tenant_of
from services.runtime.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
    Violations,
)
from services.runtime.events.outbox import Outbox
from services.runtime.ratelimit import RateLimiter
from services.runtime.request_context import Principal
from services.tutoring import convert, prompts, store
from services.tutoring.domain import exercises, research
from services.tutoring.domain.chat import Author, ChatMessage, Conversation, Routing, TutoringRequest
from services.tutoring.domain.exercises import Difficulty
from services.tutoring.domain.research import Analysis, Research
from services.tutoring.domain.triage import Route
from services.tutoring.notifier import RESPONSES, Notifier
from services.tutoring.providers.llm import LlmClient, ProviderUnavailable

__all__ = ["RESPONSES", "Notifier", "TutoringService"]

log = logging.getLogger(__name__)

MAX_TEXT = 4_000
MAX_CODE = 64 * 1024
MAX_ERROR = 16 * 1024
STREAM_PAGE = 100


class TutoringService:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        notifier: Notifier,
        llm: LlmClient | None = None,
        *,
        per_user: RateLimiter | None = None,
        per_tenant: RateLimiter | None = None,
    ):
        self.db = db
        self.outbox = outbox
        self.notifier = notifier
        self.llm = llm
        self.per_user = per_user
        self.per_tenant = per_tenant

    # --- research (the registry's `research` capability; the workflows context calls it) ---------------

    async def research(self, caller: Principal, topic: str, difficulty: str, max_sources: int) -> Research:
        """Python's documentation on a topic; the index is built off the event loop on first use. With
        a model configured, the model writes the brief from those sources (the concepts agent's model)
        and the result carries the tokens the provider reported; when the model gives no usable answer
        the grounded result is returned, and the log says why."""
        del caller  # services only (the proto's rule): a workflow's workload token; nothing is stored
        found = await asyncio.to_thread(research.research, topic.strip(), difficulty, max_sources)
        if self.llm is not None:
            try:
                done = await self.llm.complete(
                    "concepts", prompts.research(topic.strip(), difficulty, found), max_tokens=800
                )
            except ProviderUnavailable as exc:
                log.warning("research offline: the model gave no answer", extra={"reason": exc.reason})
            else:
                found = research.from_model(
                    found, done.text, done.model, done.usage.prompt_tokens, done.usage.completion_tokens
                )
        log.info(
            "research done",
            extra={
                "sources": len(found.sources),
                "produced_by": found.produced_by,
                "tokens": found.prompt_tokens + found.completion_tokens,
            },
        )
        return found

    async def analyse(self, caller: Principal, topic: str, summary: str, key_points: str) -> Analysis:
        """A research brief's headline and takeaways, written by the model. Without one configured,
        FAILED_PRECONDITION (the workflows context then analyses offline); no usable answer, UNAVAILABLE."""
        del caller  # services only (the proto's rule); nothing is stored
        if self.llm is None:
            raise FailedPrecondition("no model is configured", reason="MODEL_NOT_CONFIGURED")
        try:
            done = await self.llm.complete(
                "concepts", prompts.analysis(topic.strip(), summary, key_points), max_tokens=300
            )
        except ProviderUnavailable as exc:
            raise Unavailable(f"the model gave no answer: {exc.reason}", reason="MODEL_UNAVAILABLE") from exc
        found = research.analysis_from_model(
            done.text, done.model, done.usage.prompt_tokens, done.usage.completion_tokens
        )
        if found is None:
            raise Unavailable("the model's answer had no headline", reason="MODEL_UNAVAILABLE")
        log.info("analysis done", extra={"produced_by": found.produced_by, "takeaways": len(found.takeaways)})
        return found

    # --- asking --------------------------------------------------------------------------------------

    async def ask(
        self, caller: Principal, conversation_id: str, text: str, code: str, error: str
    ) -> ChatMessage:
        v = Violations()
        _check_len(v, "text", text, MAX_TEXT)
        _check_len(v, "code", code, MAX_CODE)
        _check_len(v, "error", error, MAX_ERROR)
        v.raise_if_any()
        # Empty questions are accepted: triage answers them gracefully (FR-008).
        message = ChatMessage(author=Author.STUDENT, text=text.strip(), code=code, error=error)
        request = TutoringRequest(text=message.text, code=code, error=error)
        return await self._post(caller, conversation_id, message, "learning.requests", request)

    async def submit_code(self, caller: Principal, conversation_id: str, code: str, text: str) -> ChatMessage:
        v = Violations()
        if not code.strip():
            v.add("code", "is required")
        _check_len(v, "code", code, MAX_CODE)
        _check_len(v, "text", text, MAX_TEXT)
        v.raise_if_any()
        triage = Routing(
            Route.CODE_REVIEW, confidence=1.0, reason="submitted for review", decided_by="client"
        )
        message = ChatMessage(author=Author.STUDENT, text=text.strip(), code=code, triage=triage)
        request = TutoringRequest(text=message.text, code=code, triage=triage)
        return await self._post(caller, conversation_id, message, "code.submissions", request)

    async def request_exercise(
        self, caller: Principal, conversation_id: str, topic: str, difficulty: str, variation: int
    ) -> ChatMessage:
        """`difficulty` is "" (easy), or a Difficulty's value; anything else is a field violation."""
        v = Violations()
        topic = topic.strip().lower()
        if not topic:
            v.add("topic", "is required")
        elif topic not in exercises.topics():
            v.add("topic", f"unknown topic; choose one of {', '.join(exercises.topics())}")
        if difficulty and difficulty not in set(Difficulty):
            v.add("difficulty", "must be EASY, MEDIUM or HARD")
        if variation < 0:
            v.add("variation", "must be >= 0")
        v.raise_if_any()
        level = Difficulty(difficulty or Difficulty.EASY)
        triage = Routing(
            Route.EXERCISE, confidence=1.0, reason="exercise requested", topic=topic, decided_by="client"
        )
        message = ChatMessage(
            author=Author.STUDENT, text=f"A {level} exercise on {topic}, please.", triage=triage
        )
        request = TutoringRequest(
            text=message.text, triage=triage, topic=topic, difficulty=level, variation=variation
        )
        return await self._post(caller, conversation_id, message, "exercise.requests", request)

    async def _post(
        self,
        caller: Principal,
        conversation_id: str,
        message: ChatMessage,
        subject: str,
        request: TutoringRequest,
    ) -> ChatMessage:
        await self._admit(caller)
        async with self.db.transaction(caller.tenant_id) as session:
            if conversation_id:
                # Only the student writes into their conversation (an admin may read it).
                conversation = await self._own_conversation(session, caller, conversation_id, write=True)
            else:
                conversation = await store.create_conversation(session, caller.tenant_id, caller.subject)
            if request.topic and request.difficulty and not request.variation:
                # The student's next variation of this exercise, so asking again gives a new one.
                variation = await store.take_variation(
                    session, caller.tenant_id, caller.subject, request.topic, request.difficulty
                )
                request = replace(request, variation=variation)
            stored = await store.insert_message(session, caller.tenant_id, conversation.id, message)
            request = replace(
                request, conversation_id=conversation.id, message_id=stored.id, student_id=caller.subject
            )
            await self.outbox.stage(session, subject, convert.request_event(request))
        return stored

    async def _admit(self, caller: Principal) -> None:
        """A request the agents answer with the model: the person's limit, then the tenant's (a
        service's requests count toward its tenant only). The person's first: a request they are
        refused must not spend the tenant's budget, or one person's flood of refused requests would
        refuse everyone else."""
        if self.per_user is not None and not caller.has_any("service"):
            await self.per_user.take(f"{caller.tenant_id}:{caller.subject}")
        if self.per_tenant is not None:
            await self.per_tenant.take(caller.tenant_id)

    # --- answering (inside an agent's consumer transaction) ------------------------------------------

    async def reply(
        self, session: AsyncConnection, request: TutoringRequest, answer: ChatMessage
    ) -> ChatMessage:
        """Stores a tutor message answering `request` and publishes learning.responses."""
        answer = replace(answer, author=Author.TUTOR, in_reply_to=request.message_id)
        if parse_uuid(request.conversation_id) is None:
            raise InvalidArgument(f"request {request.message_id} names no conversation")  # dead-lettered
        stored = await store.insert_message(session, tenant_of(session), request.conversation_id, answer)
        await self.outbox.stage(session, RESPONSES, convert.response_ready_event(stored, request.student_id))
        return stored

    async def record_triage(
        self, session: AsyncConnection, request: TutoringRequest, triage: Routing
    ) -> None:
        """Writes the route taken, and why, onto the student's message."""
        message = await store.get_message(session, request.message_id)
        if message is None:
            raise NotFound(f"message {request.message_id} not found", reason="MESSAGE_NOT_FOUND")
        await store.set_message_body(session, replace(message, triage=triage))

    # --- reading -------------------------------------------------------------------------------------

    async def _own_conversation(
        self, session: AsyncConnection, caller: Principal, conversation_id: str, *, write: bool = False
    ) -> Conversation:
        conversation = await store.get_conversation(session, conversation_id)
        if conversation is None:
            raise NotFound(f"conversation {conversation_id} not found", reason="CONVERSATION_NOT_FOUND")
        if conversation.student_id != caller.subject and (write or not caller.has_any("admin")):
            raise PermissionDenied("this conversation is not yours", reason="NOT_YOUR_CONVERSATION")
        return conversation

    async def conversation(
        self, caller: Principal, conversation_id: str, page_size: int, page_token: str
    ) -> tuple[Conversation, list[ChatMessage], str]:
        if not conversation_id:
            raise InvalidArgument(
                "conversation_id is required", [FieldViolation("conversation_id", "is required")]
            )
        size = pagination.page_size(page_size)
        position = pagination.decode_token(page_token, s=int)
        after = position["s"] if position else 0
        if after < 0:
            raise _bad_token()
        async with self.db.transaction(caller.tenant_id) as session:
            conversation = await self._own_conversation(session, caller, conversation_id)
            messages = await store.messages_after(session, conversation.id, after, size + 1)
        token = pagination.encode_token({"s": messages[size - 1].sequence}) if len(messages) > size else ""
        return conversation, messages[:size], token

    async def conversations(
        self, caller: Principal, page_size: int, page_token: str
    ) -> tuple[list[Conversation], str]:
        size = pagination.page_size(page_size)
        position = pagination.decode_token(page_token, t=datetime, i=uuid.UUID)
        after = (position["t"], str(position["i"])) if position else None
        async with self.db.transaction(caller.tenant_id) as session:
            found = await store.list_conversations(session, caller.subject, size + 1, after)
        token = ""
        if len(found) > size:
            last = found[size - 1]
            token = pagination.encode_token({"t": last.updated_at.isoformat(), "i": last.id})
        return found[:size], token

    async def stream(
        self, caller: Principal, conversation_id: str, after_sequence: int, max_wait_seconds: int
    ) -> AsyncGenerator[ChatMessage, None]:
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
        with self.notifier.watch(conversation.id) as woken:  # before reading: no lost wake-up
            deadline = time.monotonic() + max_wait
            while True:
                woken.clear()
                async with self.db.transaction(caller.tenant_id) as session:
                    found = await store.messages_after(session, conversation.id, last, STREAM_PAGE)
                for message in found:
                    yield message
                    last = message.sequence
                if len(found) == STREAM_PAGE:
                    continue
                now = time.monotonic()
                if found:
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
