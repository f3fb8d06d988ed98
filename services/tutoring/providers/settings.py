"""Settings of the tutoring AI provider, read from the environment once at start.

Why per-agent models: triage is a cheap classification and should use a small fast model, while
code review or exercise generation may justify a stronger one; `TUTORING_MODEL` sets them all and
`TUTORING_MODEL_<AGENT>` overrides one. A misspelt override is reported rather than silently ignored.
Like every context's settings, all problems are collected by `EnvReader` and reported together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from services.runtime.settings import EnvReader

AGENTS: tuple[str, ...] = ("triage", "concepts", "debug", "code_review", "exercise")
DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o-mini"


@dataclass(frozen=True)
class LlmSettings:
    """Where the provider is and how patiently we call it. Build with `from_env` in production."""

    base_url: str  # includes /v1, e.g. https://api.openai.com/v1
    api_key: str  # "" = offline: the agents answer without a provider
    models: Mapping[str, str]  # agent name → model
    timeout_seconds: float = 10.0
    max_attempts: int = 3
    backoff_base_seconds: float = 0.25
    backoff_max_seconds: float = 4.0
    breaker_failures: int = 5
    breaker_reset_seconds: float = 30.0

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
        r = EnvReader(env)
        base_url = r.url("OPENAI_BASE_URL", ("https", "http"), DEFAULT_BASE_URL)
        api_key = r.env.get("OPENAI_API_KEY", "").strip()
        default_model = _model(r, "TUTORING_MODEL", DEFAULT_MODEL)
        models = {a: _model(r, f"TUTORING_MODEL_{a.upper()}", default_model) for a in AGENTS}
        known = {f"TUTORING_MODEL_{a.upper()}" for a in AGENTS}
        for name in sorted(r.env):
            if name.startswith("TUTORING_MODEL_") and name not in known:
                r.problems.append(
                    f"{name}: unknown agent; per-agent models are "
                    + ", ".join(f"TUTORING_MODEL_{a.upper()}" for a in AGENTS)
                )
        timeout = r.number("TUTORING_LLM_TIMEOUT_SECONDS", 10.0, min=0.1, max=600.0)
        max_attempts = r.integer("TUTORING_LLM_MAX_ATTEMPTS", 3, min=1, max=10)
        breaker_failures = r.integer("TUTORING_LLM_BREAKER_FAILURES", 5, min=1, max=1000)
        breaker_reset = r.number("TUTORING_LLM_BREAKER_RESET_SECONDS", 30.0, min=0.0, max=3600.0)
        r.check()
        return cls(
            base_url=base_url,
            api_key=api_key,
            models=MappingProxyType(models),
            timeout_seconds=timeout,
            max_attempts=max_attempts,
            breaker_failures=breaker_failures,
            breaker_reset_seconds=breaker_reset,
        )


from_env = LlmSettings.from_env


def _model(r: EnvReader, name: str, default: str) -> str:
    model = r.string(name, default).strip()
    if not model:
        r.problems.append(f"{name}: the model name must not be blank")
    return model or default
