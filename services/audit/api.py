"""AuditService over gRPC: proto in, one service call, proto out (convert.py). The runtime's
interceptors have already authenticated the caller, checked the RPC's roles and validated the request
against its (buf.validate.field) rules."""

from __future__ import annotations

from learnflow.audit.v1 import audit_service_pb2 as pb
from learnflow.audit.v1 import audit_service_pb2_grpc as pb_grpc
from learnflow.audit.v1 import resources_pb2

from services.audit import convert
from services.audit.service import AuditService
from services.runtime import request_context

_caller = request_context.require_principal


class AuditApi(pb_grpc.AuditServiceServicer):
    def __init__(self, service: AuditService):
        self.service = service

    async def CreateItem(self, request: pb.CreateItemRequest, context: object) -> resources_pb2.Item:
        return convert.item_to_proto(await self.service.create_item(_caller(), request.item.display_name))

    async def GetItem(self, request: pb.GetItemRequest, context: object) -> resources_pb2.Item:
        return convert.item_to_proto(await self.service.get_item(_caller(), request.item_id))

    async def ListItems(self, request: pb.ListItemsRequest, context: object) -> pb.ListItemsResponse:
        found, token = await self.service.list_items(_caller(), request.page_size, request.page_token)
        return pb.ListItemsResponse(items=[convert.item_to_proto(i) for i in found], next_page_token=token)
