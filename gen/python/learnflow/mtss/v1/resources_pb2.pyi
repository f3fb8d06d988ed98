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

class SessionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SESSION_STATUS_UNSPECIFIED: _ClassVar[SessionStatus]
    SESSION_STATUS_SCHEDULED: _ClassVar[SessionStatus]
    SESSION_STATUS_CANCELLED: _ClassVar[SessionStatus]

class EnrollmentSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENROLLMENT_SOURCE_UNSPECIFIED: _ClassVar[EnrollmentSource]
    ENROLLMENT_SOURCE_MANUAL: _ClassVar[EnrollmentSource]
    ENROLLMENT_SOURCE_RISK_LIST: _ClassVar[EnrollmentSource]
    ENROLLMENT_SOURCE_IMPORT: _ClassVar[EnrollmentSource]

class EnrollmentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENROLLMENT_STATUS_UNSPECIFIED: _ClassVar[EnrollmentStatus]
    ENROLLMENT_STATUS_ACTIVE: _ClassVar[EnrollmentStatus]
    ENROLLMENT_STATUS_WITHDRAWN: _ClassVar[EnrollmentStatus]
    ENROLLMENT_STATUS_EXITED: _ClassVar[EnrollmentStatus]

class AttendanceStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ATTENDANCE_STATUS_UNSPECIFIED: _ClassVar[AttendanceStatus]
    ATTENDANCE_STATUS_PRESENT: _ClassVar[AttendanceStatus]
    ATTENDANCE_STATUS_ABSENT: _ClassVar[AttendanceStatus]
    ATTENDANCE_STATUS_TARDY: _ClassVar[AttendanceStatus]
    ATTENDANCE_STATUS_EXCUSED: _ClassVar[AttendanceStatus]

class CommunicationStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMMUNICATION_STATUS_UNSPECIFIED: _ClassVar[CommunicationStatus]
    COMMUNICATION_STATUS_QUEUED: _ClassVar[CommunicationStatus]
    COMMUNICATION_STATUS_SENT: _ClassVar[CommunicationStatus]
    COMMUNICATION_STATUS_FAILED: _ClassVar[CommunicationStatus]
SESSION_STATUS_UNSPECIFIED: SessionStatus
SESSION_STATUS_SCHEDULED: SessionStatus
SESSION_STATUS_CANCELLED: SessionStatus
ENROLLMENT_SOURCE_UNSPECIFIED: EnrollmentSource
ENROLLMENT_SOURCE_MANUAL: EnrollmentSource
ENROLLMENT_SOURCE_RISK_LIST: EnrollmentSource
ENROLLMENT_SOURCE_IMPORT: EnrollmentSource
ENROLLMENT_STATUS_UNSPECIFIED: EnrollmentStatus
ENROLLMENT_STATUS_ACTIVE: EnrollmentStatus
ENROLLMENT_STATUS_WITHDRAWN: EnrollmentStatus
ENROLLMENT_STATUS_EXITED: EnrollmentStatus
ATTENDANCE_STATUS_UNSPECIFIED: AttendanceStatus
ATTENDANCE_STATUS_PRESENT: AttendanceStatus
ATTENDANCE_STATUS_ABSENT: AttendanceStatus
ATTENDANCE_STATUS_TARDY: AttendanceStatus
ATTENDANCE_STATUS_EXCUSED: AttendanceStatus
COMMUNICATION_STATUS_UNSPECIFIED: CommunicationStatus
COMMUNICATION_STATUS_QUEUED: CommunicationStatus
COMMUNICATION_STATUS_SENT: CommunicationStatus
COMMUNICATION_STATUS_FAILED: CommunicationStatus

class Schedule(_message.Message):
    __slots__ = ("rrule", "start_time", "duration_minutes", "time_zone", "holidays", "exceptions", "extra_dates")
    RRULE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    DURATION_MINUTES_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    HOLIDAYS_FIELD_NUMBER: _ClassVar[int]
    EXCEPTIONS_FIELD_NUMBER: _ClassVar[int]
    EXTRA_DATES_FIELD_NUMBER: _ClassVar[int]
    rrule: str
    start_time: str
    duration_minutes: int
    time_zone: str
    holidays: _containers.RepeatedScalarFieldContainer[str]
    exceptions: _containers.RepeatedScalarFieldContainer[str]
    extra_dates: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, rrule: _Optional[str] = ..., start_time: _Optional[str] = ..., duration_minutes: _Optional[int] = ..., time_zone: _Optional[str] = ..., holidays: _Optional[_Iterable[str]] = ..., exceptions: _Optional[_Iterable[str]] = ..., extra_dates: _Optional[_Iterable[str]] = ...) -> None: ...

class Goal(_message.Message):
    __slots__ = ("measure", "baseline", "target", "goal_date")
    MEASURE_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    GOAL_DATE_FIELD_NUMBER: _ClassVar[int]
    measure: str
    baseline: float
    target: float
    goal_date: str
    def __init__(self, measure: _Optional[str] = ..., baseline: _Optional[float] = ..., target: _Optional[float] = ..., goal_date: _Optional[str] = ...) -> None: ...

class ExitCriteria(_message.Message):
    __slots__ = ("points_at_goal", "min_weeks")
    POINTS_AT_GOAL_FIELD_NUMBER: _ClassVar[int]
    MIN_WEEKS_FIELD_NUMBER: _ClassVar[int]
    points_at_goal: int
    min_weeks: int
    def __init__(self, points_at_goal: _Optional[int] = ..., min_weeks: _Optional[int] = ...) -> None: ...

class Template(_message.Message):
    __slots__ = ("key", "version", "name", "objectives", "intervention_class", "delivery_method", "measure", "minutes_per_week", "rrule", "start_time", "duration_minutes", "weeks", "exit_criteria")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVES_FIELD_NUMBER: _ClassVar[int]
    INTERVENTION_CLASS_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_METHOD_FIELD_NUMBER: _ClassVar[int]
    MEASURE_FIELD_NUMBER: _ClassVar[int]
    MINUTES_PER_WEEK_FIELD_NUMBER: _ClassVar[int]
    RRULE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    DURATION_MINUTES_FIELD_NUMBER: _ClassVar[int]
    WEEKS_FIELD_NUMBER: _ClassVar[int]
    EXIT_CRITERIA_FIELD_NUMBER: _ClassVar[int]
    key: str
    version: int
    name: str
    objectives: _containers.RepeatedScalarFieldContainer[str]
    intervention_class: str
    delivery_method: str
    measure: str
    minutes_per_week: int
    rrule: str
    start_time: str
    duration_minutes: int
    weeks: int
    exit_criteria: ExitCriteria
    def __init__(self, key: _Optional[str] = ..., version: _Optional[int] = ..., name: _Optional[str] = ..., objectives: _Optional[_Iterable[str]] = ..., intervention_class: _Optional[str] = ..., delivery_method: _Optional[str] = ..., measure: _Optional[str] = ..., minutes_per_week: _Optional[int] = ..., rrule: _Optional[str] = ..., start_time: _Optional[str] = ..., duration_minutes: _Optional[int] = ..., weeks: _Optional[int] = ..., exit_criteria: _Optional[_Union[ExitCriteria, _Mapping]] = ...) -> None: ...

class Intervention(_message.Message):
    __slots__ = ("id", "code", "name", "objectives", "target_population", "owner_id", "facilitator_ids", "room", "goal", "minutes_per_week", "begin_date", "end_date", "schedule", "template_key", "template_version", "intervention_class", "delivery_method", "exit_criteria", "session_count", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVES_FIELD_NUMBER: _ClassVar[int]
    TARGET_POPULATION_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    FACILITATOR_IDS_FIELD_NUMBER: _ClassVar[int]
    ROOM_FIELD_NUMBER: _ClassVar[int]
    GOAL_FIELD_NUMBER: _ClassVar[int]
    MINUTES_PER_WEEK_FIELD_NUMBER: _ClassVar[int]
    BEGIN_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_KEY_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_VERSION_FIELD_NUMBER: _ClassVar[int]
    INTERVENTION_CLASS_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_METHOD_FIELD_NUMBER: _ClassVar[int]
    EXIT_CRITERIA_FIELD_NUMBER: _ClassVar[int]
    SESSION_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    code: str
    name: str
    objectives: _containers.RepeatedScalarFieldContainer[str]
    target_population: str
    owner_id: str
    facilitator_ids: _containers.RepeatedScalarFieldContainer[str]
    room: str
    goal: Goal
    minutes_per_week: int
    begin_date: str
    end_date: str
    schedule: Schedule
    template_key: str
    template_version: int
    intervention_class: str
    delivery_method: str
    exit_criteria: ExitCriteria
    session_count: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., code: _Optional[str] = ..., name: _Optional[str] = ..., objectives: _Optional[_Iterable[str]] = ..., target_population: _Optional[str] = ..., owner_id: _Optional[str] = ..., facilitator_ids: _Optional[_Iterable[str]] = ..., room: _Optional[str] = ..., goal: _Optional[_Union[Goal, _Mapping]] = ..., minutes_per_week: _Optional[int] = ..., begin_date: _Optional[str] = ..., end_date: _Optional[str] = ..., schedule: _Optional[_Union[Schedule, _Mapping]] = ..., template_key: _Optional[str] = ..., template_version: _Optional[int] = ..., intervention_class: _Optional[str] = ..., delivery_method: _Optional[str] = ..., exit_criteria: _Optional[_Union[ExitCriteria, _Mapping]] = ..., session_count: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("id", "intervention_id", "start_time", "end_time", "local_date", "room", "facilitator_id", "status", "note")
    ID_FIELD_NUMBER: _ClassVar[int]
    INTERVENTION_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    LOCAL_DATE_FIELD_NUMBER: _ClassVar[int]
    ROOM_FIELD_NUMBER: _ClassVar[int]
    FACILITATOR_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    id: str
    intervention_id: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    local_date: str
    room: str
    facilitator_id: str
    status: SessionStatus
    note: str
    def __init__(self, id: _Optional[str] = ..., intervention_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., local_date: _Optional[str] = ..., room: _Optional[str] = ..., facilitator_id: _Optional[str] = ..., status: _Optional[_Union[SessionStatus, str]] = ..., note: _Optional[str] = ...) -> None: ...

class Enrollment(_message.Message):
    __slots__ = ("id", "intervention_id", "student_id", "source", "reason", "enrolled_by", "enroll_time", "begin_date", "end_date", "status", "exit_confirmed_by", "exit_confirm_time", "exit_reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    INTERVENTION_ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_BY_FIELD_NUMBER: _ClassVar[int]
    ENROLL_TIME_FIELD_NUMBER: _ClassVar[int]
    BEGIN_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EXIT_CONFIRMED_BY_FIELD_NUMBER: _ClassVar[int]
    EXIT_CONFIRM_TIME_FIELD_NUMBER: _ClassVar[int]
    EXIT_REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    intervention_id: str
    student_id: str
    source: EnrollmentSource
    reason: str
    enrolled_by: str
    enroll_time: _timestamp_pb2.Timestamp
    begin_date: str
    end_date: str
    status: EnrollmentStatus
    exit_confirmed_by: str
    exit_confirm_time: _timestamp_pb2.Timestamp
    exit_reason: str
    def __init__(self, id: _Optional[str] = ..., intervention_id: _Optional[str] = ..., student_id: _Optional[str] = ..., source: _Optional[_Union[EnrollmentSource, str]] = ..., reason: _Optional[str] = ..., enrolled_by: _Optional[str] = ..., enroll_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., begin_date: _Optional[str] = ..., end_date: _Optional[str] = ..., status: _Optional[_Union[EnrollmentStatus, str]] = ..., exit_confirmed_by: _Optional[str] = ..., exit_confirm_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., exit_reason: _Optional[str] = ...) -> None: ...

class AttendanceRecord(_message.Message):
    __slots__ = ("session_id", "student_id", "status", "minutes", "reason_code", "note", "recorded_by", "record_time")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MINUTES_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    RECORDED_BY_FIELD_NUMBER: _ClassVar[int]
    RECORD_TIME_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    student_id: str
    status: AttendanceStatus
    minutes: int
    reason_code: str
    note: str
    recorded_by: str
    record_time: _timestamp_pb2.Timestamp
    def __init__(self, session_id: _Optional[str] = ..., student_id: _Optional[str] = ..., status: _Optional[_Union[AttendanceStatus, str]] = ..., minutes: _Optional[int] = ..., reason_code: _Optional[str] = ..., note: _Optional[str] = ..., recorded_by: _Optional[str] = ..., record_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ProgressEntry(_message.Message):
    __slots__ = ("id", "student_id", "date", "score", "rating", "note", "session_id", "intervention_id", "recorded_by", "record_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    INTERVENTION_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDED_BY_FIELD_NUMBER: _ClassVar[int]
    RECORD_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    student_id: str
    date: str
    score: float
    rating: int
    note: str
    session_id: str
    intervention_id: str
    recorded_by: str
    record_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., student_id: _Optional[str] = ..., date: _Optional[str] = ..., score: _Optional[float] = ..., rating: _Optional[int] = ..., note: _Optional[str] = ..., session_id: _Optional[str] = ..., intervention_id: _Optional[str] = ..., recorded_by: _Optional[str] = ..., record_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Projection(_message.Message):
    __slots__ = ("at_weeks", "value", "low", "high", "t")
    AT_WEEKS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    T_FIELD_NUMBER: _ClassVar[int]
    at_weeks: float
    value: float
    low: float
    high: float
    t: float
    def __init__(self, at_weeks: _Optional[float] = ..., value: _Optional[float] = ..., low: _Optional[float] = ..., high: _Optional[float] = ..., t: _Optional[float] = ...) -> None: ...

class Analysis(_message.Message):
    __slots__ = ("verdict", "reasons", "points", "min_points", "aimline_slope", "ols_slope", "ols_intercept", "residual_sd", "tukey_slope", "four_point", "trend", "needed_roi", "projection")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    MIN_POINTS_FIELD_NUMBER: _ClassVar[int]
    AIMLINE_SLOPE_FIELD_NUMBER: _ClassVar[int]
    OLS_SLOPE_FIELD_NUMBER: _ClassVar[int]
    OLS_INTERCEPT_FIELD_NUMBER: _ClassVar[int]
    RESIDUAL_SD_FIELD_NUMBER: _ClassVar[int]
    TUKEY_SLOPE_FIELD_NUMBER: _ClassVar[int]
    FOUR_POINT_FIELD_NUMBER: _ClassVar[int]
    TREND_FIELD_NUMBER: _ClassVar[int]
    NEEDED_ROI_FIELD_NUMBER: _ClassVar[int]
    PROJECTION_FIELD_NUMBER: _ClassVar[int]
    verdict: str
    reasons: _containers.RepeatedScalarFieldContainer[str]
    points: int
    min_points: int
    aimline_slope: float
    ols_slope: float
    ols_intercept: float
    residual_sd: float
    tukey_slope: float
    four_point: str
    trend: str
    needed_roi: float
    projection: Projection
    def __init__(self, verdict: _Optional[str] = ..., reasons: _Optional[_Iterable[str]] = ..., points: _Optional[int] = ..., min_points: _Optional[int] = ..., aimline_slope: _Optional[float] = ..., ols_slope: _Optional[float] = ..., ols_intercept: _Optional[float] = ..., residual_sd: _Optional[float] = ..., tukey_slope: _Optional[float] = ..., four_point: _Optional[str] = ..., trend: _Optional[str] = ..., needed_roi: _Optional[float] = ..., projection: _Optional[_Union[Projection, _Mapping]] = ...) -> None: ...

class Dosage(_message.Message):
    __slots__ = ("planned_minutes", "delivered_minutes", "sessions_held", "sessions_attended", "ratio", "attendance_rate")
    PLANNED_MINUTES_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_MINUTES_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_HELD_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_ATTENDED_FIELD_NUMBER: _ClassVar[int]
    RATIO_FIELD_NUMBER: _ClassVar[int]
    ATTENDANCE_RATE_FIELD_NUMBER: _ClassVar[int]
    planned_minutes: int
    delivered_minutes: int
    sessions_held: int
    sessions_attended: int
    ratio: float
    attendance_rate: float
    def __init__(self, planned_minutes: _Optional[int] = ..., delivered_minutes: _Optional[int] = ..., sessions_held: _Optional[int] = ..., sessions_attended: _Optional[int] = ..., ratio: _Optional[float] = ..., attendance_rate: _Optional[float] = ...) -> None: ...

class StudentDashboard(_message.Message):
    __slots__ = ("intervention_id", "student_id", "enrollment", "dosage", "analysis", "recommendation", "exit_recommended", "reasons", "history")
    INTERVENTION_ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    ENROLLMENT_FIELD_NUMBER: _ClassVar[int]
    DOSAGE_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDATION_FIELD_NUMBER: _ClassVar[int]
    EXIT_RECOMMENDED_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    intervention_id: str
    student_id: str
    enrollment: Enrollment
    dosage: Dosage
    analysis: Analysis
    recommendation: str
    exit_recommended: bool
    reasons: _containers.RepeatedScalarFieldContainer[str]
    history: _containers.RepeatedCompositeFieldContainer[ProgressEntry]
    def __init__(self, intervention_id: _Optional[str] = ..., student_id: _Optional[str] = ..., enrollment: _Optional[_Union[Enrollment, _Mapping]] = ..., dosage: _Optional[_Union[Dosage, _Mapping]] = ..., analysis: _Optional[_Union[Analysis, _Mapping]] = ..., recommendation: _Optional[str] = ..., exit_recommended: _Optional[bool] = ..., reasons: _Optional[_Iterable[str]] = ..., history: _Optional[_Iterable[_Union[ProgressEntry, _Mapping]]] = ...) -> None: ...

class StudentRow(_message.Message):
    __slots__ = ("student_id", "status", "attendance_rate", "delivered_minutes", "last_score", "ols_slope", "projected", "recommendation", "exit_recommended")
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTENDANCE_RATE_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_MINUTES_FIELD_NUMBER: _ClassVar[int]
    LAST_SCORE_FIELD_NUMBER: _ClassVar[int]
    OLS_SLOPE_FIELD_NUMBER: _ClassVar[int]
    PROJECTED_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDATION_FIELD_NUMBER: _ClassVar[int]
    EXIT_RECOMMENDED_FIELD_NUMBER: _ClassVar[int]
    student_id: str
    status: EnrollmentStatus
    attendance_rate: float
    delivered_minutes: int
    last_score: float
    ols_slope: float
    projected: float
    recommendation: str
    exit_recommended: bool
    def __init__(self, student_id: _Optional[str] = ..., status: _Optional[_Union[EnrollmentStatus, str]] = ..., attendance_rate: _Optional[float] = ..., delivered_minutes: _Optional[int] = ..., last_score: _Optional[float] = ..., ols_slope: _Optional[float] = ..., projected: _Optional[float] = ..., recommendation: _Optional[str] = ..., exit_recommended: _Optional[bool] = ...) -> None: ...

class InterventionDashboard(_message.Message):
    __slots__ = ("intervention", "attendance_rate", "planned_minutes_per_student", "delivered_minutes", "sessions_held", "sessions_upcoming", "students")
    INTERVENTION_FIELD_NUMBER: _ClassVar[int]
    ATTENDANCE_RATE_FIELD_NUMBER: _ClassVar[int]
    PLANNED_MINUTES_PER_STUDENT_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_MINUTES_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_HELD_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_UPCOMING_FIELD_NUMBER: _ClassVar[int]
    STUDENTS_FIELD_NUMBER: _ClassVar[int]
    intervention: Intervention
    attendance_rate: float
    planned_minutes_per_student: int
    delivered_minutes: int
    sessions_held: int
    sessions_upcoming: int
    students: _containers.RepeatedCompositeFieldContainer[StudentRow]
    def __init__(self, intervention: _Optional[_Union[Intervention, _Mapping]] = ..., attendance_rate: _Optional[float] = ..., planned_minutes_per_student: _Optional[int] = ..., delivered_minutes: _Optional[int] = ..., sessions_held: _Optional[int] = ..., sessions_upcoming: _Optional[int] = ..., students: _Optional[_Iterable[_Union[StudentRow, _Mapping]]] = ...) -> None: ...

class Conflict(_message.Message):
    __slots__ = ("kind", "resource", "session_id", "other_session_id")
    KIND_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    OTHER_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    kind: str
    resource: str
    session_id: str
    other_session_id: str
    def __init__(self, kind: _Optional[str] = ..., resource: _Optional[str] = ..., session_id: _Optional[str] = ..., other_session_id: _Optional[str] = ...) -> None: ...

class Candidate(_message.Message):
    __slots__ = ("student_id", "eligible", "reason", "risk")
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    ELIGIBLE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RISK_FIELD_NUMBER: _ClassVar[int]
    student_id: str
    eligible: bool
    reason: str
    risk: float
    def __init__(self, student_id: _Optional[str] = ..., eligible: _Optional[bool] = ..., reason: _Optional[str] = ..., risk: _Optional[float] = ...) -> None: ...

class Communication(_message.Message):
    __slots__ = ("id", "student_id", "caregiver_id", "template", "status", "detail", "sent_by", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    CAREGIVER_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    SENT_BY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    student_id: str
    caregiver_id: str
    template: str
    status: CommunicationStatus
    detail: str
    sent_by: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., student_id: _Optional[str] = ..., caregiver_id: _Optional[str] = ..., template: _Optional[str] = ..., status: _Optional[_Union[CommunicationStatus, str]] = ..., detail: _Optional[str] = ..., sent_by: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
