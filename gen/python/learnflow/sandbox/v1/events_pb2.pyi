import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from learnflow.sandbox.v1 import resources_pb2 as _resources_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SandboxExecuted(_message.Message):
    __slots__ = ("execution_id", "user_id", "exercise_id", "verdict", "diagnosis", "duration_ms", "occur_time")
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EXERCISE_ID_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSIS_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    OCCUR_TIME_FIELD_NUMBER: _ClassVar[int]
    execution_id: str
    user_id: str
    exercise_id: str
    verdict: _resources_pb2.Verdict
    diagnosis: _resources_pb2.Diagnosis
    duration_ms: int
    occur_time: _timestamp_pb2.Timestamp
    def __init__(self, execution_id: _Optional[str] = ..., user_id: _Optional[str] = ..., exercise_id: _Optional[str] = ..., verdict: _Optional[_Union[_resources_pb2.Verdict, str]] = ..., diagnosis: _Optional[_Union[_resources_pb2.Diagnosis, _Mapping]] = ..., duration_ms: _Optional[int] = ..., occur_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SubmissionGraded(_message.Message):
    __slots__ = ("submission_id", "user_id", "exercise_id", "topic", "score", "passed", "total", "occur_time")
    SUBMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EXERCISE_ID_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    OCCUR_TIME_FIELD_NUMBER: _ClassVar[int]
    submission_id: str
    user_id: str
    exercise_id: str
    topic: str
    score: float
    passed: int
    total: int
    occur_time: _timestamp_pb2.Timestamp
    def __init__(self, submission_id: _Optional[str] = ..., user_id: _Optional[str] = ..., exercise_id: _Optional[str] = ..., topic: _Optional[str] = ..., score: _Optional[float] = ..., passed: _Optional[int] = ..., total: _Optional[int] = ..., occur_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
