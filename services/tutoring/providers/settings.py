"""Settings of the tutoring AI provider, read from the environment once at start.

Why per-agent models: triage is a cheap classification and should use a small fast model, while
code review or exercise generation may justify a stronger one; `TUTORING_MODEL` sets them all and
`TUTORING_MODEL_<AGENT>` overrides one. A misspelt override is reported rather than silently ignored.
Like every context's settings, they are declared as data (services/runtime/settings.py): all problems
are collected and reported together, and `learnflow settings` lists them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from services.runtime.settings import EnvReader, Setting, custom, integer, number, read, text, url

AGENTS: tuple[str, ...] = ("triage", "concepts", "debug", "code_review", "exercise")
DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o-mini"


def _models(r: EnvReader, setting: Setting, values: Mapping[str, Any]) -> Mapping[str, str]:
    """TUTORING_MODEL for every agent, TUTORING_MODEL_<AGENT> for one; a misspelt agent is a problem."""
    default_model = _model(r, setting.env, DEFAULT_MODEL)
    models = {a: _model(r, f"{setting.env}_{a.upper()}", default_model) for a in AGENTS}
    known = {f"{setting.env}_{a.upper()}" for a in AGENTS}
    for name in sorted(r.env):
        if name.startswith(f"{setting.env}_") and name not in known:
            r.problems.append(
                f"{name}: unknown agent; per-agent models are " + ", ".join(sorted(known, key=_agent_order))
            )
    return MappingProxyType(models)


def _agent_order(name: str) -> int:
    return [f"TUTORING_MODEL_{a.upper()}" for a in AGENTS].index(name)


@dataclass(frozen=True)
class LlmSettings:
    """Where the provider is and how patiently we call it. Declared settings (services/runtime/settings.py):
    read at start with tutoring's other settings (TutoringConfig.llm), or alone with `from_env`."""

    base_url: str = url(
        "OPENAI_BASE_URL",
        DEFAULT_BASE_URL,
        "the OpenAI-compatible API, including /v1",
        schemes=("https", "http"),
    )
    api_key: str = text(
        "OPENAI_API_KEY", "", "the provider's API key; empty: the agents answer offline", secret=True
    )
    models: Mapping[str, str] = custom(
        "TUTORING_MODEL",
        dict.fromkeys(AGENTS, DEFAULT_MODEL),
        "the model of every agent; TUTORING_MODEL_<AGENT> (" + ", ".join(a.upper() for a in AGENTS) + ") "
        "overrides one agent's",
        _models,
        default_text=DEFAULT_MODEL,
    )
    timeout_seconds: float = number(
        "TUTORING_LLM_TIMEOUT_SECONDS", 10.0, "time a model call may take", min=0.1, max=600.0
    )
    max_attempts: int = integer("TUTORING_LLM_MAX_ATTEMPTS", 3, "attempts per model call", min=1, max=10)
    backoff_base_seconds: float = 0.25
    backoff_max_seconds: float = 4.0
    breaker_failures: int = integer(
        "TUTORING_LLM_BREAKER_FAILURES", 5, "failures in a row that open the circuit breaker", min=1, max=1000
    )
    breaker_reset_seconds: float = number(
        "TUTORING_LLM_BREAKER_RESET_SECONDS", 30.0, "how long the open breaker waits before a trial call",
        min=0.0, max=3600.0,
    )  # fmt: skip

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.breaker_failures < 1:
            raise ValueError("breaker_failures must be at least 1")

    @property
    def enabled(self) -> bool:
        """False without an API key: the agents run offline."""
        return bool(self.api_key.strip())

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LlmSettings:
        """Reads the tutoring provider variables; every problem is reported together (SettingsError)."""
        return read(cls, env)


from_env = LlmSettings.from_env


def _model(r: EnvReader, name: str, default: str) -> str:
    model = r.string(name, default).strip()
    if not model:
        r.problems.append(f"{name}: the model name must not be blank")
    return model or default
