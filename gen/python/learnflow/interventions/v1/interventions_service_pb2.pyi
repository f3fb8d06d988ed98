import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from learnflow.auth.v1 import auth_pb2 as _auth_pb2
from learnflow.interventions.v1 import resources_pb2 as _resources_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EvaluateSignalRequest(_message.Message):
    __slots__ = ("signal",)
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    signal: _resources_pb2.Signal
    def __init__(self, signal: _Optional[_Union[_resources_pb2.Signal, _Mapping]] = ...) -> None: ...

class EvaluateSignalResponse(_message.Message):
    __slots__ = ("signal_id", "decisions")
    SIGNAL_ID_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    signal_id: str
    decisions: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Decision]
    def __init__(self, signal_id: _Optional[str] = ..., decisions: _Optional[_Iterable[_Union[_resources_pb2.Decision, _Mapping]]] = ...) -> None: ...

class CheckPolicyRequest(_message.Message):
    __slots__ = ("content", "file_name")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    content: str
    file_name: str
    def __init__(self, content: _Optional[str] = ..., file_name: _Optional[str] = ...) -> None: ...

class CheckPolicyResponse(_message.Message):
    __slots__ = ("valid", "problems", "rules_json", "policy_id")
    VALID_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    RULES_JSON_FIELD_NUMBER: _ClassVar[int]
    POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    problems: _containers.RepeatedCompositeFieldContainer[_resources_pb2.PolicyProblem]
    rules_json: str
    policy_id: str
    def __init__(self, valid: _Optional[bool] = ..., problems: _Optional[_Iterable[_Union[_resources_pb2.PolicyProblem, _Mapping]]] = ..., rules_json: _Optional[str] = ..., policy_id: _Optional[str] = ...) -> None: ...

class ActivatePolicyRequest(_message.Message):
    __slots__ = ("content", "file_name", "author", "reason")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    content: str
    file_name: str
    author: str
    reason: str
    def __init__(self, content: _Optional[str] = ..., file_name: _Optional[str] = ..., author: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ListPolicyVersionsRequest(_message.Message):
    __slots__ = ("policy_id", "page_size", "page_token")
    POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    policy_id: str
    page_size: int
    page_token: str
    def __init__(self, policy_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPolicyVersionsResponse(_message.Message):
    __slots__ = ("versions", "next_page_token")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[_resources_pb2.PolicyVersion]
    next_page_token: str
    def __init__(self, versions: _Optional[_Iterable[_Union[_resources_pb2.PolicyVersion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetPolicyVersionRequest(_message.Message):
    __slots__ = ("policy_id", "version")
    POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    policy_id: str
    version: int
    def __init__(self, policy_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class DiffPolicyVersionsRequest(_message.Message):
    __slots__ = ("policy_id", "from_version", "to_version")
    POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_VERSION_FIELD_NUMBER: _ClassVar[int]
    TO_VERSION_FIELD_NUMBER: _ClassVar[int]
    policy_id: str
    from_version: int
    to_version: int
    def __init__(self, policy_id: _Optional[str] = ..., from_version: _Optional[int] = ..., to_version: _Optional[int] = ...) -> None: ...

class DiffPolicyVersionsResponse(_message.Message):
    __slots__ = ("text_diff", "field_changes")
    TEXT_DIFF_FIELD_NUMBER: _ClassVar[int]
    FIELD_CHANGES_FIELD_NUMBER: _ClassVar[int]
    text_diff: str
    field_changes: _containers.RepeatedCompositeFieldContainer[_resources_pb2.FieldChange]
    def __init__(self, text_diff: _Optional[str] = ..., field_changes: _Optional[_Iterable[_Union[_resources_pb2.FieldChange, _Mapping]]] = ...) -> None: ...

class RollbackPolicyRequest(_message.Message):
    __slots__ = ("policy_id", "to_version", "reason")
    POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    TO_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    policy_id: str
    to_version: int
    reason: str
    def __init__(self, policy_id: _Optional[str] = ..., to_version: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class BacktestPolicyRequest(_message.Message):
    __slots__ = ("content", "file_name", "start_time", "end_time")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    content: str
    file_name: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, content: _Optional[str] = ..., file_name: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BacktestPolicyResponse(_message.Message):
    __slots__ = ("signals", "sent_before", "sent_after", "flips", "cap_hits", "urgency_mix", "students_affected", "decisions_before", "decisions_after")
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    SENT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    SENT_AFTER_FIELD_NUMBER: _ClassVar[int]
    FLIPS_FIELD_NUMBER: _ClassVar[int]
    CAP_HITS_FIELD_NUMBER: _ClassVar[int]
    URGENCY_MIX_FIELD_NUMBER: _ClassVar[int]
    STUDENTS_AFFECTED_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_BEFORE_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_AFTER_FIELD_NUMBER: _ClassVar[int]
    signals: int
    sent_before: int
    sent_after: int
    flips: _containers.RepeatedCompositeFieldContainer[_resources_pb2.BacktestFlip]
    cap_hits: _containers.RepeatedCompositeFieldContainer[_resources_pb2.CapHit]
    urgency_mix: _containers.RepeatedCompositeFieldContainer[_resources_pb2.UrgencyCount]
    students_affected: _containers.RepeatedScalarFieldContainer[str]
    decisions_before: int
    decisions_after: int
    def __init__(self, signals: _Optional[int] = ..., sent_before: _Optional[int] = ..., sent_after: _Optional[int] = ..., flips: _Optional[_Iterable[_Union[_resources_pb2.BacktestFlip, _Mapping]]] = ..., cap_hits: _Optional[_Iterable[_Union[_resources_pb2.CapHit, _Mapping]]] = ..., urgency_mix: _Optional[_Iterable[_Union[_resources_pb2.UrgencyCount, _Mapping]]] = ..., students_affected: _Optional[_Iterable[str]] = ..., decisions_before: _Optional[int] = ..., decisions_after: _Optional[int] = ...) -> None: ...

class ListDecisionsRequest(_message.Message):
    __slots__ = ("student_id", "page_size", "page_token")
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    student_id: str
    page_size: int
    page_token: str
    def __init__(self, student_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDecisionsResponse(_message.Message):
    __slots__ = ("decisions", "next_page_token")
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    decisions: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Decision]
    next_page_token: str
    def __init__(self, decisions: _Optional[_Iterable[_Union[_resources_pb2.Decision, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
