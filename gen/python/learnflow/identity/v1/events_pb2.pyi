from learnflow.identity.v1 import resources_pb2 as _resources_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TenantCreated(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: _resources_pb2.Tenant
    def __init__(self, tenant: _Optional[_Union[_resources_pb2.Tenant, _Mapping]] = ...) -> None: ...

class UserCreated(_message.Message):
    __slots__ = ("user",)
    USER_FIELD_NUMBER: _ClassVar[int]
    user: _resources_pb2.User
    def __init__(self, user: _Optional[_Union[_resources_pb2.User, _Mapping]] = ...) -> None: ...

class UserUpdated(_message.Message):
    __slots__ = ("user", "changed_fields")
    USER_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELDS_FIELD_NUMBER: _ClassVar[int]
    user: _resources_pb2.User
    changed_fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, user: _Optional[_Union[_resources_pb2.User, _Mapping]] = ..., changed_fields: _Optional[_Iterable[str]] = ...) -> None: ...

class SigningKeyRotated(_message.Message):
    __slots__ = ("new_kid",)
    NEW_KID_FIELD_NUMBER: _ClassVar[int]
    new_kid: str
    def __init__(self, new_kid: _Optional[str] = ...) -> None: ...
