"""LlmClient with the real `openai` SDK against a real local HTTP server (FakeOpenAI): retries,
Retry-After, timeouts, client errors and the circuit breaker, with an injected sleep and clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from services.runtime.local.procs import free_port
from services.tutoring.providers import Completion, LlmClient, LlmSettings, ProviderUnavailable, Usage
from services.tutoring.providers.settings import AGENTS
from services.tutoring.testing.openai_server import Fail, FakeOpenAI, Reply, Stall

KEY = "sk-test-key"
T = TypeVar("T")


class RecordingSleep:
    """Stands in for asyncio.sleep: records the backoff delays instead of waiting them."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as s:
        yield s


def settings(base_url: str, **overrides: Any) -> LlmSettings:
    values: dict[str, Any] = {
        "base_url": base_url,
        "api_key": KEY,
        "models": {a: f"model-{a}" for a in AGENTS},
        "timeout_seconds": 2.0,
        **overrides,
    }
    return LlmSettings(**values)


def run(
    client_settings: LlmSettings,
    scenario: Callable[[LlmClient], Awaitable[T]],
    *,
    sleep: RecordingSleep | None = None,
    clock: Clock | None = None,
) -> T:
    async def main() -> T:
        client = LlmClient(client_settings, sleep=sleep or RecordingSleep(), clock=clock or Clock())
        try:
            return await scenario(client)
        finally:
            await client.close()

    return asyncio.run(main())


def ask(client: LlmClient, text: str = "why does my while loop never stop", agent: str = "debug"):
    return client.complete(
        agent,
        [{"role": "system", "content": "You are a patient Python tutor."}, {"role": "user", "content": text}],
    )


async def reason_of(awaitable: Awaitable[object]) -> ProviderUnavailable:
    with pytest.raises(ProviderUnavailable) as err:
        await awaitable
    return err.value


def test_success_records_text_model_usage_and_request(server: FakeOpenAI):
    server.script(Reply("Check the loop condition.", prompt_tokens=42, completion_tokens=7))
    result = run(settings(server.base_url), lambda c: ask(c, agent="code_review"))
    assert result == Completion(
        text="Check the loop condition.",
        model="model-code_review",
        usage=Usage(model="model-code_review", prompt_tokens=42, completion_tokens=7),
        attempts=1,
    )
    (request,) = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body["model"] == "model-code_review"
    assert request.body["messages"][-1] == {"role": "user", "content": "why does my while loop never stop"}
    assert request.body["max_tokens"] == 600 and request.body["temperature"] == 0.2


def test_default_responder_answers_per_model_and_prompt(server: FakeOpenAI):
    async def scenario(client: LlmClient) -> Completion:
        return await ask(client, "what is a list comprehension exactly", agent="concepts")

    result = run(settings(server.base_url), scenario)
    assert "model-concepts" in result.text and "what is a list comprehension" in result.text
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0


def test_rate_limited_then_success_honours_retry_after(server: FakeOpenAI, caplog: pytest.LogCaptureFixture):
    server.script(Fail(429, retry_after=1.5), Reply("Fine now."))
    sleep = RecordingSleep()
    with caplog.at_level(logging.WARNING, logger="services.tutoring.providers.llm"):
        result = run(settings(server.base_url), ask, sleep=sleep)
    assert result.text == "Fine now." and result.attempts == 2
    assert sleep.delays == [1.5]
    assert len(server.requests) == 2
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert (record.agent, record.attempt, record.status, record.delay) == ("debug", 1, 429, 1.5)


def test_retry_after_is_capped_by_backoff_max(server: FakeOpenAI):
    server.script(Fail(429, retry_after=120), Reply("ok"))
    sleep = RecordingSleep()
    run(settings(server.base_url, backoff_max_seconds=4.0), ask, sleep=sleep)
    assert sleep.delays == [4.0]


def test_server_errors_back_off_exponentially_then_succeed(server: FakeOpenAI):
    server.script(Fail(500), Fail(502), Reply("Third time lucky."))
    sleep = RecordingSleep()
    result = run(settings(server.base_url, backoff_base_seconds=0.25), ask, sleep=sleep)
    assert result.attempts == 3 and result.text == "Third time lucky."
    assert sleep.delays == [0.25, 0.5]


def test_server_errors_exhaust_attempts(server: FakeOpenAI):
    server.script(Fail(503), Fail(503), Fail(503))
    client_settings = settings(server.base_url, max_attempts=3)
    err = run(client_settings, lambda c: reason_of(ask(c)))
    assert (err.reason, err.status, err.attempts) == ("server_error", 503, 3)
    assert len(server.requests) == 3


def test_timeouts_are_retried_then_reported(server: FakeOpenAI):
    server.script(Stall(2.0), Stall(2.0), Stall(2.0))
    sleep = RecordingSleep()
    client_settings = settings(server.base_url, timeout_seconds=0.2, max_attempts=3)
    err = run(client_settings, lambda c: reason_of(ask(c)), sleep=sleep)
    assert (err.reason, err.attempts) == ("timeout", 3)
    assert len(server.requests) == 3
    assert sleep.delays == [0.25, 0.5]


def test_timeout_then_success(server: FakeOpenAI):
    server.script(Stall(2.0), Reply("Sorry for the wait."))
    result = run(settings(server.base_url, timeout_seconds=0.2), ask)
    assert result.attempts == 2 and result.text == "Sorry for the wait."


def test_wrong_key_is_not_retried(server: FakeOpenAI):
    err = run(settings(server.base_url, api_key="sk-wrong"), lambda c: reason_of(ask(c)))
    assert (err.reason, err.status, err.attempts) == ("client_error", 401, 1)
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [400, 403, 404])
def test_other_client_errors_are_not_retried(server: FakeOpenAI, status: int):
    server.script(Fail(status))
    sleep = RecordingSleep()
    err = run(settings(server.base_url), lambda c: reason_of(ask(c)), sleep=sleep)
    assert (err.reason, err.status, err.attempts) == ("client_error", status, 1)
    assert sleep.delays == []


def test_empty_content_is_a_bad_response(server: FakeOpenAI):
    server.script(Reply("   "))
    err = run(settings(server.base_url), lambda c: reason_of(ask(c)))
    assert err.reason == "bad_response"
    assert len(server.requests) == 1


def test_nothing_listening_is_retried_then_reported():
    client_settings = settings(f"http://127.0.0.1:{free_port()}/v1", max_attempts=2)
    sleep = RecordingSleep()
    err = run(client_settings, lambda c: reason_of(ask(c)), sleep=sleep)
    assert (err.reason, err.attempts) == ("server_error", 2)
    assert sleep.delays == [0.25]


def test_disabled_without_key_never_calls_out(server: FakeOpenAI):
    client_settings = settings(server.base_url, api_key="")
    assert not client_settings.enabled
    err = run(client_settings, lambda c: reason_of(ask(c)))
    assert err.reason == "disabled"
    assert server.requests == []


def test_unknown_agent_is_a_programming_error(server: FakeOpenAI):
    with pytest.raises(ValueError, match="no model configured"):
        run(settings(server.base_url), lambda c: ask(c, agent="oracle"))


def test_breaker_opens_refuses_locally_half_opens_and_closes(server: FakeOpenAI):
    clock = Clock()
    client_settings = settings(
        server.base_url, max_attempts=2, breaker_failures=2, breaker_reset_seconds=30.0
    )
    server.script(Fail(500), Fail(500), Fail(500), Fail(500))

    async def scenario(client: LlmClient) -> None:
        # Two failed CALLS (each after its 2 attempts) open the breaker.
        assert (await reason_of(ask(client))).reason == "server_error"
        assert client.breaker.state == "closed"
        assert (await reason_of(ask(client))).reason == "server_error"
        assert client.breaker.state == "open"
        assert len(server.requests) == 4

        # Open: refused at once, the server is not contacted.
        assert (await reason_of(ask(client))).reason == "circuit_open"
        clock.now += 29.0
        assert (await reason_of(ask(client))).reason == "circuit_open"
        assert len(server.requests) == 4

        # Half-open after the reset time: one trial goes out and its success closes the breaker.
        clock.now += 1.0
        assert client.breaker.state == "half_open"
        result = await ask(client)
        assert result.attempts == 1
        assert client.breaker.state == "closed"
        assert len(server.requests) == 5
        assert (await ask(client)).attempts == 1
        assert client.stats.failures == {"server_error": 2, "circuit_open": 2}
        assert client.stats.successes == 2 and client.stats.retries == 2

    run(client_settings, scenario, clock=clock)


def test_failed_half_open_trial_reopens(server: FakeOpenAI):
    clock = Clock()
    client_settings = settings(
        server.base_url, max_attempts=1, breaker_failures=1, breaker_reset_seconds=10.0
    )
    server.script(Fail(502), Fail(502))

    async def scenario(client: LlmClient) -> None:
        assert (await reason_of(ask(client))).reason == "server_error"
        clock.now += 10
        assert (await reason_of(ask(client))).reason == "server_error"  # the trial fails
        assert client.breaker.state == "open"
        assert (await reason_of(ask(client))).reason == "circuit_open"
        assert len(server.requests) == 2

    run(client_settings, scenario, clock=clock)


def test_rejected_requests_do_not_trip_the_breaker(server: FakeOpenAI):
    client_settings = settings(server.base_url, breaker_failures=1)
    server.script(Fail(400, message="This model's maximum context length is exceeded."))

    async def scenario(client: LlmClient) -> None:
        err = await reason_of(ask(client))
        assert (err.reason, err.status) == ("client_error", 400)
        assert client.breaker.state == "closed"
        assert (await ask(client)).attempts == 1

    run(client_settings, scenario)
