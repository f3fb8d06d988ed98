from learnflow.mtss.v1 import resources_pb2 as _resources_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InterventionCreated(_message.Message):
    __slots__ = ("intervention",)
    INTERVENTION_FIELD_NUMBER: _ClassVar[int]
    intervention: _resources_pb2.Intervention
    def __init__(self, intervention: _Optional[_Union[_resources_pb2.Intervention, _Mapping]] = ...) -> None: ...

class EnrollmentCreated(_message.Message):
    __slots__ = ("enrollment",)
    ENROLLMENT_FIELD_NUMBER: _ClassVar[int]
    enrollment: _resources_pb2.Enrollment
    def __init__(self, enrollment: _Optional[_Union[_resources_pb2.Enrollment, _Mapping]] = ...) -> None: ...

class EnrollmentWithdrawn(_message.Message):
    __slots__ = ("enrollment", "sessions_released")
    ENROLLMENT_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_RELEASED_FIELD_NUMBER: _ClassVar[int]
    enrollment: _resources_pb2.Enrollment
    sessions_released: int
    def __init__(self, enrollment: _Optional[_Union[_resources_pb2.Enrollment, _Mapping]] = ..., sessions_released: _Optional[int] = ...) -> None: ...

class AttendanceRecorded(_message.Message):
    __slots__ = ("intervention_id", "session_id", "records")
    INTERVENTION_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    intervention_id: str
    session_id: str
    records: _containers.RepeatedCompositeFieldContainer[_resources_pb2.AttendanceRecord]
    def __init__(self, intervention_id: _Optional[str] = ..., session_id: _Optional[str] = ..., records: _Optional[_Iterable[_Union[_resources_pb2.AttendanceRecord, _Mapping]]] = ...) -> None: ...

class ProgressRecorded(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: _resources_pb2.ProgressEntry
    def __init__(self, entry: _Optional[_Union[_resources_pb2.ProgressEntry, _Mapping]] = ...) -> None: ...

class SessionAdjusted(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: _resources_pb2.Session
    def __init__(self, session: _Optional[_Union[_resources_pb2.Session, _Mapping]] = ...) -> None: ...

class ExitConfirmed(_message.Message):
    __slots__ = ("enrollment", "reasons")
    ENROLLMENT_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    enrollment: _resources_pb2.Enrollment
    reasons: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, enrollment: _Optional[_Union[_resources_pb2.Enrollment, _Mapping]] = ..., reasons: _Optional[_Iterable[str]] = ...) -> None: ...
