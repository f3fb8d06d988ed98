"""tutoring's settings, declared (services/runtime/settings.py): which agents a process runs, how it
waits, and the model provider's (providers/settings.py). Read at start with every other context's and
listed by `learnflow settings`. Where the sandbox and progress are (SANDBOX_SERVICE_ADDR,
PROGRESS_SERVICE_ADDR) follows from ContextSpec.calls."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.runtime.settings import EnvReader, Setting, custom, group, number
from services.tutoring.providers.settings import AGENTS, LlmSettings


def _agents(r: EnvReader, setting: Setting, values: Mapping[str, Any]) -> tuple[str, ...]:
    raw = r.string(setting.env, "all")
    chosen = AGENTS if raw.strip() == "all" else tuple(a.strip() for a in raw.split(",") if a.strip())
    unknown = sorted(set(chosen) - set(AGENTS))
    if unknown:
        r.problems.append(
            f"{setting.env}={raw!r}: unknown {', '.join(unknown)}; choose all or of {', '.join(AGENTS)}"
        )
    return tuple(a for a in AGENTS if a in chosen)


@dataclass(frozen=True)
class TutoringConfig:
    agents: tuple[str, ...] = custom(
        "TUTORING_AGENTS",
        AGENTS,
        "the agents this process runs, so an agent can have pods of its own",
        _agents,
        default_text="all",
        bounds="all, or a comma list of " + ", ".join(AGENTS),
    )
    poll_seconds: float = number(
        "TUTORING_STREAM_POLL_SECONDS",
        2.0,
        "how often an answer stream looks for new answers",
        min=0.05,
        max=60.0,
    )
    # A killed agent's requests come back after this; live agents extend it while they work.
    ack_wait_seconds: float = number(
        "TUTORING_ACK_WAIT_SECONDS",
        30.0,
        "how long a delivered request may go unacknowledged before JetStream redelivers it",
        min=1.0,
        max=600.0,
    )
    # Each question, submission or exercise request is a model call (or several) paid for by the
    # deployment: a person's are limited per person, and a tenant's in all, across every replica.
    requests_per_user: float = number(
        "TUTORING_REQUESTS_PER_USER_PER_MINUTE",
        20,
        "questions, code submissions and exercise requests a person may send a minute (burst: a third)",
        min=1,
        max=100_000,
    )
    requests_per_tenant: float = number(
        "TUTORING_REQUESTS_PER_TENANT_PER_MINUTE",
        1200,
        "the same for a whole tenant (burst: a sixth)",
        min=1,
        max=1_000_000,
    )
    llm: LlmSettings = group(LlmSettings)  # noqa: RUF009 (a field(default_factory=...), like the others)
