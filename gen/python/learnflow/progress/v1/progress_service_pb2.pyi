from buf.validate import validate_pb2 as _validate_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from learnflow.auth.v1 import auth_pb2 as _auth_pb2
from learnflow.progress.v1 import resources_pb2 as _resources_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RecordActivityRequest(_message.Message):
    __slots__ = ("activity",)
    ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    activity: _resources_pb2.Activity
    def __init__(self, activity: _Optional[_Union[_resources_pb2.Activity, _Mapping]] = ...) -> None: ...

class RecordActivityResponse(_message.Message):
    __slots__ = ("applied", "mastery")
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    MASTERY_FIELD_NUMBER: _ClassVar[int]
    applied: bool
    mastery: _resources_pb2.TopicMastery
    def __init__(self, applied: _Optional[bool] = ..., mastery: _Optional[_Union[_resources_pb2.TopicMastery, _Mapping]] = ...) -> None: ...

class GetProgressRequest(_message.Message):
    __slots__ = ("student_id",)
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    student_id: str
    def __init__(self, student_id: _Optional[str] = ...) -> None: ...

class ListClassSummariesRequest(_message.Message):
    __slots__ = ("class_id", "page_size", "page_token", "order_by", "on_behalf_of")
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    ON_BEHALF_OF_FIELD_NUMBER: _ClassVar[int]
    class_id: str
    page_size: int
    page_token: str
    order_by: str
    on_behalf_of: str
    def __init__(self, class_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., order_by: _Optional[str] = ..., on_behalf_of: _Optional[str] = ...) -> None: ...

class ListClassSummariesResponse(_message.Message):
    __slots__ = ("summaries", "next_page_token")
    SUMMARIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    summaries: _containers.RepeatedCompositeFieldContainer[_resources_pb2.StudentSummary]
    next_page_token: str
    def __init__(self, summaries: _Optional[_Iterable[_Union[_resources_pb2.StudentSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateClassRequest(_message.Message):
    __slots__ = ()
    CLASS_FIELD_NUMBER: _ClassVar[int]
    def __init__(self, **kwargs) -> None: ...

class GetClassRequest(_message.Message):
    __slots__ = ("class_id",)
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    class_id: str
    def __init__(self, class_id: _Optional[str] = ...) -> None: ...

class ListClassesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListClassesResponse(_message.Message):
    __slots__ = ("classes", "next_page_token")
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    classes: _containers.RepeatedCompositeFieldContainer[_resources_pb2.StudentClass]
    next_page_token: str
    def __init__(self, classes: _Optional[_Iterable[_Union[_resources_pb2.StudentClass, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateClassMembershipRequest(_message.Message):
    __slots__ = ("class_id", "add_student_ids", "remove_student_ids", "add_teacher_ids", "remove_teacher_ids")
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    ADD_STUDENT_IDS_FIELD_NUMBER: _ClassVar[int]
    REMOVE_STUDENT_IDS_FIELD_NUMBER: _ClassVar[int]
    ADD_TEACHER_IDS_FIELD_NUMBER: _ClassVar[int]
    REMOVE_TEACHER_IDS_FIELD_NUMBER: _ClassVar[int]
    class_id: str
    add_student_ids: _containers.RepeatedScalarFieldContainer[str]
    remove_student_ids: _containers.RepeatedScalarFieldContainer[str]
    add_teacher_ids: _containers.RepeatedScalarFieldContainer[str]
    remove_teacher_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, class_id: _Optional[str] = ..., add_student_ids: _Optional[_Iterable[str]] = ..., remove_student_ids: _Optional[_Iterable[str]] = ..., add_teacher_ids: _Optional[_Iterable[str]] = ..., remove_teacher_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class DeleteClassRequest(_message.Message):
    __slots__ = ("class_id",)
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    class_id: str
    def __init__(self, class_id: _Optional[str] = ...) -> None: ...

class DeleteClassResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListStruggleAlertsRequest(_message.Message):
    __slots__ = ("state", "student_id", "page_size", "page_token")
    STATE_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    state: _resources_pb2.AlertState
    student_id: str
    page_size: int
    page_token: str
    def __init__(self, state: _Optional[_Union[_resources_pb2.AlertState, str]] = ..., student_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListStruggleAlertsResponse(_message.Message):
    __slots__ = ("alerts", "next_page_token")
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[_resources_pb2.StruggleAlert]
    next_page_token: str
    def __init__(self, alerts: _Optional[_Iterable[_Union[_resources_pb2.StruggleAlert, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AcknowledgeAlertRequest(_message.Message):
    __slots__ = ("alert_id",)
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    def __init__(self, alert_id: _Optional[str] = ...) -> None: ...

class ResolveAlertRequest(_message.Message):
    __slots__ = ("alert_id",)
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    def __init__(self, alert_id: _Optional[str] = ...) -> None: ...

class ListStudentTeachersRequest(_message.Message):
    __slots__ = ("student_ids",)
    STUDENT_IDS_FIELD_NUMBER: _ClassVar[int]
    student_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, student_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class StudentTeachers(_message.Message):
    __slots__ = ("student_id", "teacher_ids")
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    TEACHER_IDS_FIELD_NUMBER: _ClassVar[int]
    student_id: str
    teacher_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, student_id: _Optional[str] = ..., teacher_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ListStudentTeachersResponse(_message.Message):
    __slots__ = ("students",)
    STUDENTS_FIELD_NUMBER: _ClassVar[int]
    students: _containers.RepeatedCompositeFieldContainer[StudentTeachers]
    def __init__(self, students: _Optional[_Iterable[_Union[StudentTeachers, _Mapping]]] = ...) -> None: ...
