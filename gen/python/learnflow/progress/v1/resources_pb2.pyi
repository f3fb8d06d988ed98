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

class ActivityKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTIVITY_KIND_UNSPECIFIED: _ClassVar[ActivityKind]
    ACTIVITY_KIND_EXERCISE_ATTEMPT: _ClassVar[ActivityKind]
    ACTIVITY_KIND_QUIZ_SUBMISSION: _ClassVar[ActivityKind]
    ACTIVITY_KIND_CODE_RUN: _ClassVar[ActivityKind]
    ACTIVITY_KIND_CODE_REVIEW: _ClassVar[ActivityKind]
    ACTIVITY_KIND_HINT_REQUEST: _ClassVar[ActivityKind]
    ACTIVITY_KIND_TIME_ON_TASK: _ClassVar[ActivityKind]
    ACTIVITY_KIND_CONTENT_VIEW: _ClassVar[ActivityKind]

class MasteryLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MASTERY_LEVEL_UNSPECIFIED: _ClassVar[MasteryLevel]
    MASTERY_LEVEL_ATTEMPTED: _ClassVar[MasteryLevel]
    MASTERY_LEVEL_FAMILIAR: _ClassVar[MasteryLevel]
    MASTERY_LEVEL_PROFICIENT: _ClassVar[MasteryLevel]
    MASTERY_LEVEL_MASTERED: _ClassVar[MasteryLevel]

class AlertState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_STATE_UNSPECIFIED: _ClassVar[AlertState]
    ALERT_STATE_OPEN: _ClassVar[AlertState]
    ALERT_STATE_ACKNOWLEDGED: _ClassVar[AlertState]
    ALERT_STATE_RESOLVED: _ClassVar[AlertState]

class AlertResolution(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_RESOLUTION_UNSPECIFIED: _ClassVar[AlertResolution]
    ALERT_RESOLUTION_TEACHER: _ClassVar[AlertResolution]
    ALERT_RESOLUTION_STUDENT_PROGRESS: _ClassVar[AlertResolution]
    ALERT_RESOLUTION_QUIET_PERIOD: _ClassVar[AlertResolution]
ACTIVITY_KIND_UNSPECIFIED: ActivityKind
ACTIVITY_KIND_EXERCISE_ATTEMPT: ActivityKind
ACTIVITY_KIND_QUIZ_SUBMISSION: ActivityKind
ACTIVITY_KIND_CODE_RUN: ActivityKind
ACTIVITY_KIND_CODE_REVIEW: ActivityKind
ACTIVITY_KIND_HINT_REQUEST: ActivityKind
ACTIVITY_KIND_TIME_ON_TASK: ActivityKind
ACTIVITY_KIND_CONTENT_VIEW: ActivityKind
MASTERY_LEVEL_UNSPECIFIED: MasteryLevel
MASTERY_LEVEL_ATTEMPTED: MasteryLevel
MASTERY_LEVEL_FAMILIAR: MasteryLevel
MASTERY_LEVEL_PROFICIENT: MasteryLevel
MASTERY_LEVEL_MASTERED: MasteryLevel
ALERT_STATE_UNSPECIFIED: AlertState
ALERT_STATE_OPEN: AlertState
ALERT_STATE_ACKNOWLEDGED: AlertState
ALERT_STATE_RESOLVED: AlertState
ALERT_RESOLUTION_UNSPECIFIED: AlertResolution
ALERT_RESOLUTION_TEACHER: AlertResolution
ALERT_RESOLUTION_STUDENT_PROGRESS: AlertResolution
ALERT_RESOLUTION_QUIET_PERIOD: AlertResolution

class Activity(_message.Message):
    __slots__ = ("id", "student_id", "topic", "kind", "score", "verdict", "exception_type", "exercise_id", "duration_seconds", "occur_time", "quiz_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    EXCEPTION_TYPE_FIELD_NUMBER: _ClassVar[int]
    EXERCISE_ID_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    OCCUR_TIME_FIELD_NUMBER: _ClassVar[int]
    QUIZ_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    student_id: str
    topic: str
    kind: ActivityKind
    score: float
    verdict: str
    exception_type: str
    exercise_id: str
    duration_seconds: float
    occur_time: _timestamp_pb2.Timestamp
    quiz_id: str
    def __init__(self, id: _Optional[str] = ..., student_id: _Optional[str] = ..., topic: _Optional[str] = ..., kind: _Optional[_Union[ActivityKind, str]] = ..., score: _Optional[float] = ..., verdict: _Optional[str] = ..., exception_type: _Optional[str] = ..., exercise_id: _Optional[str] = ..., duration_seconds: _Optional[float] = ..., occur_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., quiz_id: _Optional[str] = ...) -> None: ...

class TopicMastery(_message.Message):
    __slots__ = ("topic", "score", "evidence", "level", "attempts", "update_time")
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    topic: str
    score: float
    evidence: float
    level: MasteryLevel
    attempts: int
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, topic: _Optional[str] = ..., score: _Optional[float] = ..., evidence: _Optional[float] = ..., level: _Optional[_Union[MasteryLevel, str]] = ..., attempts: _Optional[int] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Streak(_message.Message):
    __slots__ = ("current_days", "longest_days", "last_active_date")
    CURRENT_DAYS_FIELD_NUMBER: _ClassVar[int]
    LONGEST_DAYS_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTIVE_DATE_FIELD_NUMBER: _ClassVar[int]
    current_days: int
    longest_days: int
    last_active_date: str
    def __init__(self, current_days: _Optional[int] = ..., longest_days: _Optional[int] = ..., last_active_date: _Optional[str] = ...) -> None: ...

class StudentProgress(_message.Message):
    __slots__ = ("student_id", "topics", "streak", "recent_activity", "open_alerts")
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    TOPICS_FIELD_NUMBER: _ClassVar[int]
    STREAK_FIELD_NUMBER: _ClassVar[int]
    RECENT_ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    OPEN_ALERTS_FIELD_NUMBER: _ClassVar[int]
    student_id: str
    topics: _containers.RepeatedCompositeFieldContainer[TopicMastery]
    streak: Streak
    recent_activity: _containers.RepeatedCompositeFieldContainer[Activity]
    open_alerts: int
    def __init__(self, student_id: _Optional[str] = ..., topics: _Optional[_Iterable[_Union[TopicMastery, _Mapping]]] = ..., streak: _Optional[_Union[Streak, _Mapping]] = ..., recent_activity: _Optional[_Iterable[_Union[Activity, _Mapping]]] = ..., open_alerts: _Optional[int] = ...) -> None: ...

class StudentSummary(_message.Message):
    __slots__ = ("student_id", "mean_mastery", "topics_mastered", "open_alerts", "risk", "streak", "last_active_time")
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    MEAN_MASTERY_FIELD_NUMBER: _ClassVar[int]
    TOPICS_MASTERED_FIELD_NUMBER: _ClassVar[int]
    OPEN_ALERTS_FIELD_NUMBER: _ClassVar[int]
    RISK_FIELD_NUMBER: _ClassVar[int]
    STREAK_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    student_id: str
    mean_mastery: float
    topics_mastered: int
    open_alerts: int
    risk: float
    streak: Streak
    last_active_time: _timestamp_pb2.Timestamp
    def __init__(self, student_id: _Optional[str] = ..., mean_mastery: _Optional[float] = ..., topics_mastered: _Optional[int] = ..., open_alerts: _Optional[int] = ..., risk: _Optional[float] = ..., streak: _Optional[_Union[Streak, _Mapping]] = ..., last_active_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StruggleAlert(_message.Message):
    __slots__ = ("id", "student_id", "rule", "key", "explanation", "severity", "state", "create_time", "acknowledge_time", "resolve_time", "resolution")
    ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGE_TIME_FIELD_NUMBER: _ClassVar[int]
    RESOLVE_TIME_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    id: str
    student_id: str
    rule: str
    key: str
    explanation: str
    severity: str
    state: AlertState
    create_time: _timestamp_pb2.Timestamp
    acknowledge_time: _timestamp_pb2.Timestamp
    resolve_time: _timestamp_pb2.Timestamp
    resolution: AlertResolution
    def __init__(self, id: _Optional[str] = ..., student_id: _Optional[str] = ..., rule: _Optional[str] = ..., key: _Optional[str] = ..., explanation: _Optional[str] = ..., severity: _Optional[str] = ..., state: _Optional[_Union[AlertState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., acknowledge_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resolve_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resolution: _Optional[_Union[AlertResolution, str]] = ...) -> None: ...

class StudentClass(_message.Message):
    __slots__ = ("id", "name", "teacher_ids", "student_ids")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TEACHER_IDS_FIELD_NUMBER: _ClassVar[int]
    STUDENT_IDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    teacher_ids: _containers.RepeatedScalarFieldContainer[str]
    student_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., teacher_ids: _Optional[_Iterable[str]] = ..., student_ids: _Optional[_Iterable[str]] = ...) -> None: ...
