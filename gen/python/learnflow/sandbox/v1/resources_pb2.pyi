import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    VERDICT_OK: _ClassVar[Verdict]
    VERDICT_RUNTIME_ERROR: _ClassVar[Verdict]
    VERDICT_TIMED_OUT: _ClassVar[Verdict]
    VERDICT_MEMORY_EXCEEDED: _ClassVar[Verdict]
    VERDICT_OUTPUT_EXCEEDED: _ClassVar[Verdict]
    VERDICT_SYNTAX_ERROR: _ClassVar[Verdict]
    VERDICT_REJECTED: _ClassVar[Verdict]

class TestCaseKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TEST_CASE_KIND_UNSPECIFIED: _ClassVar[TestCaseKind]
    TEST_CASE_KIND_STDIO: _ClassVar[TestCaseKind]
    TEST_CASE_KIND_ASSERT: _ClassVar[TestCaseKind]
VERDICT_UNSPECIFIED: Verdict
VERDICT_OK: Verdict
VERDICT_RUNTIME_ERROR: Verdict
VERDICT_TIMED_OUT: Verdict
VERDICT_MEMORY_EXCEEDED: Verdict
VERDICT_OUTPUT_EXCEEDED: Verdict
VERDICT_SYNTAX_ERROR: Verdict
VERDICT_REJECTED: Verdict
TEST_CASE_KIND_UNSPECIFIED: TestCaseKind
TEST_CASE_KIND_STDIO: TestCaseKind
TEST_CASE_KIND_ASSERT: TestCaseKind

class Limits(_message.Message):
    __slots__ = ("wall_time_ms", "memory_mb", "output_bytes")
    WALL_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    wall_time_ms: int
    memory_mb: int
    output_bytes: int
    def __init__(self, wall_time_ms: _Optional[int] = ..., memory_mb: _Optional[int] = ..., output_bytes: _Optional[int] = ...) -> None: ...

class Diagnosis(_message.Message):
    __slots__ = ("exception_type", "message", "line", "source_line")
    EXCEPTION_TYPE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_LINE_FIELD_NUMBER: _ClassVar[int]
    exception_type: str
    message: str
    line: int
    source_line: str
    def __init__(self, exception_type: _Optional[str] = ..., message: _Optional[str] = ..., line: _Optional[int] = ..., source_line: _Optional[str] = ...) -> None: ...

class Execution(_message.Message):
    __slots__ = ("id", "verdict", "stdout", "stderr", "stdout_truncated", "stderr_truncated", "exit_code", "duration_ms", "diagnosis", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    STDOUT_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    STDERR_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSIS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    verdict: Verdict
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    exit_code: int
    duration_ms: int
    diagnosis: Diagnosis
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., verdict: _Optional[_Union[Verdict, str]] = ..., stdout: _Optional[str] = ..., stderr: _Optional[str] = ..., stdout_truncated: _Optional[bool] = ..., stderr_truncated: _Optional[bool] = ..., exit_code: _Optional[int] = ..., duration_ms: _Optional[int] = ..., diagnosis: _Optional[_Union[Diagnosis, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TestCase(_message.Message):
    __slots__ = ("name", "kind", "stdin", "expected_stdout", "code", "hidden")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_STDOUT_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: TestCaseKind
    stdin: str
    expected_stdout: str
    code: str
    hidden: bool
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[TestCaseKind, str]] = ..., stdin: _Optional[str] = ..., expected_stdout: _Optional[str] = ..., code: _Optional[str] = ..., hidden: _Optional[bool] = ...) -> None: ...

class Exercise(_message.Message):
    __slots__ = ("id", "title", "prompt", "topic", "test_cases", "hidden_case_count", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    TEST_CASES_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_CASE_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    title: str
    prompt: str
    topic: str
    test_cases: _containers.RepeatedCompositeFieldContainer[TestCase]
    hidden_case_count: int
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., title: _Optional[str] = ..., prompt: _Optional[str] = ..., topic: _Optional[str] = ..., test_cases: _Optional[_Iterable[_Union[TestCase, _Mapping]]] = ..., hidden_case_count: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CaseResult(_message.Message):
    __slots__ = ("name", "passed", "hidden", "verdict", "first_difference", "duration_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    FIRST_DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    passed: bool
    hidden: bool
    verdict: Verdict
    first_difference: str
    duration_ms: int
    def __init__(self, name: _Optional[str] = ..., passed: _Optional[bool] = ..., hidden: _Optional[bool] = ..., verdict: _Optional[_Union[Verdict, str]] = ..., first_difference: _Optional[str] = ..., duration_ms: _Optional[int] = ...) -> None: ...
