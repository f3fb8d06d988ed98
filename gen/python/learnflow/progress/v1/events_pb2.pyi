from learnflow.progress.v1 import resources_pb2 as _resources_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ActivityRecorded(_message.Message):
    __slots__ = ("activity",)
    ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    activity: _resources_pb2.Activity
    def __init__(self, activity: _Optional[_Union[_resources_pb2.Activity, _Mapping]] = ...) -> None: ...

class StruggleDetected(_message.Message):
    __slots__ = ("alert", "teacher_ids")
    ALERT_FIELD_NUMBER: _ClassVar[int]
    TEACHER_IDS_FIELD_NUMBER: _ClassVar[int]
    alert: _resources_pb2.StruggleAlert
    teacher_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, alert: _Optional[_Union[_resources_pb2.StruggleAlert, _Mapping]] = ..., teacher_ids: _Optional[_Iterable[str]] = ...) -> None: ...
