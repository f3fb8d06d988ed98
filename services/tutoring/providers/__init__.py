"""AI providers for the tutoring agents: an OpenAI-compatible chat client with our own retry policy,
circuit breaker and a single failure type, so callers can always fall back to the offline agents."""

from services.runtime.breaker import CircuitBreaker
from services.tutoring.providers.llm import (
    Completion,
    LlmClient,
    LlmSettings,
    ProviderUnavailable,
    Usage,
    from_env,
)

__all__ = [
    "CircuitBreaker",
    "Completion",
    "LlmClient",
    "LlmSettings",
    "ProviderUnavailable",
    "Usage",
    "from_env",
]
