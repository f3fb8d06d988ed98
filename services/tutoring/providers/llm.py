"""The tutoring agents' one door to an OpenAI-compatible chat-completions provider.

Why a wrapper rather than the SDK directly:

* Our retry policy, not the SDK's (`max_retries=0`): attempts, backoff delays and `Retry-After`
  handling are explicit, logged, and testable with an injected `sleep` (no real waiting in tests).
* One failure type, `ProviderUnavailable(reason)`: the caller does not care whether the provider
  timed out or throttled us — it falls back to the offline agent and records `reason`.
* A circuit breaker, so a dead provider costs one fast refusal rather than the whole retry budget.

Without `OPENAI_API_KEY` the layer is disabled and every call raises `ProviderUnavailable("disabled")`
without touching the network: the course runs fully offline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Literal

from services.runtime.breaker import BreakerState, CircuitBreaker
from services.tutoring.providers.settings import AGENTS, LlmSettings, from_env

if TYPE_CHECKING:
    import openai
# The SDK is imported where a client is made (only with OPENAI_API_KEY set): importing it costs about
# 0.9 s of CPU, paid otherwise by every process that loads the tutoring context and never calls a
# model (each `learnflow serve`, the CLI, every test process).

__all__ = [
    "AGENTS",
    "BreakerState",
    "CircuitBreaker",
    "Completion",
    "LlmClient",
    "LlmSettings",
    "LlmStats",
    "ProviderUnavailable",
    "Reason",
    "Usage",
    "from_env",
]

log = logging.getLogger(__name__)

Reason = Literal[
    "circuit_open", "rate_limited", "timeout", "server_error", "bad_response", "disabled", "client_error"
]

# Rejections of this particular request (bad prompt, too large): the provider is healthy, so they
# neither retry nor count toward the breaker. 401/403/404 (key, permission, model or URL wrong) are
# configuration faults that hit every call, so they do count.
_REQUEST_REJECTED = frozenset({400, 413, 422})


@dataclass(frozen=True)
class Usage:
    model: str
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    usage: Usage
    attempts: int


class ProviderUnavailable(Exception):
    """The provider gave no usable answer. `reason` is one of `Reason`; the caller falls back to the
    offline agent and records it. Connection failures (nothing listening, reset) report
    "server_error"; `status` is the last HTTP status seen, if any."""

    def __init__(self, reason: Reason, detail: str = "", *, status: int | None = None, attempts: int = 0):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: Reason = reason
        self.detail = detail
        self.status = status
        self.attempts = attempts


@dataclass
class LlmStats:
    """Plain counters for metrics/diagnostics (no Prometheus dependency here)."""

    calls: int = 0
    successes: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failures: dict[str, int] = field(default_factory=dict)

    def failed(self, reason: str) -> None:
        self.failures[reason] = self.failures.get(reason, 0) + 1


@dataclass(frozen=True)
class _Failure:
    reason: Reason
    status: int | None
    retryable: bool
    retry_after: float | None = None
    detail: str = ""


class LlmClient:
    """One per process, shared by every agent and request (one connection pool, one breaker).

    `clock` drives the breaker and `sleep` the backoff; tests inject both instead of waiting."""

    def __init__(
        self,
        settings: LlmSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ):
        self.settings = settings
        self._sleep = sleep
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_reset_seconds, clock=clock)
        self.stats = LlmStats()
        self._client: openai.AsyncOpenAI | None = None
        if settings.enabled:
            import openai

            self._client = openai.AsyncOpenAI(
                base_url=settings.base_url,
                api_key=settings.api_key,
                timeout=settings.timeout_seconds,
                max_retries=0,
            )

    def model_for(self, agent: str) -> str:
        try:
            return self.settings.models[agent]
        except KeyError:
            raise ValueError(f"no model configured for agent {agent!r}") from None

    async def complete(
        self,
        agent: str,
        messages: list[dict[str, str]],
        *,
        max_tokens: int = 600,
        temperature: float = 0.2,
    ) -> Completion:
        """One chat completion for `agent`, retried on throttling and transient faults.

        Raises ProviderUnavailable; never an SDK exception."""
        model = self.model_for(agent)
        self.stats.calls += 1
        if self._client is None:
            self.stats.failed("disabled")
            raise ProviderUnavailable("disabled", "no OPENAI_API_KEY")
        if not self.breaker.allow():
            self.stats.failed("circuit_open")
            raise ProviderUnavailable("circuit_open", f"{self.breaker.consecutive_failures} failed calls")
        holds_trial = self.breaker.state == "half_open"  # allow() just reserved the one trial call
        try:
            completion = await self._attempts(self._client, agent, model, messages, max_tokens, temperature)
        except ProviderUnavailable as exc:
            self.stats.failed(exc.reason)
            if exc.reason == "client_error" and exc.status in _REQUEST_REJECTED:
                self.breaker.record_success()  # the provider answered; this request was the problem
            else:
                self.breaker.record_failure()
            raise
        except BaseException:
            if holds_trial:  # cancelled mid-trial: no verdict, let the next call try
                self.breaker.release()
            raise
        self.breaker.record_success()
        self.stats.successes += 1
        self.stats.prompt_tokens += completion.usage.prompt_tokens
        self.stats.completion_tokens += completion.usage.completion_tokens
        return completion

    async def _attempts(
        self,
        client: openai.AsyncOpenAI,
        agent: str,
        model: str,
        messages: list[dict[str, str]],
        max_tokens: int,
        temperature: float,
    ) -> Completion:
        import openai  # imported already: the client exists

        attempt = 0
        while True:
            attempt += 1
            try:
                response = await client.chat.completions.create(
                    model=model,
                    messages=messages,  # type: ignore[arg-type]
                    max_tokens=max_tokens,
                    temperature=temperature,
                )
            except openai.APIError as exc:
                failure = _classify(exc)
            else:
                return _completion(response, model, attempt)
            if not failure.retryable or attempt >= self.settings.max_attempts:
                raise ProviderUnavailable(
                    failure.reason, failure.detail, status=failure.status, attempts=attempt
                )
            delay = self._delay(attempt, failure.retry_after)
            log.warning(
                "llm call failed, retrying",
                extra={
                    "agent": agent,
                    "model": model,
                    "attempt": attempt,
                    "status": failure.status,
                    "reason": failure.reason,
                    "delay": delay,
                },
            )
            self.stats.retries += 1
            await self._sleep(delay)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Deterministic exponential backoff (no jitter), or the server's Retry-After; both capped."""
        s = self.settings
        wanted = retry_after if retry_after is not None else s.backoff_base_seconds * 2 ** (attempt - 1)
        return max(0.0, min(s.backoff_max_seconds, wanted))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


def _classify(exc: openai.APIError) -> _Failure:
    import openai  # imported already: `exc` is one of its errors

    if isinstance(exc, openai.APITimeoutError):
        return _Failure("timeout", None, True, detail="request timed out")
    if isinstance(exc, openai.APIConnectionError):
        return _Failure("server_error", None, True, detail=f"connection failed: {exc.__cause__ or exc}")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = f"HTTP {status}: {exc.message}"
        if status == 429:
            return _Failure("rate_limited", status, True, _retry_after(exc.response.headers), detail)
        if status == 408:
            return _Failure("timeout", status, True, detail=detail)
        if status == 409 or status >= 500:
            return _Failure("server_error", status, True, _retry_after(exc.response.headers), detail)
        return _Failure("client_error", status, False, detail=detail)
    # Any other SDK error (e.g. a response that failed validation): the provider misbehaved.
    return _Failure("bad_response", None, False, detail=str(exc))


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from `retry-after-ms` (OpenAI) or `Retry-After` (seconds or an HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return float(raw_ms) / 1000.0
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(raw).timestamp() - time.time()
    except (TypeError, ValueError):
        return None


def _completion(response: Any, requested_model: str, attempts: int) -> Completion:
    """Pulls text and usage out defensively: compatible servers are not always faithful."""
    try:
        text = response.choices[0].message.content
    except (AttributeError, IndexError, KeyError, TypeError):
        text = None
    if not isinstance(text, str) or not text.strip():
        raise ProviderUnavailable("bad_response", "no message content in the response", attempts=attempts)
    model = getattr(response, "model", None) or requested_model
    usage = getattr(response, "usage", None)
    prompt_tokens = getattr(usage, "prompt_tokens", 0) or 0
    completion_tokens = getattr(usage, "completion_tokens", 0) or 0
    return Completion(
        text=text,
        model=model,
        usage=Usage(model=model, prompt_tokens=int(prompt_tokens), completion_tokens=int(completion_tokens)),
        attempts=attempts,
    )
