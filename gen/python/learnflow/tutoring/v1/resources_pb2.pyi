import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Author(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUTHOR_UNSPECIFIED: _ClassVar[Author]
    AUTHOR_STUDENT: _ClassVar[Author]
    AUTHOR_TUTOR: _ClassVar[Author]

class Route(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROUTE_UNSPECIFIED: _ClassVar[Route]
    ROUTE_CONCEPT: _ClassVar[Route]
    ROUTE_DEBUG: _ClassVar[Route]
    ROUTE_CODE_REVIEW: _ClassVar[Route]
    ROUTE_EXERCISE: _ClassVar[Route]
    ROUTE_OFF_TOPIC: _ClassVar[Route]
    ROUTE_UNCLEAR: _ClassVar[Route]

class Difficulty(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIFFICULTY_UNSPECIFIED: _ClassVar[Difficulty]
    DIFFICULTY_EASY: _ClassVar[Difficulty]
    DIFFICULTY_MEDIUM: _ClassVar[Difficulty]
    DIFFICULTY_HARD: _ClassVar[Difficulty]

class HintRung(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HINT_RUNG_UNSPECIFIED: _ClassVar[HintRung]
    HINT_RUNG_LOCATE: _ClassVar[HintRung]
    HINT_RUNG_EXPLAIN: _ClassVar[HintRung]
    HINT_RUNG_FIX: _ClassVar[HintRung]
AUTHOR_UNSPECIFIED: Author
AUTHOR_STUDENT: Author
AUTHOR_TUTOR: Author
ROUTE_UNSPECIFIED: Route
ROUTE_CONCEPT: Route
ROUTE_DEBUG: Route
ROUTE_CODE_REVIEW: Route
ROUTE_EXERCISE: Route
ROUTE_OFF_TOPIC: Route
ROUTE_UNCLEAR: Route
DIFFICULTY_UNSPECIFIED: Difficulty
DIFFICULTY_EASY: Difficulty
DIFFICULTY_MEDIUM: Difficulty
DIFFICULTY_HARD: Difficulty
HINT_RUNG_UNSPECIFIED: HintRung
HINT_RUNG_LOCATE: HintRung
HINT_RUNG_EXPLAIN: HintRung
HINT_RUNG_FIX: HintRung

class Triage(_message.Message):
    __slots__ = ("route", "confidence", "reason", "topic", "decided_by")
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    route: Route
    confidence: float
    reason: str
    topic: str
    decided_by: str
    def __init__(self, route: _Optional[_Union[Route, str]] = ..., confidence: _Optional[float] = ..., reason: _Optional[str] = ..., topic: _Optional[str] = ..., decided_by: _Optional[str] = ...) -> None: ...

class Source(_message.Message):
    __slots__ = ("title", "ref")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    title: str
    ref: str
    def __init__(self, title: _Optional[str] = ..., ref: _Optional[str] = ...) -> None: ...

class ReviewComment(_message.Message):
    __slots__ = ("line", "kind", "message", "suggestion")
    LINE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SUGGESTION_FIELD_NUMBER: _ClassVar[int]
    line: int
    kind: str
    message: str
    suggestion: str
    def __init__(self, line: _Optional[int] = ..., kind: _Optional[str] = ..., message: _Optional[str] = ..., suggestion: _Optional[str] = ...) -> None: ...

class CodeReview(_message.Message):
    __slots__ = ("comments", "quality", "run_verdict")
    COMMENTS_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    RUN_VERDICT_FIELD_NUMBER: _ClassVar[int]
    comments: _containers.RepeatedCompositeFieldContainer[ReviewComment]
    quality: float
    run_verdict: str
    def __init__(self, comments: _Optional[_Iterable[_Union[ReviewComment, _Mapping]]] = ..., quality: _Optional[float] = ..., run_verdict: _Optional[str] = ...) -> None: ...

class HintStep(_message.Message):
    __slots__ = ("rung", "rungs", "problem_key", "cause", "line")
    RUNG_FIELD_NUMBER: _ClassVar[int]
    RUNGS_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_KEY_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    rung: HintRung
    rungs: int
    problem_key: str
    cause: str
    line: int
    def __init__(self, rung: _Optional[_Union[HintRung, str]] = ..., rungs: _Optional[int] = ..., problem_key: _Optional[str] = ..., cause: _Optional[str] = ..., line: _Optional[int] = ...) -> None: ...

class GeneratedExercise(_message.Message):
    __slots__ = ("exercise_id", "title", "prompt", "starter_code", "topic", "difficulty", "variation", "visible_cases", "hidden_cases")
    EXERCISE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    STARTER_CODE_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    DIFFICULTY_FIELD_NUMBER: _ClassVar[int]
    VARIATION_FIELD_NUMBER: _ClassVar[int]
    VISIBLE_CASES_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_CASES_FIELD_NUMBER: _ClassVar[int]
    exercise_id: str
    title: str
    prompt: str
    starter_code: str
    topic: str
    difficulty: Difficulty
    variation: int
    visible_cases: int
    hidden_cases: int
    def __init__(self, exercise_id: _Optional[str] = ..., title: _Optional[str] = ..., prompt: _Optional[str] = ..., starter_code: _Optional[str] = ..., topic: _Optional[str] = ..., difficulty: _Optional[_Union[Difficulty, str]] = ..., variation: _Optional[int] = ..., visible_cases: _Optional[int] = ..., hidden_cases: _Optional[int] = ...) -> None: ...

class ChatMessage(_message.Message):
    __slots__ = ("id", "conversation_id", "sequence", "author", "text", "code", "error", "in_reply_to", "triage", "agent", "provider", "sources", "hint", "review", "exercise", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    IN_REPLY_TO_FIELD_NUMBER: _ClassVar[int]
    TRIAGE_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    HINT_FIELD_NUMBER: _ClassVar[int]
    REVIEW_FIELD_NUMBER: _ClassVar[int]
    EXERCISE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    conversation_id: str
    sequence: int
    author: Author
    text: str
    code: str
    error: str
    in_reply_to: str
    triage: Triage
    agent: str
    provider: str
    sources: _containers.RepeatedCompositeFieldContainer[Source]
    hint: HintStep
    review: CodeReview
    exercise: GeneratedExercise
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., sequence: _Optional[int] = ..., author: _Optional[_Union[Author, str]] = ..., text: _Optional[str] = ..., code: _Optional[str] = ..., error: _Optional[str] = ..., in_reply_to: _Optional[str] = ..., triage: _Optional[_Union[Triage, _Mapping]] = ..., agent: _Optional[str] = ..., provider: _Optional[str] = ..., sources: _Optional[_Iterable[_Union[Source, _Mapping]]] = ..., hint: _Optional[_Union[HintStep, _Mapping]] = ..., review: _Optional[_Union[CodeReview, _Mapping]] = ..., exercise: _Optional[_Union[GeneratedExercise, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Conversation(_message.Message):
    __slots__ = ("id", "student_id", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    student_id: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., student_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
