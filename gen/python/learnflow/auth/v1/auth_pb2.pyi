from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_STUDENT: _ClassVar[Role]
    ROLE_TEACHER: _ClassVar[Role]
    ROLE_FACILITATOR: _ClassVar[Role]
    ROLE_MENTOR: _ClassVar[Role]
    ROLE_CAREGIVER: _ClassVar[Role]
    ROLE_ADMIN: _ClassVar[Role]
    ROLE_OPERATOR: _ClassVar[Role]
    ROLE_SERVICE: _ClassVar[Role]
ROLE_UNSPECIFIED: Role
ROLE_STUDENT: Role
ROLE_TEACHER: Role
ROLE_FACILITATOR: Role
ROLE_MENTOR: Role
ROLE_CAREGIVER: Role
ROLE_ADMIN: Role
ROLE_OPERATOR: Role
ROLE_SERVICE: Role
RULE_FIELD_NUMBER: _ClassVar[int]
rule: _descriptor.FieldDescriptor

class AuthRule(_message.Message):
    __slots__ = ("public", "roles", "internal")
    PUBLIC_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_FIELD_NUMBER: _ClassVar[int]
    public: bool
    roles: _containers.RepeatedScalarFieldContainer[Role]
    internal: bool
    def __init__(self, public: _Optional[bool] = ..., roles: _Optional[_Iterable[_Union[Role, str]]] = ..., internal: _Optional[bool] = ...) -> None: ...
