"""tutoring's composition root: the model provider (when configured), the calls to the sandbox and
progress, the service and servicer, and one durable consumer per agent.

TUTORING_AGENTS (default "all") chooses which agents a process runs, so each agent can have its own
pods: e.g. `TUTORING_AGENTS=debug` in a deployment that scales on the debug consumer's backlog. Every
process of the context serves the API and fans answers out to its own streams."""

from __future__ import annotations

from dataclasses import replace

from learnflow.tutoring.v1 import tutoring_service_pb2, tutoring_service_pb2_grpc

from services.runtime.contexts import ContextSpec, Dependencies, Hosted, StreamSpec
from services.runtime.events.consumer import ConsumerSpec
from services.runtime.settings import EnvReader
from services.tutoring.agents import Agents
from services.tutoring.api import TutoringApi
from services.tutoring.clients import MeshCalls
from services.tutoring.providers.llm import AGENTS, LlmClient, LlmSettings
from services.tutoring.service import Notifier, TutoringService

SERVICE = tutoring_service_pb2.DESCRIPTOR.services_by_name["TutoringService"].full_name


async def build(deps: Dependencies) -> Hosted:
    r = EnvReader(deps.settings.env)
    raw = r.string("TUTORING_AGENTS", "all")
    chosen = AGENTS if raw.strip() == "all" else tuple(a.strip() for a in raw.split(",") if a.strip())
    unknown = sorted(set(chosen) - set(AGENTS))
    if unknown:
        r.problems.append(
            f"TUTORING_AGENTS={raw!r}: unknown {', '.join(unknown)}; choose all or of {', '.join(AGENTS)}"
        )
    sandbox_addr = r.addr("SANDBOX_SERVICE_ADDR", deps.settings.self_addr)
    progress_addr = r.addr("PROGRESS_SERVICE_ADDR", deps.settings.self_addr)
    poll = r.number("TUTORING_STREAM_POLL_SECONDS", 2.0, min=0.05, max=60.0)
    # How long a delivered request may go unacknowledged before JetStream redelivers it (a killed
    # agent's requests come back after this); live agents extend it while they work.
    ack_wait = r.number("TUTORING_ACK_WAIT_SECONDS", 30.0, min=1.0, max=600.0)
    llm_settings = LlmSettings.from_env(deps.settings.env)
    r.check()

    notifier = Notifier(poll_seconds=poll)
    service = TutoringService(deps.db, deps.outbox, notifier)
    llm = LlmClient(llm_settings) if llm_settings.enabled else None
    calls = MeshCalls(deps.workload, sandbox_addr, progress_addr) if deps.workload is not None else None
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
            ),
        ),
    ),
)
