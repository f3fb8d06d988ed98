"""ActivityService over gRPC: proto in, one service call, proto out (convert.py). The runtime's
interceptors have already authenticated the caller, checked the RPC's roles and validated the request
against its (buf.validate.field) rules."""

from __future__ import annotations

from learnflow.activity.v1 import activity_service_pb2 as pb
from learnflow.activity.v1 import activity_service_pb2_grpc as pb_grpc
from learnflow.activity.v1 import resources_pb2

from services.activity import convert
from services.activity.service import ActivityService
from services.runtime import request_context

_caller = request_context.require_principal


class ActivityApi(pb_grpc.ActivityServiceServicer):
    def __init__(self, service: ActivityService):
        self.service = service

    async def ListActivityEvents(
        self, request: pb.ListActivityEventsRequest, context: object
    ) -> pb.ListActivityEventsResponse:
        found, token = await self.service.list_events(
            _caller(), convert.filter_from_proto(request), request.page_size, request.page_token
        )
        return pb.ListActivityEventsResponse(
            events=[convert.event_to_proto(e) for e in found], next_page_token=token
        )

    async def ExportForAnalysis(
        self, request: pb.ExportForAnalysisRequest, context: object
    ) -> pb.ExportForAnalysisResponse:
        lease_id, until, found = await self.service.export(
            _caller(), request.batch_size, request.lease_seconds, request.consumer
        )
        return convert.lease_to_proto(lease_id, until, found)

    async def AckExport(self, request: pb.AckExportRequest, context: object) -> pb.AckExportResponse:
        return pb.AckExportResponse(acknowledged=await self.service.ack(_caller(), request.lease_id))

    async def ReplayForAnalysis(
        self, request: pb.ReplayForAnalysisRequest, context: object
    ) -> pb.ReplayForAnalysisResponse:
        replayed = await self.service.replay(
            _caller(), request.first_sequence, request.last_sequence, request.reason
        )
        return pb.ReplayForAnalysisResponse(replayed=replayed)

    async def GetMonitorStatus(
        self, request: pb.GetMonitorStatusRequest, context: object
    ) -> resources_pb2.MonitorStatus:
        return convert.status_to_proto(await self.service.status(_caller()))
