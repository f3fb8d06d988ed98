import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Mentor(_message.Message):
    __slots__ = ("id", "name", "email")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    email: str
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., email: _Optional[str] = ...) -> None: ...

class ActivityEvent(_message.Message):
    __slots__ = ("event_id", "sequence", "event_type", "student_id", "student_name", "student_email", "mentors", "activity_id", "activity_title", "metadata", "occur_time", "processed_for_ai", "user_id", "statement", "source", "attempt_id", "create_time", "notifications")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_NAME_FIELD_NUMBER: _ClassVar[int]
    STUDENT_EMAIL_FIELD_NUMBER: _ClassVar[int]
    MENTORS_FIELD_NUMBER: _ClassVar[int]
    ACTIVITY_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVITY_TITLE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    OCCUR_TIME_FIELD_NUMBER: _ClassVar[int]
    PROCESSED_FOR_AI_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    sequence: int
    event_type: str
    student_id: int
    student_name: str
    student_email: str
    mentors: _containers.RepeatedCompositeFieldContainer[Mentor]
    activity_id: int
    activity_title: str
    metadata: _struct_pb2.Struct
    occur_time: _timestamp_pb2.Timestamp
    processed_for_ai: bool
    user_id: str
    statement: _struct_pb2.Struct
    source: str
    attempt_id: int
    create_time: _timestamp_pb2.Timestamp
    notifications: _containers.RepeatedCompositeFieldContainer[Notification]
    def __init__(self, event_id: _Optional[str] = ..., sequence: _Optional[int] = ..., event_type: _Optional[str] = ..., student_id: _Optional[int] = ..., student_name: _Optional[str] = ..., student_email: _Optional[str] = ..., mentors: _Optional[_Iterable[_Union[Mentor, _Mapping]]] = ..., activity_id: _Optional[int] = ..., activity_title: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., occur_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., processed_for_ai: _Optional[bool] = ..., user_id: _Optional[str] = ..., statement: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., source: _Optional[str] = ..., attempt_id: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., notifications: _Optional[_Iterable[_Union[Notification, _Mapping]]] = ...) -> None: ...

class Notification(_message.Message):
    __slots__ = ("mentor_id", "channel", "sent", "message_id", "error", "process_time")
    MENTOR_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SENT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PROCESS_TIME_FIELD_NUMBER: _ClassVar[int]
    mentor_id: int
    channel: str
    sent: bool
    message_id: str
    error: str
    process_time: _timestamp_pb2.Timestamp
    def __init__(self, mentor_id: _Optional[int] = ..., channel: _Optional[str] = ..., sent: _Optional[bool] = ..., message_id: _Optional[str] = ..., error: _Optional[str] = ..., process_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Cursor(_message.Message):
    __slots__ = ("source", "update_time", "id")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    source: str
    update_time: _timestamp_pb2.Timestamp
    id: int
    def __init__(self, source: _Optional[str] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., id: _Optional[int] = ...) -> None: ...

class MonitorStatus(_message.Message):
    __slots__ = ("enabled", "last_poll_time", "last_error", "cursors", "watermark_age_seconds", "has_watermark", "events_by_type", "rejected_rows", "skipped_rows", "unmatched_emails", "late_commit_guard")
    class EventsByTypeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    LAST_POLL_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    CURSORS_FIELD_NUMBER: _ClassVar[int]
    WATERMARK_AGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    HAS_WATERMARK_FIELD_NUMBER: _ClassVar[int]
    EVENTS_BY_TYPE_FIELD_NUMBER: _ClassVar[int]
    REJECTED_ROWS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_ROWS_FIELD_NUMBER: _ClassVar[int]
    UNMATCHED_EMAILS_FIELD_NUMBER: _ClassVar[int]
    LATE_COMMIT_GUARD_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    last_poll_time: _timestamp_pb2.Timestamp
    last_error: str
    cursors: _containers.RepeatedCompositeFieldContainer[Cursor]
    watermark_age_seconds: float
    has_watermark: bool
    events_by_type: _containers.ScalarMap[str, int]
    rejected_rows: int
    skipped_rows: int
    unmatched_emails: _containers.RepeatedScalarFieldContainer[str]
    late_commit_guard: bool
    def __init__(self, enabled: _Optional[bool] = ..., last_poll_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_error: _Optional[str] = ..., cursors: _Optional[_Iterable[_Union[Cursor, _Mapping]]] = ..., watermark_age_seconds: _Optional[float] = ..., has_watermark: _Optional[bool] = ..., events_by_type: _Optional[_Mapping[str, int]] = ..., rejected_rows: _Optional[int] = ..., skipped_rows: _Optional[int] = ..., unmatched_emails: _Optional[_Iterable[str]] = ..., late_commit_guard: _Optional[bool] = ...) -> None: ...
