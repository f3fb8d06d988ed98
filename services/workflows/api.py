"""WorkflowsService over gRPC: proto in, one service call, proto out (convert.py). The runtime's
interceptors have already authenticated the caller, checked the RPC's roles and validated the request
against its (buf.validate.field) rules."""

from __future__ import annotations

from learnflow.workflows.v1 import resources_pb2
from learnflow.workflows.v1 import workflows_service_pb2 as pb
from learnflow.workflows.v1 import workflows_service_pb2_grpc as pb_grpc

from services.runtime import request_context
from services.workflows import convert
from services.workflows.service import WorkflowsService

_caller = request_context.require_principal


class WorkflowsApi(pb_grpc.WorkflowsServiceServicer):
    def __init__(self, service: WorkflowsService):
        self.service = service

    async def CreateItem(self, request: pb.CreateItemRequest, context: object) -> resources_pb2.Item:
        return convert.item_to_proto(await self.service.create_item(_caller(), request.item.display_name))

    async def GetItem(self, request: pb.GetItemRequest, context: object) -> resources_pb2.Item:
        return convert.item_to_proto(await self.service.get_item(_caller(), request.item_id))

    async def ListItems(self, request: pb.ListItemsRequest, context: object) -> pb.ListItemsResponse:
        found, token = await self.service.list_items(_caller(), request.page_size, request.page_token)
        return pb.ListItemsResponse(items=[convert.item_to_proto(i) for i in found], next_page_token=token)
