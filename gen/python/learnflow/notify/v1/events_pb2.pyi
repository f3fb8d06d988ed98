from learnflow.notify.v1 import resources_pb2 as _resources_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeliverySent(_message.Message):
    __slots__ = ("delivery",)
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    delivery: _resources_pb2.Delivery
    def __init__(self, delivery: _Optional[_Union[_resources_pb2.Delivery, _Mapping]] = ...) -> None: ...

class DeliveryFailed(_message.Message):
    __slots__ = ("delivery",)
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    delivery: _resources_pb2.Delivery
    def __init__(self, delivery: _Optional[_Union[_resources_pb2.Delivery, _Mapping]] = ...) -> None: ...

class DeliveryRead(_message.Message):
    __slots__ = ("delivery",)
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    delivery: _resources_pb2.Delivery
    def __init__(self, delivery: _Optional[_Union[_resources_pb2.Delivery, _Mapping]] = ...) -> None: ...
