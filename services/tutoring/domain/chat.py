"""Conversations and their messages as the tutor keeps and hands them out, the request that travels
from the API to the agents, and the activity the agents report to progress. Frozen dataclasses of
plain values: the store persists them, convert.py turns them into protobuf messages and back."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from services.tutoring.domain.exercises import Difficulty
from services.tutoring.domain.triage import Earlier, Route


class Author(enum.StrEnum):
    STUDENT = "student"
    TUTOR = "tutor"


@dataclass(frozen=True)
class Routing:
    """Which agent answers a message, and why. `route` is None until triage has decided."""

    route: Route | None = None
    confidence: float = 0.0
    reason: str = ""
    topic: str = ""
    decided_by: str = ""  # "rules", "client" (the RPC chose), or the model that chose


@dataclass(frozen=True)
class Source:
    title: str
    ref: str  # e.g. "pydoc:topics/for"


@dataclass(frozen=True)
class HintStep:
    """One rung of the debug agent's hint ladder (1 locate, 2 explain, 3 fix)."""

    rung: int
    rungs: int
    problem_key: str
    cause: str = ""  # what is wrong: from rung 2 on
    line: int = 0


@dataclass(frozen=True)
class ReviewComment:
    line: int
    kind: str
    message: str
    suggestion: str = ""


@dataclass(frozen=True)
class CodeReview:
    comments: tuple[ReviewComment, ...]
    quality: float  # 0..1
    run_verdict: str = ""  # the sandbox's verdict when the code ran, e.g. "OK"


@dataclass(frozen=True)
class ExerciseCard:
    """A generated exercise as the student sees it (no solution, no hidden case)."""

    exercise_id: str
    title: str
    prompt: str
    starter_code: str
    topic: str
    difficulty: Difficulty | None
    variation: int
    visible_cases: int
    hidden_cases: int


@dataclass(frozen=True)
class ChatMessage:
    """A student's message or a tutor's answer. id, conversation_id, sequence and created_at are
    given when it is stored."""

    author: Author | None = None
    text: str = ""
    code: str = ""
    error: str = ""
    in_reply_to: str = ""
    triage: Routing | None = None
    agent: str = ""
    provider: str = ""
    sources: tuple[Source, ...] = ()
    hint: HintStep | None = None
    review: CodeReview | None = None
    exercise: ExerciseCard | None = None
    id: str = ""
    conversation_id: str = ""
    sequence: int = 0
    created_at: datetime | None = None


@dataclass(frozen=True)
class Conversation:
    id: str
    student_id: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class TutoringRequest:
    """A student's message on its way to the agents (learning.requests, then the chosen agent's
    subject): what they asked and where the answer goes."""

    conversation_id: str = ""
    message_id: str = ""
    student_id: str = ""
    text: str = ""
    code: str = ""
    error: str = ""
    triage: Routing | None = None
    topic: str = ""  # RequestExercise's topic
    difficulty: Difficulty | None = None
    variation: int = 0


class ActivityKind(enum.StrEnum):
    """What the agents report to progress (progress.events), by progress's names."""

    CONTENT_VIEW = "content_view"
    HINT_REQUEST = "hint_request"
    CODE_REVIEW = "code_review"


@dataclass(frozen=True)
class LearningActivity:
    id: str  # "tutoring.<what>:<message id>": progress applies each id once
    student_id: str
    topic: str
    kind: ActivityKind
    exception_type: str = ""
    score: float = 0.0


# The routes a follow-up can continue: the agents' (not off-topic or unclear, which triage answers).
AGENT_ROUTES = frozenset({Route.CONCEPT, Route.DEBUG, Route.CODE_REVIEW, Route.EXERCISE})


def earlier_of(history: Iterable[ChatMessage]) -> Earlier:
    """What a follow-up in a conversation is about, from its earlier messages (newest first): the
    route of the student's latest message that went to an agent, and the latest code they sent (with
    the error sent alongside it)."""
    route: Route | None = None
    code = error = ""
    for message in history:
        if message.author != Author.STUDENT:
            continue
        if route is None and message.triage is not None and message.triage.route in AGENT_ROUTES:
            route = message.triage.route
        if not code and message.code.strip():
            code, error = message.code, message.error
        if route is not None and code:
            break
    return Earlier(route, code, error)
