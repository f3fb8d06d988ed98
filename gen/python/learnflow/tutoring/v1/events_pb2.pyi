import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from learnflow.tutoring.v1 import resources_pb2 as _resources_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TutoringRequest(_message.Message):
    __slots__ = ("conversation_id", "message_id", "student_id", "text", "code", "error", "triage", "topic", "difficulty", "variation")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TRIAGE_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    DIFFICULTY_FIELD_NUMBER: _ClassVar[int]
    VARIATION_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    message_id: str
    student_id: str
    text: str
    code: str
    error: str
    triage: _resources_pb2.Triage
    topic: str
    difficulty: _resources_pb2.Difficulty
    variation: int
    def __init__(self, conversation_id: _Optional[str] = ..., message_id: _Optional[str] = ..., student_id: _Optional[str] = ..., text: _Optional[str] = ..., code: _Optional[str] = ..., error: _Optional[str] = ..., triage: _Optional[_Union[_resources_pb2.Triage, _Mapping]] = ..., topic: _Optional[str] = ..., difficulty: _Optional[_Union[_resources_pb2.Difficulty, str]] = ..., variation: _Optional[int] = ...) -> None: ...

class ResponseReady(_message.Message):
    __slots__ = ("message", "student_id")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    message: _resources_pb2.ChatMessage
    student_id: str
    def __init__(self, message: _Optional[_Union[_resources_pb2.ChatMessage, _Mapping]] = ..., student_id: _Optional[str] = ...) -> None: ...

class ExerciseGenerated(_message.Message):
    __slots__ = ("exercise", "student_id")
    EXERCISE_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    exercise: _resources_pb2.GeneratedExercise
    student_id: str
    def __init__(self, exercise: _Optional[_Union[_resources_pb2.GeneratedExercise, _Mapping]] = ..., student_id: _Optional[str] = ...) -> None: ...

class HintRequested(_message.Message):
    __slots__ = ("student_id", "conversation_id", "message_id", "topic", "problem_key", "rung", "rungs", "exception_type", "occur_time")
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_KEY_FIELD_NUMBER: _ClassVar[int]
    RUNG_FIELD_NUMBER: _ClassVar[int]
    RUNGS_FIELD_NUMBER: _ClassVar[int]
    EXCEPTION_TYPE_FIELD_NUMBER: _ClassVar[int]
    OCCUR_TIME_FIELD_NUMBER: _ClassVar[int]
    student_id: str
    conversation_id: str
    message_id: str
    topic: str
    problem_key: str
    rung: int
    rungs: int
    exception_type: str
    occur_time: _timestamp_pb2.Timestamp
    def __init__(self, student_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., message_id: _Optional[str] = ..., topic: _Optional[str] = ..., problem_key: _Optional[str] = ..., rung: _Optional[int] = ..., rungs: _Optional[int] = ..., exception_type: _Optional[str] = ..., occur_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class QuestionUnclear(_message.Message):
    __slots__ = ("student_id", "conversation_id", "message_id", "topic", "reason", "occur_time")
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    OCCUR_TIME_FIELD_NUMBER: _ClassVar[int]
    student_id: str
    conversation_id: str
    message_id: str
    topic: str
    reason: str
    occur_time: _timestamp_pb2.Timestamp
    def __init__(self, student_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., message_id: _Optional[str] = ..., topic: _Optional[str] = ..., reason: _Optional[str] = ..., occur_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
