"""WorkflowsService over gRPC: proto in, one service call, proto out (convert.py). The runtime's
interceptors have already authenticated the caller, checked the RPC's roles and validated the request
against its (buf.validate.field) rules."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from learnflow.workflows.v1 import resources_pb2
from learnflow.workflows.v1 import workflows_service_pb2 as pb
from learnflow.workflows.v1 import workflows_service_pb2_grpc as pb_grpc

from services.runtime import request_context
from services.workflows import convert
from services.workflows.service import WorkflowsService

_caller = request_context.require_principal
RESEARCH_TO_DOCS = "research_to_docs"


class WorkflowsApi(pb_grpc.WorkflowsServiceServicer):
    def __init__(self, service: WorkflowsService):
        self.service = service

    async def TriggerWorkflow(
        self, request: pb.TriggerWorkflowRequest, context: object
    ) -> resources_pb2.WorkflowRun:
        run = await self.service.trigger(
            _caller(), request.template, dict(request.input), request.idempotency_key,
            request_context.correlation_id(),
        )  # fmt: skip
        return convert.run_to_proto(run)

    async def ResearchAndDocument(
        self, request: pb.ResearchAndDocumentRequest, context: object
    ) -> resources_pb2.WorkflowRun:
        given = {"topic": request.topic, **({"difficulty": request.difficulty} if request.difficulty else {})}
        run = await self.service.trigger(
            _caller(), RESEARCH_TO_DOCS, given, request.idempotency_key, request_context.correlation_id()
        )
        return convert.run_to_proto(run)

    async def GetWorkflowRun(
        self, request: pb.GetWorkflowRunRequest, context: object
    ) -> resources_pb2.WorkflowRun:
        return convert.run_to_proto(await self.service.get_run(_caller(), request.run_id))

    async def ListWorkflowRuns(
        self, request: pb.ListWorkflowRunsRequest, context: object
    ) -> pb.ListWorkflowRunsResponse:
        found, token = await self.service.list_runs(
            _caller(),
            request.page_size,
            request.page_token,
            request.template,
            convert.run_status_of(request.status),
        )
        return pb.ListWorkflowRunsResponse(
            runs=[convert.run_to_proto(r) for r in found], next_page_token=token
        )

    async def CancelWorkflowRun(
        self, request: pb.CancelWorkflowRunRequest, context: object
    ) -> resources_pb2.WorkflowRun:
        return convert.run_to_proto(await self.service.cancel(_caller(), request.run_id))

    async def MigrateWorkflowRun(
        self, request: pb.MigrateWorkflowRunRequest, context: object
    ) -> resources_pb2.WorkflowRun:
        moved = await self.service.migrate(_caller(), request.run_id, request.to_version, request.acknowledge)
        return convert.run_to_proto(moved)

    async def WatchWorkflowRun(
        self, request: pb.WatchWorkflowRunRequest, context: object
    ) -> AsyncIterator[resources_pb2.WorkflowRun]:
        stream = self.service.watch(_caller(), request.run_id, request.max_wait_seconds)
        async with contextlib.aclosing(stream):  # type: ignore[type-var]
            async for run in stream:
                yield convert.run_to_proto(run)

    async def ListTemplates(
        self, request: pb.ListTemplatesRequest, context: object
    ) -> pb.ListTemplatesResponse:
        return pb.ListTemplatesResponse(
            templates=[convert.template_to_proto(t) for t in self.service.list_templates()]
        )

    async def GetUsage(self, request: pb.GetUsageRequest, context: object) -> pb.GetUsageResponse:
        rows = await self.service.usage(_caller(), request.from_day, request.to_day, request.user_id)
        return pb.GetUsageResponse(rows=[convert.usage_to_proto(r) for r in rows])

    async def RegisterCapability(
        self, request: pb.RegisterCapabilityRequest, context: object
    ) -> resources_pb2.Capability:
        c = request.capability
        made = await self.service.register(
            _caller(), c.name, c.version, c.context, c.address, c.instance, dict(c.limits)
        )
        return convert.capability_to_proto(made)

    async def Discover(self, request: pb.DiscoverRequest, context: object) -> pb.DiscoverResponse:
        return pb.DiscoverResponse(
            providers=[convert.capability_to_proto(r) for r in self.service.discover(request.capability)]
        )

    async def ListCapabilities(
        self, request: pb.ListCapabilitiesRequest, context: object
    ) -> pb.ListCapabilitiesResponse:
        return pb.ListCapabilitiesResponse(
            capabilities=[convert.capability_to_proto(r) for r in self.service.capabilities()]
        )
