import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from learnflow.auth.v1 import auth_pb2 as _auth_pb2
from learnflow.mtss.v1 import resources_pb2 as _resources_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListTemplatesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListTemplatesResponse(_message.Message):
    __slots__ = ("templates",)
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    templates: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Template]
    def __init__(self, templates: _Optional[_Iterable[_Union[_resources_pb2.Template, _Mapping]]] = ...) -> None: ...

class CreateInterventionRequest(_message.Message):
    __slots__ = ("intervention", "use_template_objectives")
    INTERVENTION_FIELD_NUMBER: _ClassVar[int]
    USE_TEMPLATE_OBJECTIVES_FIELD_NUMBER: _ClassVar[int]
    intervention: _resources_pb2.Intervention
    use_template_objectives: bool
    def __init__(self, intervention: _Optional[_Union[_resources_pb2.Intervention, _Mapping]] = ..., use_template_objectives: _Optional[bool] = ...) -> None: ...

class GetInterventionRequest(_message.Message):
    __slots__ = ("intervention_id",)
    INTERVENTION_ID_FIELD_NUMBER: _ClassVar[int]
    intervention_id: str
    def __init__(self, intervention_id: _Optional[str] = ...) -> None: ...

class ListInterventionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "query")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    query: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., query: _Optional[str] = ...) -> None: ...

class ListInterventionsResponse(_message.Message):
    __slots__ = ("interventions", "next_page_token")
    INTERVENTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    interventions: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Intervention]
    next_page_token: str
    def __init__(self, interventions: _Optional[_Iterable[_Union[_resources_pb2.Intervention, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ReapplyTemplateRequest(_message.Message):
    __slots__ = ("intervention_id", "version", "acknowledged_changes")
    INTERVENTION_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_CHANGES_FIELD_NUMBER: _ClassVar[int]
    intervention_id: str
    version: int
    acknowledged_changes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, intervention_id: _Optional[str] = ..., version: _Optional[int] = ..., acknowledged_changes: _Optional[_Iterable[str]] = ...) -> None: ...

class ListSessionsRequest(_message.Message):
    __slots__ = ("intervention_id",)
    INTERVENTION_ID_FIELD_NUMBER: _ClassVar[int]
    intervention_id: str
    def __init__(self, intervention_id: _Optional[str] = ...) -> None: ...

class ListSessionsResponse(_message.Message):
    __slots__ = ("sessions",)
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Session]
    def __init__(self, sessions: _Optional[_Iterable[_Union[_resources_pb2.Session, _Mapping]]] = ...) -> None: ...

class AdjustSessionRequest(_message.Message):
    __slots__ = ("session_id", "start_time", "room", "facilitator_id", "cancel", "note")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    ROOM_FIELD_NUMBER: _ClassVar[int]
    FACILITATOR_ID_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    start_time: _timestamp_pb2.Timestamp
    room: str
    facilitator_id: str
    cancel: bool
    note: str
    def __init__(self, session_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., room: _Optional[str] = ..., facilitator_id: _Optional[str] = ..., cancel: _Optional[bool] = ..., note: _Optional[str] = ...) -> None: ...

class ReassignFacilitatorRequest(_message.Message):
    __slots__ = ("intervention_id", "from_facilitator_id", "to_facilitator_id", "effective_time")
    INTERVENTION_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_FACILITATOR_ID_FIELD_NUMBER: _ClassVar[int]
    TO_FACILITATOR_ID_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    intervention_id: str
    from_facilitator_id: str
    to_facilitator_id: str
    effective_time: _timestamp_pb2.Timestamp
    def __init__(self, intervention_id: _Optional[str] = ..., from_facilitator_id: _Optional[str] = ..., to_facilitator_id: _Optional[str] = ..., effective_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReassignFacilitatorResponse(_message.Message):
    __slots__ = ("sessions_moved", "intervention")
    SESSIONS_MOVED_FIELD_NUMBER: _ClassVar[int]
    INTERVENTION_FIELD_NUMBER: _ClassVar[int]
    sessions_moved: int
    intervention: _resources_pb2.Intervention
    def __init__(self, sessions_moved: _Optional[int] = ..., intervention: _Optional[_Union[_resources_pb2.Intervention, _Mapping]] = ...) -> None: ...

class ScanConflictsRequest(_message.Message):
    __slots__ = ("start_time", "end_time", "kind")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    kind: str
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., kind: _Optional[str] = ...) -> None: ...

class ScanConflictsResponse(_message.Message):
    __slots__ = ("conflicts", "sessions_scanned")
    CONFLICTS_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_SCANNED_FIELD_NUMBER: _ClassVar[int]
    conflicts: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Conflict]
    sessions_scanned: int
    def __init__(self, conflicts: _Optional[_Iterable[_Union[_resources_pb2.Conflict, _Mapping]]] = ..., sessions_scanned: _Optional[int] = ...) -> None: ...

class EnrollStudentsRequest(_message.Message):
    __slots__ = ("intervention_id", "student_ids", "reason", "begin_date")
    INTERVENTION_ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_IDS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    BEGIN_DATE_FIELD_NUMBER: _ClassVar[int]
    intervention_id: str
    student_ids: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    begin_date: str
    def __init__(self, intervention_id: _Optional[str] = ..., student_ids: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ..., begin_date: _Optional[str] = ...) -> None: ...

class EnrollStudentsResponse(_message.Message):
    __slots__ = ("enrollments",)
    ENROLLMENTS_FIELD_NUMBER: _ClassVar[int]
    enrollments: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Enrollment]
    def __init__(self, enrollments: _Optional[_Iterable[_Union[_resources_pb2.Enrollment, _Mapping]]] = ...) -> None: ...

class EnrollFromRiskListRequest(_message.Message):
    __slots__ = ("intervention_id", "csv", "min_risk", "dry_run", "begin_date", "class_id", "max_students")
    INTERVENTION_ID_FIELD_NUMBER: _ClassVar[int]
    CSV_FIELD_NUMBER: _ClassVar[int]
    MIN_RISK_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    BEGIN_DATE_FIELD_NUMBER: _ClassVar[int]
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_STUDENTS_FIELD_NUMBER: _ClassVar[int]
    intervention_id: str
    csv: str
    min_risk: float
    dry_run: bool
    begin_date: str
    class_id: str
    max_students: int
    def __init__(self, intervention_id: _Optional[str] = ..., csv: _Optional[str] = ..., min_risk: _Optional[float] = ..., dry_run: _Optional[bool] = ..., begin_date: _Optional[str] = ..., class_id: _Optional[str] = ..., max_students: _Optional[int] = ...) -> None: ...

class EnrollFromRiskListResponse(_message.Message):
    __slots__ = ("candidates", "enrollments")
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    ENROLLMENTS_FIELD_NUMBER: _ClassVar[int]
    candidates: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Candidate]
    enrollments: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Enrollment]
    def __init__(self, candidates: _Optional[_Iterable[_Union[_resources_pb2.Candidate, _Mapping]]] = ..., enrollments: _Optional[_Iterable[_Union[_resources_pb2.Enrollment, _Mapping]]] = ...) -> None: ...

class WithdrawStudentRequest(_message.Message):
    __slots__ = ("intervention_id", "student_id", "effective_date", "reason")
    INTERVENTION_ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_DATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    intervention_id: str
    student_id: str
    effective_date: str
    reason: str
    def __init__(self, intervention_id: _Optional[str] = ..., student_id: _Optional[str] = ..., effective_date: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RecordAttendanceRequest(_message.Message):
    __slots__ = ("session_id", "records")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    records: _containers.RepeatedCompositeFieldContainer[_resources_pb2.AttendanceRecord]
    def __init__(self, session_id: _Optional[str] = ..., records: _Optional[_Iterable[_Union[_resources_pb2.AttendanceRecord, _Mapping]]] = ...) -> None: ...

class RecordAttendanceResponse(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[_resources_pb2.AttendanceRecord]
    def __init__(self, records: _Optional[_Iterable[_Union[_resources_pb2.AttendanceRecord, _Mapping]]] = ...) -> None: ...

class RecordProgressRequest(_message.Message):
    __slots__ = ("intervention_id", "entry")
    INTERVENTION_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    intervention_id: str
    entry: _resources_pb2.ProgressEntry
    def __init__(self, intervention_id: _Optional[str] = ..., entry: _Optional[_Union[_resources_pb2.ProgressEntry, _Mapping]] = ...) -> None: ...

class GetStudentDashboardRequest(_message.Message):
    __slots__ = ("intervention_id", "student_id")
    INTERVENTION_ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    intervention_id: str
    student_id: str
    def __init__(self, intervention_id: _Optional[str] = ..., student_id: _Optional[str] = ...) -> None: ...

class GetInterventionDashboardRequest(_message.Message):
    __slots__ = ("intervention_id",)
    INTERVENTION_ID_FIELD_NUMBER: _ClassVar[int]
    intervention_id: str
    def __init__(self, intervention_id: _Optional[str] = ...) -> None: ...

class ConfirmExitRequest(_message.Message):
    __slots__ = ("intervention_id", "student_id", "override_reason")
    INTERVENTION_ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_REASON_FIELD_NUMBER: _ClassVar[int]
    intervention_id: str
    student_id: str
    override_reason: str
    def __init__(self, intervention_id: _Optional[str] = ..., student_id: _Optional[str] = ..., override_reason: _Optional[str] = ...) -> None: ...

class LinkCaregiverRequest(_message.Message):
    __slots__ = ("caregiver_id", "student_id")
    CAREGIVER_ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    caregiver_id: str
    student_id: str
    def __init__(self, caregiver_id: _Optional[str] = ..., student_id: _Optional[str] = ...) -> None: ...

class LinkCaregiverResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SendCaregiverMessageRequest(_message.Message):
    __slots__ = ("intervention_id", "student_id", "template")
    INTERVENTION_ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    intervention_id: str
    student_id: str
    template: str
    def __init__(self, intervention_id: _Optional[str] = ..., student_id: _Optional[str] = ..., template: _Optional[str] = ...) -> None: ...

class ListCommunicationsRequest(_message.Message):
    __slots__ = ("student_id",)
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    student_id: str
    def __init__(self, student_id: _Optional[str] = ...) -> None: ...

class ListCommunicationsResponse(_message.Message):
    __slots__ = ("communications",)
    COMMUNICATIONS_FIELD_NUMBER: _ClassVar[int]
    communications: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Communication]
    def __init__(self, communications: _Optional[_Iterable[_Union[_resources_pb2.Communication, _Mapping]]] = ...) -> None: ...

class GetCalendarRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class GetCalendarResponse(_message.Message):
    __slots__ = ("ics", "events")
    ICS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    ics: str
    events: int
    def __init__(self, ics: _Optional[str] = ..., events: _Optional[int] = ...) -> None: ...

class ExportEdFiRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ExportEdFiResponse(_message.Message):
    __slots__ = ("json",)
    JSON_FIELD_NUMBER: _ClassVar[int]
    json: str
    def __init__(self, json: _Optional[str] = ...) -> None: ...

class StreamEdFiExportRequest(_message.Message):
    __slots__ = ("page_size", "resources")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    resources: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, page_size: _Optional[int] = ..., resources: _Optional[_Iterable[str]] = ...) -> None: ...

class EdFiExportPage(_message.Message):
    __slots__ = ("resource", "json", "count")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    resource: str
    json: str
    count: int
    def __init__(self, resource: _Optional[str] = ..., json: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class ImportEdFiRequest(_message.Message):
    __slots__ = ("json",)
    JSON_FIELD_NUMBER: _ClassVar[int]
    json: str
    def __init__(self, json: _Optional[str] = ...) -> None: ...

class ImportEdFiResponse(_message.Message):
    __slots__ = ("interventions", "enrollments", "attendance")
    INTERVENTIONS_FIELD_NUMBER: _ClassVar[int]
    ENROLLMENTS_FIELD_NUMBER: _ClassVar[int]
    ATTENDANCE_FIELD_NUMBER: _ClassVar[int]
    interventions: int
    enrollments: int
    attendance: int
    def __init__(self, interventions: _Optional[int] = ..., enrollments: _Optional[int] = ..., attendance: _Optional[int] = ...) -> None: ...
