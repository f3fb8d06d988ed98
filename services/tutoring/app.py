"""tutoring's composition root: the model provider (when configured), the calls to the sandbox and
progress, the service and servicer, and one durable consumer per agent.

TUTORING_AGENTS (default "all") chooses which agents a process runs, so each agent can have its own
pods: e.g. `TUTORING_AGENTS=debug` in a deployment that scales on the debug consumer's backlog. Every
process of the context serves the API and fans answers out to its own streams."""

from __future__ import annotations

from dataclasses import replace

from learnflow.tutoring.v1 import tutoring_service_pb2, tutoring_service_pb2_grpc

from services.runtime.contexts import (
    ContextSpec,
    Dependencies,
    DeployTraits,
    Egress,
    Hosted,
    SecretEnv,
    StreamSpec,
)
from services.runtime.events.consumer import ConsumerSpec
from services.runtime.ratelimit import RateLimiter, SharedRateLimiter
from services.runtime.registry import CapabilitySpec
from services.tutoring.agents import Agents
from services.tutoring.api import TutoringApi
from services.tutoring.clients import MeshCalls
from services.tutoring.providers.llm import AGENTS, LlmClient
from services.tutoring.service import Notifier, TutoringService
from services.tutoring.settings import TutoringConfig

SERVICE = tutoring_service_pb2.DESCRIPTOR.services_by_name["TutoringService"].full_name
# Code review runs a student's code and exercises are validated in the sandbox; the concepts agent reads
# the student's mastery level from progress.
SANDBOX, PROGRESS = "sandbox", "progress"

# Written on top of the generated deployment.yaml: how an agent gets pods of its own.
AGENT_PODS_NOTES = (
    "This Deployment runs the API and all agents (" + ",".join(AGENTS) + "). Each agent is a",
    "durable JetStream consumer, so any number of pods bound to it share its requests. To give an agent",
    "pods of its own (scaled on its backlog), copy this Deployment under another name, set",
    "TUTORING_AGENTS=<agent> in its container env, and list the remaining agents on this one.",
    "tests/tutoring/integration/test_tutoring_agents_split.py runs the debug agent apart this way.",
)


async def build(deps: Dependencies) -> Hosted:
    config = deps.settings_for(TutoringConfig)
    chosen, ack_wait = config.agents, config.ack_wait_seconds

    notifier = Notifier(poll_seconds=config.poll_seconds)
    llm = LlmClient(config.llm) if config.llm.enabled else None
    # ResearchTopic goes through the model too when one is configured (service.research).
    limits = SharedRateLimiter(deps.db, "tutoring")
    per_user, per_tenant = config.requests_per_user, config.requests_per_tenant
    service = TutoringService(
        deps.db,
        deps.outbox,
        notifier,
        llm,
        per_user=RateLimiter(limits, per_user, max(3, int(per_user // 3)), "user", "tutoring", "requests"),
        per_tenant=RateLimiter(
            limits, per_tenant, max(20, int(per_tenant // 6)), "tenant", "tutoring", "requests"
        ),
    )
    calls = (
        MeshCalls(deps.workload, deps.address_of(SANDBOX), deps.address_of(PROGRESS))
        if deps.workload is not None
        else None
    )
    agents = Agents(deps.db, service, llm, calls)

    specs = {
        "triage": ConsumerSpec(
            "tutoring-triage",
            "TUTORING",
            "learning.requests",
            agents.apply_triage,
            prepare=agents.last_chance(agents.prepare_triage),
        ),
        "concepts": ConsumerSpec(
            "tutoring-concepts",
            "TUTORING",
            "concepts.requests",
            agents.apply_concepts,
            prepare=agents.last_chance(agents.prepare_concepts),
        ),
        "debug": ConsumerSpec(
            "tutoring-debug",
            "TUTORING",
            "debug.requests",
            agents.apply_debug,
            prepare=agents.last_chance(agents.prepare_debug),
        ),
        "code_review": ConsumerSpec(
            "tutoring-code-review",
            "TUTORING",
            "code.submissions",
            agents.apply_review,
            prepare=agents.last_chance(agents.prepare_review),
        ),
        "exercise": ConsumerSpec(
            "tutoring-exercise",
            "TUTORING",
            "exercise.requests",
            agents.apply_exercise,
            prepare=agents.last_chance(agents.prepare_exercise),
        ),
    }

    async def start_notifier() -> None:
        await notifier.start(deps.nats)

    hosted = Hosted(
        servicers=[(tutoring_service_pb2_grpc.add_TutoringServiceServicer_to_server, TutoringApi(service))],
        # Eight batches in flight per agent: a model call in one does not hold up the next fetch.
        consumers=[replace(specs[a], ack_wait_seconds=ack_wait, in_flight=8) for a in AGENTS if a in chosen],
        on_start=[start_notifier],
        on_stop=[notifier.stop],
    )
    if llm is not None:
        hosted.on_stop.append(llm.close)
    return hosted


CONTEXT = ContextSpec(
    name="tutoring",
    services=(SERVICE,),
    build=build,
    streams=(
        StreamSpec(
            "TUTORING",
            (
                "learning.requests",
                "concepts.requests",
                "debug.requests",
                "code.submissions",
                "exercise.requests",
                "exercise.generated",
                "learning.responses",
                # For interventions (agents.py): a hint given, an unclear question.
                "tutoring.hint_requested",
                "tutoring.question_unclear",
            ),
        ),
    ),
    calls=(SANDBOX, PROGRESS),
    settings=TutoringConfig,
    egress=(Egress(setting="OPENAI_BASE_URL", why="the model provider"),),
    # Without the key the agents answer offline (docs/tutoring.md).
    secrets=(SecretEnv("OPENAI_API_KEY", "learnflow-openai"),),
    deploy=DeployTraits(notes=AGENT_PODS_NOTES),
    # ResearchTopic, registered for the workflows context's research steps (runtime/registry.py).
    capabilities=(
        CapabilitySpec("research", "1.0.0", {"rpc": "learnflow.tutoring.v1.TutoringService/ResearchTopic"}),
        # Through the model only (FAILED_PRECONDITION without one): the pipeline's analysis step.
        CapabilitySpec("analysis", "1.0.0", {"rpc": "learnflow.tutoring.v1.TutoringService/AnalyseResearch"}),
    ),
)
