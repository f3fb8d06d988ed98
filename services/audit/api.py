"""AuditService over gRPC: proto in, one service call, proto out (convert.py). The runtime's
interceptors have already authenticated the caller, checked the RPC's roles and validated the request
against its (buf.validate.field) rules."""

from __future__ import annotations

from collections.abc import AsyncIterator

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

    async def ListAuditRecords(
        self, request: pb.ListAuditRecordsRequest, context: object
    ) -> pb.ListAuditRecordsResponse:
        found, token = await self.service.list_records(
            _caller(), convert.filter_from_proto(request), request.page_size, request.page_token
        )
        return pb.ListAuditRecordsResponse(
            records=[convert.record_to_proto(r) for r in found], next_page_token=token
        )

    async def GetAuditRecord(
        self, request: pb.GetAuditRecordRequest, context: object
    ) -> resources_pb2.AuditRecord:
        return convert.record_to_proto(await self.service.get_record(_caller(), request.record_id))

    async def VerifyChain(self, request: pb.VerifyChainRequest, context: object) -> pb.VerifyChainResponse:
        verified = await self.service.verify_chain(
            _caller(), request.tenant_id.lower(), request.from_sequence, request.to_sequence
        )
        return convert.verification_to_proto(verified)

    async def ListCheckpoints(
        self, request: pb.ListCheckpointsRequest, context: object
    ) -> pb.ListCheckpointsResponse:
        found, token = await self.service.list_checkpoints(
            _caller(), request.tenant_id.lower(), request.page_size, request.page_token
        )
        return pb.ListCheckpointsResponse(
            checkpoints=[convert.checkpoint_to_proto(c) for c in found], next_page_token=token
        )

    async def ExportAuditRecords(
        self, request: pb.ExportAuditRecordsRequest, context: object
    ) -> AsyncIterator[resources_pb2.AuditRecord]:
        start, end = convert.export_range_from_proto(request)
        async for r in self.service.export(_caller(), start, end):
            yield convert.record_to_proto(r)
