"""workflows's composition root: the Temporal client and worker, the Notion client (or a local Notion
server when none is configured), the registry's watcher, the service and the servicer."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from learnflow.workflows.v1 import workflows_service_pb2, workflows_service_pb2_grpc

from services.runtime.contexts import (
    ContextSpec,
    Dependencies,
    DeployTraits,
    Egress,
    Hosted,
    Periodic,
    SecretEnv,
    StreamSpec,
)
from services.runtime.outbound import OutboundClient, OutboundPolicy
from services.runtime.ratelimit import SharedRateLimiter
from services.runtime.registry import CapabilitySpec
from services.workflows.activities import Activities
from services.workflows.api import WorkflowsApi
from services.workflows.catalog import BUILT_IN, TemplateFolder
from services.workflows.clients import MeshCalls, NotifyCalls
from services.workflows.engine import Engine
from services.workflows.notion import CountingTransport, Notion
from services.workflows.registry import Registry
from services.workflows.service import WorkflowsService
from services.workflows.settings import WorkflowsConfig
from services.workflows.testing.notion_server import LocalNotion

SERVICE = workflows_service_pb2.DESCRIPTOR.services_by_name["WorkflowsService"].full_name
log = logging.getLogger(__name__)


async def build(deps: Dependencies) -> Hosted:
    config = deps.settings_for(WorkflowsConfig)
    assert deps.nats is not None and deps.workload is not None
    on_stop: list[Callable[[], Awaitable[None]]] = []
    notion_url = config.notion_url
    if not notion_url:  # nothing configured: a local Notion in this process (make up, tests)
        local = LocalNotion()
        await local.start(port=config.local_notion_port)
        notion_url = local.url
        on_stop.append(local.stop)
        log.info("local Notion server", extra={"url": notion_url})
    limiter = SharedRateLimiter(deps.db, "workflows")
    # One HTTP attempt per call: creating a page or appending blocks is not idempotent, so a retry
    # must start over from "is the page there already?" (notion.py) — Temporal retries the whole step,
    # with backoff, after the Retry-After Notion gave (activities.py).
    outbound = OutboundClient(
        OutboundPolicy(timeout_seconds=10, attempts=1, max_inline_wait_seconds=0.0),
        limiter=limiter,
        transport=CountingTransport(),
    )
    on_stop.append(outbound.aclose)
    engine = Engine(
        config.temporal_address, config.temporal_namespace, config.task_queue, config.sticky_timeout_seconds
    )
    registry = Registry(deps.nats)
    activities = Activities(
        deps.db,
        deps.outbox,
        MeshCalls(deps.workload),
        registry,
        Notion(outbound, notion_url, config.notion_token),
        {"NOTION_RESEARCH_FOLDER": config.notion_research_folder, "SLACK_CHANNEL": config.slack_channel},
        config.step_attempts,
        NotifyCalls(deps.workload, deps.address_of("notify")),
        config.slack_template,
    )

    async def run_worker() -> None:
        await (
            await engine.worker([activities.run_step, activities.finish_run, activities.record_migration])
        ).run()

    service = WorkflowsService(
        deps.db,
        config,
        TemplateFolder(Path(config.templates_dir) if config.templates_dir else BUILT_IN),
        engine,
        limiter,
        registry,
        deps.settings.registry_ttl,
    )
    return Hosted(
        jobs=[service.start_kind()],
        servicers=[
            (workflows_service_pb2_grpc.add_WorkflowsServiceServicer_to_server, WorkflowsApi(service))
        ],
        # Both run until shutdown; one that fails is logged and run again a second later.
        periodic=[
            Periodic("workflows-registry", 1.0, registry.run),
            Periodic("workflows-worker", 1.0, run_worker),
        ],
        on_stop=on_stop,
    )


CONTEXT = ContextSpec(
    name="workflows",
    services=(SERVICE,),
    build=build,
    streams=(StreamSpec("WORKFLOWS", ("workflows.>",)),),
    calls=("tutoring", "notify"),
    settings=WorkflowsConfig,
    egress=(Egress(host="api.notion.com", why="Notion pages"),),
    secrets=(SecretEnv("WORKFLOWS_NOTION_TOKEN", "learnflow-notion"),),
    # Temporal itself, its UI and the system-health dashboard: deploy/k8s/components/temporal.
    deploy=DeployTraits(config={"TEMPORAL_ADDRESS": "temporal-frontend:7233"}),
    capabilities=(
        CapabilitySpec("workflows.run", "1.0.0", {"runs_per_user_per_hour": "10"}),
        CapabilitySpec("notion.page", "1.0.0", {"requests_per_second": "3"}),
    ),
)
