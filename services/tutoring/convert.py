"""The one place where tutoring's domain objects and protobuf messages meet: requests in, messages
and conversations out, the TutoringRequest the agents receive, and the events the service layer and
the agents stage (they call the `*_event` functions and hand the message to the outbox unopened) —
including progress's ActivityRecorded, which tutoring publishes on progress.events."""

from __future__ import annotations

from datetime import datetime

from learnflow.progress.v1 import events_pb2 as progress_events
from learnflow.progress.v1 import resources_pb2 as progress_pb
from learnflow.tutoring.v1 import events_pb2
from learnflow.tutoring.v1 import resources_pb2 as pb
from learnflow.tutoring.v1 import tutoring_service_pb2 as api_pb

from services.tutoring.domain.chat import (
    ActivityKind,
    Author,
    ChatMessage,
    Conversation,
    ExerciseCard,
    HintStep,
    LearningActivity,
    Routing,
    TutoringRequest,
)
from services.tutoring.domain.exercises import Difficulty
from services.tutoring.domain.research import Analysis, Research
from services.tutoring.domain.triage import Route

_AUTHORS = {Author.STUDENT: pb.AUTHOR_STUDENT, Author.TUTOR: pb.AUTHOR_TUTOR}
_ROUTES = {r: pb.Route.Value(f"ROUTE_{r.name}") for r in Route}
_ROUTE_OF = {v: k for k, v in _ROUTES.items()}
_DIFFICULTIES = {d: pb.Difficulty.Value(f"DIFFICULTY_{d.name}") for d in Difficulty}
_DIFFICULTY_OF = {v: k for k, v in _DIFFICULTIES.items()}
_ACTIVITY_KINDS = {
    ActivityKind.CONTENT_VIEW: progress_pb.ACTIVITY_KIND_CONTENT_VIEW,
    ActivityKind.HINT_REQUEST: progress_pb.ACTIVITY_KIND_HINT_REQUEST,
    ActivityKind.CODE_REVIEW: progress_pb.ACTIVITY_KIND_CODE_REVIEW,
}


# --- requests in -----------------------------------------------------------------------------------


def difficulty_from_proto(difficulty: int) -> str:
    """ "" when unspecified, the level's name when known; an unknown number becomes
    "difficulty_<n>" so validation reports it instead of dropping it."""
    if difficulty == pb.DIFFICULTY_UNSPECIFIED:
        return ""
    known = _DIFFICULTY_OF.get(difficulty)
    return known.value if known is not None else f"difficulty_{difficulty}"


def routing_from_proto(t: pb.Triage) -> Routing:
    return Routing(
        route=_ROUTE_OF.get(t.route),
        confidence=t.confidence,
        reason=t.reason,
        topic=t.topic,
        decided_by=t.decided_by,
    )


def request_from_proto(r: events_pb2.TutoringRequest) -> TutoringRequest:
    return TutoringRequest(
        conversation_id=r.conversation_id,
        message_id=r.message_id,
        student_id=r.student_id,
        text=r.text,
        code=r.code,
        error=r.error,
        triage=routing_from_proto(r.triage) if r.HasField("triage") else None,
        topic=r.topic,
        difficulty=_DIFFICULTY_OF.get(r.difficulty),
        variation=r.variation,
    )


def conversation_of_response(data: bytes) -> str:
    """The conversation a learning.responses message answers in (raises if it is not one)."""
    return events_pb2.ResponseReady.FromString(data).message.conversation_id


# --- resources out ---------------------------------------------------------------------------------


def routing_to_proto(r: Routing) -> pb.Triage:
    return pb.Triage(
        route=_ROUTES[r.route] if r.route else pb.ROUTE_UNSPECIFIED,
        confidence=r.confidence,
        reason=r.reason,
        topic=r.topic,
        decided_by=r.decided_by,
    )


def exercise_to_proto(e: ExerciseCard) -> pb.GeneratedExercise:
    return pb.GeneratedExercise(
        exercise_id=e.exercise_id,
        title=e.title,
        prompt=e.prompt,
        starter_code=e.starter_code,
        topic=e.topic,
        difficulty=_DIFFICULTIES[e.difficulty] if e.difficulty else pb.DIFFICULTY_UNSPECIFIED,
        variation=e.variation,
        visible_cases=e.visible_cases,
        hidden_cases=e.hidden_cases,
    )


def message_to_proto(m: ChatMessage) -> pb.ChatMessage:
    msg = pb.ChatMessage(
        id=m.id,
        conversation_id=m.conversation_id,
        sequence=m.sequence,
        author=_AUTHORS[m.author] if m.author else pb.AUTHOR_UNSPECIFIED,
        text=m.text,
        code=m.code,
        error=m.error,
        in_reply_to=m.in_reply_to,
        agent=m.agent,
        provider=m.provider,
        sources=[pb.Source(title=s.title, ref=s.ref) for s in m.sources],
    )
    if m.triage is not None:
        msg.triage.CopyFrom(routing_to_proto(m.triage))
    if m.hint is not None:
        h = m.hint
        msg.hint.CopyFrom(
            pb.HintStep(
                rung=h.rung,
                rungs=h.rungs,
                problem_key=h.problem_key,
                cause=h.cause,
                line=h.line,
            )
        )
    if m.review is not None:
        msg.review.CopyFrom(
            pb.CodeReview(
                comments=[
                    pb.ReviewComment(line=c.line, kind=c.kind, message=c.message, suggestion=c.suggestion)
                    for c in m.review.comments
                ],
                quality=m.review.quality,
                run_verdict=m.review.run_verdict,
            )
        )
    if m.exercise is not None:
        msg.exercise.CopyFrom(exercise_to_proto(m.exercise))
    if m.created_at is not None:
        msg.create_time.FromDatetime(m.created_at)
    return msg


def conversation_to_proto(c: Conversation) -> pb.Conversation:
    msg = pb.Conversation(id=c.id, student_id=c.student_id)
    msg.create_time.FromDatetime(c.created_at)
    msg.update_time.FromDatetime(c.updated_at)
    return msg


# --- events out ------------------------------------------------------------------------------------


def request_event(r: TutoringRequest) -> events_pb2.TutoringRequest:
    msg = events_pb2.TutoringRequest(
        conversation_id=r.conversation_id,
        message_id=r.message_id,
        student_id=r.student_id,
        text=r.text,
        code=r.code,
        error=r.error,
        topic=r.topic,
        difficulty=_DIFFICULTIES[r.difficulty] if r.difficulty else pb.DIFFICULTY_UNSPECIFIED,
        variation=r.variation,
    )
    if r.triage is not None:
        msg.triage.CopyFrom(routing_to_proto(r.triage))
    return msg


def response_ready_event(message: ChatMessage, student_id: str) -> events_pb2.ResponseReady:
    return events_pb2.ResponseReady(message=message_to_proto(message), student_id=student_id)


def exercise_generated_event(exercise: ExerciseCard, student_id: str) -> events_pb2.ExerciseGenerated:
    return events_pb2.ExerciseGenerated(exercise=exercise_to_proto(exercise), student_id=student_id)


def activity_recorded_event(a: LearningActivity, at: datetime) -> progress_events.ActivityRecorded:
    activity = progress_pb.Activity(
        id=a.id,
        student_id=a.student_id,
        topic=a.topic,
        kind=_ACTIVITY_KINDS[a.kind],
        exception_type=a.exception_type,
        score=a.score,
    )
    activity.occur_time.FromDatetime(at)
    return progress_events.ActivityRecorded(activity=activity)


def hint_requested_event(
    request: TutoringRequest, topic: str, hint: HintStep, exception_type: str, at: datetime
) -> events_pb2.HintRequested:
    """tutoring.hint_requested: a hint given, for interventions (ask_teacher)."""
    event = events_pb2.HintRequested(
        student_id=request.student_id,
        conversation_id=request.conversation_id,
        message_id=request.message_id,
        topic=topic,
        problem_key=hint.problem_key,
        rung=hint.rung,
        rungs=hint.rungs,
        exception_type=exception_type,
    )
    event.occur_time.FromDatetime(at)
    return event


def question_unclear_event(
    request: TutoringRequest, routing: Routing, at: datetime
) -> events_pb2.QuestionUnclear:
    """tutoring.question_unclear: a message triage could not make out, for interventions (ask_teacher)."""
    event = events_pb2.QuestionUnclear(
        student_id=request.student_id,
        conversation_id=request.conversation_id,
        message_id=request.message_id,
        topic=routing.topic,
        reason=routing.reason,
    )
    event.occur_time.FromDatetime(at)
    return event


def research_to_proto(found: Research) -> api_pb.ResearchTopicResponse:
    return api_pb.ResearchTopicResponse(
        summary=found.summary,
        key_points=list(found.key_points),
        sources=[api_pb.ResearchSource(title=s.title, ref=s.ref, excerpt=s.excerpt) for s in found.sources],
        produced_by=found.produced_by,
        usage=api_pb.ModelUsage(
            model=found.produced_by if found.prompt_tokens or found.completion_tokens else "",
            prompt_tokens=found.prompt_tokens,
            completion_tokens=found.completion_tokens,
        ),
    )


def analysis_to_proto(found: Analysis) -> api_pb.AnalyseResearchResponse:
    return api_pb.AnalyseResearchResponse(
        headline=found.headline,
        takeaways=list(found.takeaways),
        produced_by=found.produced_by,
        usage=api_pb.ModelUsage(
            model=found.produced_by,
            prompt_tokens=found.prompt_tokens,
            completion_tokens=found.completion_tokens,
        ),
    )
