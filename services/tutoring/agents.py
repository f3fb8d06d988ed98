"""The agents: triage and the concepts, debug, code-review and exercise agents, each a durable
consumer of its subject (a consumer group: several processes or pods bound to the same durable
share its messages).

Each agent has two steps (runtime ConsumerSpec.prepare / handler):

- prepare, outside any transaction and concurrently for a batch: the slow part — the offline
  analysis, a model call when one is configured, sandbox runs. It stores nothing of ours; its calls
  elsewhere are keyed by the event (a review's run has the event id as its idempotency key), so a
  redelivered request does not count twice, and an exercise is created once.
- apply, in the consumer's transaction with its inbox row: what must happen once — the hint ladder
  climbs, the answer is stored, learning.responses and progress events are staged.

Offline (no OPENAI_API_KEY) every answer comes from the deterministic domain code, grounded in
Python's own documentation, traceback analysis, static analysis and sandbox runs. With a model the
same grounding goes into the prompt, and the offline answer is the fallback whenever the provider
fails or, in hint mode, gives the solution away. Every answer says which provider produced it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime.db import Database, tenant_of
from services.runtime.errors import FailedPrecondition, InvalidArgument
from services.runtime.events.envelope import Event, require_tenant
from services.tutoring import convert, prompts, store
from services.tutoring.clients import MeshCalls
from services.tutoring.domain import concepts, debug, exercises, language, leaks, review, triage
from services.tutoring.domain.chat import (
    ActivityKind,
    ChatMessage,
    CodeReview,
    ExerciseCard,
    HintStep,
    LearningActivity,
    ReviewComment,
    Routing,
    Source,
    TutoringRequest,
    earlier_of,
)
from services.tutoring.domain.triage import Earlier, Route
from services.tutoring.providers.llm import LlmClient, ProviderUnavailable, Usage
from services.tutoring.service import TutoringService

log = logging.getLogger(__name__)

OFFLINE = "offline"
RUNGS = 3
CONFIDENT = 0.6  # below this, triage asks the model (when one is configured)
HISTORY = 20  # earlier messages a follow-up without code is read against

# Where triage sends each route; off-topic and unclear requests triage answers itself.
SUBJECTS = {
    Route.CONCEPT: "concepts.requests",
    Route.DEBUG: "debug.requests",
    Route.CODE_REVIEW: "code.submissions",
    Route.EXERCISE: "exercise.requests",
}


# What interventions consumes from tutoring (TUTORING stream): a hint given, a message triage could
# not make out.
HINT_REQUESTED = "tutoring.hint_requested"
QUESTION_UNCLEAR = "tutoring.question_unclear"

GAVE_UP = object()  # Prepared.detail of an apology: the last delivery's prepare failed


@dataclass(frozen=True)
class Phrased:
    text: str
    provider: str
    usage: Usage | None = None


@dataclass(frozen=True)
class Prepared:
    """What an agent's prepare step hands its apply step."""

    answer: ChatMessage
    phrased: Phrased
    detail: Any = None


def request_of(event: Event) -> TutoringRequest:
    request = convert.request_from_proto(event.message)
    if not request.message_id or not request.conversation_id or not request.student_id:
        raise InvalidArgument(
            f"{event.type} {event.id}: message_id, conversation_id and student_id are required"
        )
    return request


class Agents:
    def __init__(
        self, db: Database, service: TutoringService, llm: LlmClient | None, calls: MeshCalls | None
    ):
        self.db = db
        self.service = service
        self.llm = llm
        self.calls = calls

    def last_chance(
        self, prepare: Callable[[Event], Awaitable[Prepared]]
    ) -> Callable[[Event], Awaitable[Prepared]]:
        """On an event's last delivery, a failed prepare (the sandbox or progress down, a rate limit)
        becomes an apology, so the student hears something instead of nothing. Malformed requests
        are still dead-lettered."""

        async def prepared(event: Event) -> Prepared:
            try:
                return await prepare(event)
            except InvalidArgument:
                raise
            except Exception as exc:
                if not event.last_delivery:
                    raise
                log.error("giving up on a request; answering with an apology", extra={"error": repr(exc)})
                return Prepared(ChatMessage(), Phrased(prompts.GAVE_UP, OFFLINE), GAVE_UP)

        return prepared

    # --- the model, behind the offline answer ---------------------------------------------------------

    async def phrase(
        self, agent: str, messages: list[dict[str, str]], offline: str, *, guard: str = ""
    ) -> Phrased:
        """The model's answer, or the offline one when there is no model or it fails. With `guard` (the
        solution, in hint mode) an answer that leaks it has its code removed, or is refused."""
        if self.llm is None:
            return Phrased(offline, OFFLINE)
        try:
            completion = await self.llm.complete(agent, messages)
        except ProviderUnavailable as exc:
            log.warning("model unavailable; answering offline", extra={"agent": agent, "reason": exc.reason})
            return Phrased(offline, f"{OFFLINE} (fallback: {exc.reason})")
        provider = f"openai:{completion.model}"
        text = completion.text.strip()
        if guard and leaks.leaked_code(text, guard):
            stripped = leaks.strip_code(text)
            if leaks.leaked_code(stripped, guard):
                log.warning("model answer gave the solution away; refused", extra={"agent": agent})
                return Phrased(
                    offline, f"{OFFLINE} (model answer refused: it revealed the solution)", completion.usage
                )
            return Phrased(stripped, f"{provider} (solution code removed)", completion.usage)
        return Phrased(text, provider, completion.usage)

    async def _record(self, session: AsyncConnection, agent: str, *phrased: Phrased) -> None:
        for p in phrased:
            if p.usage is not None:
                await store.add_usage(
                    session,
                    tenant_of(session),
                    datetime.now(UTC).date(),
                    agent,
                    p.usage.model,
                    p.usage.prompt_tokens,
                    p.usage.completion_tokens,
                )

    async def _answer(
        self, session: AsyncConnection, request: TutoringRequest, agent: str, p: Prepared
    ) -> ChatMessage:
        answer = replace(
            p.answer,
            agent=agent,
            text=p.phrased.text,
            provider=p.phrased.provider,
            triage=request.triage or Routing(),  # an answer always carries the route taken
        )
        await self._record(session, agent, p.phrased)
        return await self.service.reply(session, request, answer)

    async def _activity(self, session: AsyncConnection, activity: LearningActivity) -> None:
        event = convert.activity_recorded_event(activity, datetime.now(UTC))
        await self.service.outbox.stage(session, "progress.events", event)

    # --- triage -------------------------------------------------------------------------------------

    async def _earlier(self, event: Event, request: TutoringRequest) -> Earlier | None:
        """The conversation's last route and code, for a message that brings no code of its own."""
        if request.code.strip() or request.error.strip():
            return None
        async with self.db.transaction(require_tenant(event)) as session:
            message = await store.get_message(session, request.message_id)
            if message is None or message.sequence <= 1:
                return None
            history = await store.messages_before(session, request.conversation_id, message.sequence, HISTORY)
        return earlier_of(history)

    async def prepare_triage(self, event: Event) -> Prepared:
        request = request_of(event)
        earlier = await self._earlier(event, request)
        decided = triage.classify(request.text, request.code, request.error, earlier)
        result = Routing(
            route=decided.route,
            confidence=decided.confidence,
            reason=decided.reason,
            topic=decided.topic,
            decided_by="rules",
        )
        usage = None
        # With a model, the rules never turn a message away on their own: a word missing from their
        # lists ("explain generators and yield") is the model's to judge.
        unsure = decided.confidence < CONFIDENT or (
            decided.route in (Route.OFF_TOPIC, Route.UNCLEAR) and bool(request.text.strip())
        )
        if self.llm is not None and unsure:
            earlier_route = earlier.route.value if earlier and earlier.route else ""
            asked = replace(request, code=request.code or (earlier.code if earlier else ""))
            p = await self.phrase("triage", prompts.triage(asked, earlier_route), "")
            chosen = _route_named(p.text.strip().strip(".").lower())
            if chosen is not None and p.provider.startswith("openai:"):
                result = replace(
                    result,
                    route=chosen,
                    decided_by=p.provider,
                    reason=f"the model chose {p.text.strip()} (rules were unsure: {decided.reason})",
                )
            usage = p.usage
        # A follow-up without code is about the conversation's code: the debug agent climbs the same
        # problem's ladder, a review reviews it. (A concept question is answered on its own.)
        context = None
        if decided.earlier_code and earlier is not None and result.route in (Route.DEBUG, Route.CODE_REVIEW):
            context = (earlier.code, earlier.error)
        answer = ChatMessage()
        if result.route in SUBJECTS:
            return Prepared(answer, Phrased("", ""), (result, usage, context))
        assert result.route is not None  # classify always decides
        offline = prompts.GRACEFUL[result.route]
        if decided.language != language.ENGLISH:
            offline = prompts.english_only(decided.language) + offline
        return Prepared(answer, Phrased(offline, OFFLINE, None), (result, usage, context))

    async def apply_triage(self, event: Event, session: AsyncConnection) -> None:
        request = request_of(event)
        p: Prepared = event.prepared
        if p.detail is GAVE_UP:
            await self._answer(session, request, "triage", p)
            return
        result, usage, context = p.detail
        await self.service.record_triage(session, request, result)
        if usage is not None:
            await self._record(session, "triage", Phrased("", "", usage))
        request = replace(request, triage=result)
        if context is not None:
            request = replace(request, code=context[0], error=context[1])
        subject = SUBJECTS.get(result.route) if result.route else None
        if subject is not None:
            await self.service.outbox.stage(session, subject, convert.request_event(request))
        else:
            await self._answer(session, request, "triage", p)
        if result.route == Route.UNCLEAR:
            # Repeated unclear questions are a student who cannot put the problem into words:
            # interventions may suggest asking the teacher (its ask_teacher_unclear policy).
            event = convert.question_unclear_event(request, result, datetime.now(UTC))
            await self.service.outbox.stage(session, QUESTION_UNCLEAR, event)

    # --- concepts -----------------------------------------------------------------------------------

    async def prepare_concepts(self, event: Event) -> Prepared:
        request = request_of(event)
        level = "new"
        topic = request.triage.topic if request.triage else ""
        if self.calls is not None and topic:
            try:
                levels = await self.calls.mastery_levels(require_tenant(event), request.student_id)
                level = levels.get(topic, "new")
            except Exception as exc:  # progress is down or unreachable: explain for a newcomer
                log.warning("mastery level unavailable", extra={"error": repr(exc)})
        reading = language.read(request.text)  # "¿qué es una lista?" is read as "what is a list?"
        explanation = concepts.explain(reading.english, level)
        if explanation is None:
            # Outside the concept map: the interpreter's whole documentation. Its index is built on
            # the first such question (about two seconds), off the event loop.
            explanation = await asyncio.to_thread(concepts.look_up, reading.english)
        if explanation is None and self.llm is None:
            offline = prompts.NO_CONCEPT
            if reading.translated:
                offline = prompts.english_only(reading.language) + offline
            return Prepared(ChatMessage(), Phrased(offline, OFFLINE))
        cited = explanation.sources if explanation else ()
        answer = ChatMessage(
            sources=tuple(Source(title=s.title, ref=s.ref) for s in cited),
            code=explanation.example if explanation else "",
        )
        offline = explanation.text if explanation else prompts.NO_CONCEPT
        if reading.translated:
            offline = prompts.english_only(reading.language) + offline
        guard = await self._unspent_fix(event, request)
        phrased = await self.phrase(
            "concepts", prompts.concept(request, explanation, level, reading.language), offline, guard=guard
        )
        return Prepared(answer, phrased, level)

    async def _unspent_fix(self, event: Event, request: TutoringRequest) -> str:
        """The fix a model must not reveal when a question comes with code: the debug ladder's third rung
        for this problem, unless the student has already reached it ("" when there is nothing to fix)."""
        if self.llm is None or not request.code.strip():
            return ""
        diagnosis = debug.diagnose(request.code, request.error, request.text)
        solution = solution_of(diagnosis)
        if not solution:
            return ""
        async with self.db.transaction(require_tenant(event)) as session:
            current = await store.current_rung(session, request.student_id, diagnosis.problem_key)
        return "" if current >= RUNGS else solution

    async def apply_concepts(self, event: Event, session: AsyncConnection) -> None:
        request = request_of(event)
        await self._answer(session, request, "concepts", event.prepared)
        if event.prepared.detail is GAVE_UP:
            return
        await self._activity(
            session,
            LearningActivity(
                id=f"tutoring.concept:{request.message_id}",
                student_id=request.student_id,
                topic=topic_of(request),
                kind=ActivityKind.CONTENT_VIEW,
            ),
        )

    # --- debug: the hint ladder ---------------------------------------------------------------------

    async def prepare_debug(self, event: Event) -> Prepared:
        request = request_of(event)
        diagnosis = debug.diagnose(request.code, request.error, request.text)
        if self.llm is None:  # offline the text is chosen in apply, once the rung is known
            return Prepared(ChatMessage(), Phrased("", OFFLINE), (diagnosis, 0))
        # The model must know which rung to phrase: the next one, as far as we can tell now. apply
        # climbs the ladder for real and falls back to the offline text if another request won.
        async with self.db.transaction(require_tenant(event)) as session:
            current = await store.current_rung(session, request.student_id, diagnosis.problem_key)
        rung = min(current + 1, RUNGS)
        offline = rung_text(diagnosis, rung)
        guard = "" if rung == RUNGS else solution_of(diagnosis)
        phrased = await self.phrase("debug", prompts.debug(request, diagnosis, rung), offline, guard=guard)
        return Prepared(ChatMessage(), phrased, (diagnosis, rung))

    async def apply_debug(self, event: Event, session: AsyncConnection) -> None:
        request = request_of(event)
        p: Prepared = event.prepared
        if p.detail is GAVE_UP:
            await self._answer(session, request, "debug", p)
            return
        diagnosis, expected = p.detail
        # The ladder is enforced here, under the row's lock: one rung per request, the fix last.
        rung = await store.climb_ladder(
            session, require_tenant(event), request.student_id, diagnosis.problem_key, diagnosis.cause, RUNGS
        )
        phrased = p.phrased
        if rung != expected:  # offline, or another request for the same problem climbed in between
            phrased = Phrased(
                rung_text(diagnosis, rung), p.phrased.provider if not expected else OFFLINE, p.phrased.usage
            )
        hint = HintStep(
            rung=rung,
            rungs=RUNGS,
            problem_key=diagnosis.problem_key,
            # The cause names what is wrong: rung 2's content, so not on rung 1.
            cause=diagnosis.cause if rung > 1 else "",
            line=diagnosis.line,
        )
        answer = replace(
            p.answer,
            hint=hint,
            code=diagnosis.fixed_code if rung == RUNGS else p.answer.code,
            sources=p.answer.sources
            + tuple(
                Source(title=f"Python documentation: {r}", ref=f"pydoc:topics/{r}")
                for r in diagnosis.references
            ),
        )
        await self._answer(session, request, "debug", Prepared(answer, phrased))
        topic = topic_of(request)
        # The error pattern, for struggle detection (FR-020).
        await self._activity(
            session,
            LearningActivity(
                id=f"tutoring.hint:{request.message_id}",
                student_id=request.student_id,
                topic=topic,
                kind=ActivityKind.HINT_REQUEST,
                exception_type=diagnosis.exception_type,
            ),
        )
        # The hint itself, for interventions: repeated hint requests on one topic bring ask_teacher.
        event = convert.hint_requested_event(
            request, topic, hint, diagnosis.exception_type, datetime.now(UTC)
        )
        await self.service.outbox.stage(session, HINT_REQUESTED, event)

    # --- code review --------------------------------------------------------------------------------

    async def prepare_review(self, event: Event) -> Prepared:
        request = request_of(event)
        run = None
        if self.calls is not None and self.calls.workload.configured and request.code.strip():
            # Unavailable (the sandbox down) propagates: the consumer retries later. A refusal (e.g.
            # the code is over the sandbox's size limit) leaves the review to static analysis.
            try:
                run = await self.calls.run(
                    require_tenant(event),
                    request.student_id,
                    request.code,
                    request_id=f"tutoring.review:{event.id}",
                )
            except FailedPrecondition as exc:
                log.warning("the sandbox refused to run the code under review", extra={"error": exc.message})
        result = review.review(request.code, run)
        # A review points at a bug but never hands over its fix: that is the debug ladder's third rung,
        # which a student could otherwise skip by sending the code for review.
        diagnosis = debug.diagnose(request.code, _error_of(run), request.text)
        result = replace(result, comments=tuple(_without_fix(c, diagnosis) for c in result.comments))
        answer = ChatMessage(
            review=CodeReview(
                comments=tuple(
                    ReviewComment(line=c.line, kind=c.kind, message=c.message, suggestion=c.suggestion)
                    for c in result.comments
                ),
                quality=result.quality,
                run_verdict=run.verdict.upper() if run else "",
            )
        )
        offline = prompts.review_text(result)
        phrased = await self.phrase(
            "code_review", prompts.review(request, result), offline, guard=solution_of(diagnosis)
        )
        return Prepared(answer, phrased, topic_of(request))

    async def apply_review(self, event: Event, session: AsyncConnection) -> None:
        request = request_of(event)
        p: Prepared = event.prepared
        await self._answer(session, request, "code_review", p)
        if p.detail is GAVE_UP:
            return
        await self._activity(  # the quality rating feeds mastery (FR-016)
            session,
            LearningActivity(
                id=f"tutoring.review:{request.message_id}",
                student_id=request.student_id,
                topic=p.detail,
                kind=ActivityKind.CODE_REVIEW,
                score=p.answer.review.quality if p.answer.review else 0.0,
            ),
        )

    # --- exercises ----------------------------------------------------------------------------------

    async def prepare_exercise(self, event: Event) -> Prepared:
        request = request_of(event)
        topic = request.topic or (request.triage.topic if request.triage else "") or "loops"
        if topic not in exercises.topics():
            topic = "loops"
        difficulty = request.difficulty or exercises.Difficulty.EASY
        if self.calls is None or not self.calls.workload.configured:
            return Prepared(ChatMessage(), Phrased(prompts.NO_SANDBOX, OFFLINE))
        for attempt in range(3):
            variation = request.variation + attempt * 7919  # another variation when one fails
            generated = exercises.generate(topic, difficulty, variation)
            try:
                exercise_id = await self.calls.create_exercise(
                    require_tenant(event), generated, request_id=f"tutoring.exercise:{event.id}:{variation}"
                )
                grade = await self.calls.grade(
                    require_tenant(event), exercise_id, generated.reference_solution
                )
            except FailedPrecondition as exc:  # the sandbox refused it: a bug in the template
                log.error("the sandbox refused a generated exercise", extra={"error": exc.message})
                continue
            if grade.total and grade.passed == grade.total:
                break
            log.error(
                "a generated exercise failed its own cases in the sandbox; not shown",
                extra={"template": generated.template_id, "variation": variation, "passed": grade.passed},
            )
        else:
            return Prepared(ChatMessage(), Phrased(prompts.NO_VALID_EXERCISE, OFFLINE))
        hidden = sum(c.hidden for c in generated.cases)
        answer = ChatMessage(
            code=generated.starter_code,
            exercise=ExerciseCard(
                exercise_id=exercise_id,
                title=generated.title,
                prompt=generated.prompt,
                starter_code=generated.starter_code,
                topic=generated.topic,
                difficulty=generated.difficulty,
                variation=generated.variation,
                visible_cases=len(generated.cases) - hidden,
                hidden_cases=hidden,
            ),
        )
        offline = prompts.exercise_text(generated)
        phrased = await self.phrase(
            "exercise", prompts.exercise(generated), offline, guard=generated.reference_solution
        )
        return Prepared(answer, phrased, generated)

    async def apply_exercise(self, event: Event, session: AsyncConnection) -> None:
        request = request_of(event)
        p: Prepared = event.prepared
        stored = await self._answer(session, request, "exercise", p)
        if stored.exercise is not None and stored.exercise.exercise_id:
            event = convert.exercise_generated_event(stored.exercise, request.student_id)
            await self.service.outbox.stage(session, "exercise.generated", event)


def rung_text(diagnosis: debug.Diagnosis, rung: int) -> str:
    if rung >= RUNGS:
        return diagnosis.fix
    return diagnosis.hints[rung - 1]


def solution_of(diagnosis: debug.Diagnosis) -> str:
    """What hint mode must not reveal: the changed lines of the fix, else the whole fixed program."""
    return diagnosis.fix_code or diagnosis.fixed_code


def topic_of(request: TutoringRequest) -> str:
    """The request's topic: triage's, else recognized from the text and code (SubmitCode has none)."""
    if request.triage is not None and request.triage.topic:
        return request.triage.topic
    return triage.classify(request.text, request.code, request.error).topic


def _route_named(name: str) -> Route | None:
    """The route a model named ("concept", "code_review", ...), or None for anything else."""
    try:
        return Route(name)
    except ValueError:
        return None


def _error_of(run: review.RunResult | None) -> str:
    if run is None or not run.exception_type:
        return ""
    where = f'  File "main.py", line {run.line}, in <module>\n' if run.line else ""
    return f"Traceback (most recent call last):\n{where}{run.exception_type}: {run.message}\n"


def _without_fix(comment: review.Comment, diagnosis: debug.Diagnosis) -> review.Comment:
    solution = solution_of(diagnosis)
    leaks_fix = [
        (bool(solution) and leaks.leaked_code(text, solution))
        or (bool(diagnosis.fix) and diagnosis.fix in text)
        for text in (comment.message, comment.suggestion)
    ]
    if not any(leaks_fix):
        return comment
    return replace(
        comment,
        message=diagnosis.hints[1] if leaks_fix[0] else comment.message,
        suggestion=f"{diagnosis.hints[0]} Ask me about it for hints, one step at a time.",
    )
