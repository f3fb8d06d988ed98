"""InterventionsService over gRPC: proto in, one service call, proto out (convert.py). The runtime's
interceptors have already authenticated the caller, checked the RPC's roles and validated the request
against its (buf.validate.field) rules."""

from __future__ import annotations

from datetime import UTC, datetime

from learnflow.interventions.v1 import interventions_service_pb2 as pb
from learnflow.interventions.v1 import interventions_service_pb2_grpc as pb_grpc
from learnflow.interventions.v1 import resources_pb2

from services.interventions import convert
from services.interventions.domain import backtest
from services.interventions.service import InterventionsService
from services.runtime import request_context

_caller = request_context.require_principal


class InterventionsApi(pb_grpc.InterventionsServiceServicer):
    def __init__(self, service: InterventionsService):
        self.service = service

    async def EvaluateSignal(
        self, request: pb.EvaluateSignalRequest, context: object
    ) -> pb.EvaluateSignalResponse:
        caller = _caller()
        signal, tz, name = convert.signal_from_proto(request.signal, caller.tenant_id, datetime.now(UTC))
        result = await self.service.evaluate_for(caller, signal, tz, name)
        return pb.EvaluateSignalResponse(
            signal_id=result.signal_id, decisions=[convert.decision_to_proto(d) for d in result.decisions]
        )

    async def CheckPolicy(self, request: pb.CheckPolicyRequest, context: object) -> pb.CheckPolicyResponse:
        return convert.check_to_proto(*self.service.check(request.content, request.file_name))

    async def ActivatePolicy(
        self, request: pb.ActivatePolicyRequest, context: object
    ) -> resources_pb2.PolicyVersion:
        caller = _caller()
        version = await self.service.activate(
            caller.tenant_id,
            request.content,
            request.file_name,
            request.author or caller.subject,
            request.reason,
        )
        return convert.version_to_proto(version)

    async def ListPolicyVersions(
        self, request: pb.ListPolicyVersionsRequest, context: object
    ) -> pb.ListPolicyVersionsResponse:
        found, token = await self.service.list_versions(
            _caller().tenant_id, request.policy_id, request.page_size, request.page_token
        )
        return pb.ListPolicyVersionsResponse(
            versions=[convert.version_to_proto(v) for v in found], next_page_token=token
        )

    async def GetPolicyVersion(
        self, request: pb.GetPolicyVersionRequest, context: object
    ) -> resources_pb2.PolicyVersion:
        return convert.version_to_proto(
            await self.service.get_version(_caller().tenant_id, request.policy_id, request.version)
        )

    async def DiffPolicyVersions(
        self, request: pb.DiffPolicyVersionsRequest, context: object
    ) -> pb.DiffPolicyVersionsResponse:
        text, changes = await self.service.diff(
            _caller().tenant_id, request.policy_id, request.from_version, request.to_version
        )
        return convert.diff_to_proto(text, changes)

    async def RollbackPolicy(
        self, request: pb.RollbackPolicyRequest, context: object
    ) -> resources_pb2.PolicyVersion:
        caller = _caller()
        return convert.version_to_proto(
            await self.service.rollback(
                caller.tenant_id, request.policy_id, request.to_version, caller.subject, request.reason
            )
        )

    async def BacktestPolicy(
        self, request: pb.BacktestPolicyRequest, context: object
    ) -> pb.BacktestPolicyResponse:
        caller = _caller()
        report = await self.service.backtest(
            caller.tenant_id,
            request.content,
            request.file_name,
            request.start_time.ToDatetime(tzinfo=UTC),
            request.end_time.ToDatetime(tzinfo=UTC),
        )
        if not caller.has_any("admin", "service"):
            # A teacher tunes the tenant's policies against all of its history, but learns nothing
            # about who the students outside their classes are: the students go by pseudonyms.
            report = backtest.pseudonymous(report)
        return convert.backtest_to_proto(report)

    async def ListDecisions(
        self, request: pb.ListDecisionsRequest, context: object
    ) -> pb.ListDecisionsResponse:
        found, token = await self.service.list_decisions(
            _caller(), request.student_id, request.page_size, request.page_token
        )
        return pb.ListDecisionsResponse(
            decisions=[convert.decision_to_proto(d) for d in found], next_page_token=token
        )
