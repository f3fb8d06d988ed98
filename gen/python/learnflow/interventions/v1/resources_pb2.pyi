import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PolicyVersion(_message.Message):
    __slots__ = ("policy_id", "version", "file", "sha256", "content", "rules_json", "author", "source", "reason", "activate_time", "deactivate_time", "mode")
    POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    RULES_JSON_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTIVATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DEACTIVATE_TIME_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    policy_id: str
    version: int
    file: str
    sha256: str
    content: str
    rules_json: str
    author: str
    source: str
    reason: str
    activate_time: _timestamp_pb2.Timestamp
    deactivate_time: _timestamp_pb2.Timestamp
    mode: str
    def __init__(self, policy_id: _Optional[str] = ..., version: _Optional[int] = ..., file: _Optional[str] = ..., sha256: _Optional[str] = ..., content: _Optional[str] = ..., rules_json: _Optional[str] = ..., author: _Optional[str] = ..., source: _Optional[str] = ..., reason: _Optional[str] = ..., activate_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deactivate_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., mode: _Optional[str] = ...) -> None: ...

class Signal(_message.Message):
    __slots__ = ("student_id", "kind", "occur_time", "topic", "key", "rule", "error", "severity", "verdict", "minutes", "count", "explanation", "teacher_ids", "source_id", "time_zone", "student_name")
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OCCUR_TIME_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    MINUTES_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    TEACHER_IDS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    STUDENT_NAME_FIELD_NUMBER: _ClassVar[int]
    student_id: str
    kind: str
    occur_time: _timestamp_pb2.Timestamp
    topic: str
    key: str
    rule: str
    error: str
    severity: str
    verdict: str
    minutes: float
    count: int
    explanation: str
    teacher_ids: _containers.RepeatedScalarFieldContainer[str]
    source_id: str
    time_zone: str
    student_name: str
    def __init__(self, student_id: _Optional[str] = ..., kind: _Optional[str] = ..., occur_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., topic: _Optional[str] = ..., key: _Optional[str] = ..., rule: _Optional[str] = ..., error: _Optional[str] = ..., severity: _Optional[str] = ..., verdict: _Optional[str] = ..., minutes: _Optional[float] = ..., count: _Optional[int] = ..., explanation: _Optional[str] = ..., teacher_ids: _Optional[_Iterable[str]] = ..., source_id: _Optional[str] = ..., time_zone: _Optional[str] = ..., student_name: _Optional[str] = ...) -> None: ...

class TraceStep(_message.Message):
    __slots__ = ("condition", "held", "value")
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    condition: str
    held: bool
    value: str
    def __init__(self, condition: _Optional[str] = ..., held: _Optional[bool] = ..., value: _Optional[str] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("id", "signal_id", "student_id", "policy_id", "policy_version", "intervention", "status", "reason", "urgency", "trace", "message", "delivery_status", "delivery_attempts", "moodle_message_id", "create_time", "deliver_time", "local_day", "recipient_ids", "delivery_error")
    ID_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    INTERVENTION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    URGENCY_FIELD_NUMBER: _ClassVar[int]
    TRACE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_STATUS_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    MOODLE_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DELIVER_TIME_FIELD_NUMBER: _ClassVar[int]
    LOCAL_DAY_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_IDS_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    signal_id: str
    student_id: str
    policy_id: str
    policy_version: int
    intervention: str
    status: str
    reason: str
    urgency: int
    trace: _containers.RepeatedCompositeFieldContainer[TraceStep]
    message: str
    delivery_status: str
    delivery_attempts: int
    moodle_message_id: str
    create_time: _timestamp_pb2.Timestamp
    deliver_time: _timestamp_pb2.Timestamp
    local_day: str
    recipient_ids: _containers.RepeatedScalarFieldContainer[str]
    delivery_error: str
    def __init__(self, id: _Optional[str] = ..., signal_id: _Optional[str] = ..., student_id: _Optional[str] = ..., policy_id: _Optional[str] = ..., policy_version: _Optional[int] = ..., intervention: _Optional[str] = ..., status: _Optional[str] = ..., reason: _Optional[str] = ..., urgency: _Optional[int] = ..., trace: _Optional[_Iterable[_Union[TraceStep, _Mapping]]] = ..., message: _Optional[str] = ..., delivery_status: _Optional[str] = ..., delivery_attempts: _Optional[int] = ..., moodle_message_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deliver_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., local_day: _Optional[str] = ..., recipient_ids: _Optional[_Iterable[str]] = ..., delivery_error: _Optional[str] = ...) -> None: ...

class PolicyProblem(_message.Message):
    __slots__ = ("file", "line", "field", "message")
    FILE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    file: str
    line: int
    field: str
    message: str
    def __init__(self, file: _Optional[str] = ..., line: _Optional[int] = ..., field: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class FieldChange(_message.Message):
    __slots__ = ("path", "before_json", "after_json")
    PATH_FIELD_NUMBER: _ClassVar[int]
    BEFORE_JSON_FIELD_NUMBER: _ClassVar[int]
    AFTER_JSON_FIELD_NUMBER: _ClassVar[int]
    path: str
    before_json: str
    after_json: str
    def __init__(self, path: _Optional[str] = ..., before_json: _Optional[str] = ..., after_json: _Optional[str] = ...) -> None: ...

class BacktestFlip(_message.Message):
    __slots__ = ("signal_id", "student_id", "occur_time", "intervention", "before", "after", "reason")
    SIGNAL_ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCUR_TIME_FIELD_NUMBER: _ClassVar[int]
    INTERVENTION_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    signal_id: str
    student_id: str
    occur_time: _timestamp_pb2.Timestamp
    intervention: str
    before: str
    after: str
    reason: str
    def __init__(self, signal_id: _Optional[str] = ..., student_id: _Optional[str] = ..., occur_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., intervention: _Optional[str] = ..., before: _Optional[str] = ..., after: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CapHit(_message.Message):
    __slots__ = ("student_id", "day", "count")
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    student_id: str
    day: str
    count: int
    def __init__(self, student_id: _Optional[str] = ..., day: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class UrgencyCount(_message.Message):
    __slots__ = ("band", "count")
    BAND_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    band: str
    count: int
    def __init__(self, band: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...
