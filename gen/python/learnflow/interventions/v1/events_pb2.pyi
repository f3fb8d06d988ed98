from learnflow.interventions.v1 import resources_pb2 as _resources_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InterventionDecided(_message.Message):
    __slots__ = ("decision",)
    DECISION_FIELD_NUMBER: _ClassVar[int]
    decision: _resources_pb2.Decision
    def __init__(self, decision: _Optional[_Union[_resources_pb2.Decision, _Mapping]] = ...) -> None: ...

class PolicyActivated(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: _resources_pb2.PolicyVersion
    def __init__(self, version: _Optional[_Union[_resources_pb2.PolicyVersion, _Mapping]] = ...) -> None: ...
