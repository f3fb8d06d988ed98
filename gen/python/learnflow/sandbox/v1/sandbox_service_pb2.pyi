from buf.validate import validate_pb2 as _validate_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from learnflow.auth.v1 import auth_pb2 as _auth_pb2
from learnflow.sandbox.v1 import resources_pb2 as _resources_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExecuteRequest(_message.Message):
    __slots__ = ("code", "stdin", "limits", "exercise_id", "on_behalf_of", "request_id")
    CODE_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    EXERCISE_ID_FIELD_NUMBER: _ClassVar[int]
    ON_BEHALF_OF_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    code: str
    stdin: str
    limits: _resources_pb2.Limits
    exercise_id: str
    on_behalf_of: str
    request_id: str
    def __init__(self, code: _Optional[str] = ..., stdin: _Optional[str] = ..., limits: _Optional[_Union[_resources_pb2.Limits, _Mapping]] = ..., exercise_id: _Optional[str] = ..., on_behalf_of: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateExerciseRequest(_message.Message):
    __slots__ = ("exercise", "request_id")
    EXERCISE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    exercise: _resources_pb2.Exercise
    request_id: str
    def __init__(self, exercise: _Optional[_Union[_resources_pb2.Exercise, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetExerciseRequest(_message.Message):
    __slots__ = ("exercise_id",)
    EXERCISE_ID_FIELD_NUMBER: _ClassVar[int]
    exercise_id: str
    def __init__(self, exercise_id: _Optional[str] = ...) -> None: ...

class GradeSubmissionRequest(_message.Message):
    __slots__ = ("exercise_id", "code", "request_id")
    EXERCISE_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    exercise_id: str
    code: str
    request_id: str
    def __init__(self, exercise_id: _Optional[str] = ..., code: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class GradeSubmissionResponse(_message.Message):
    __slots__ = ("submission_id", "score", "passed", "total", "cases")
    SUBMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    CASES_FIELD_NUMBER: _ClassVar[int]
    submission_id: str
    score: float
    passed: int
    total: int
    cases: _containers.RepeatedCompositeFieldContainer[_resources_pb2.CaseResult]
    def __init__(self, submission_id: _Optional[str] = ..., score: _Optional[float] = ..., passed: _Optional[int] = ..., total: _Optional[int] = ..., cases: _Optional[_Iterable[_Union[_resources_pb2.CaseResult, _Mapping]]] = ...) -> None: ...
