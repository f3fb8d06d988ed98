"""The research capability with a model configured: the real `openai` client against the local
OpenAI-compatible server. The model writes the brief from the sources found offline (they are in its
prompt), its answer's tokens travel with the result, and a model that gives no answer leaves the
grounded, offline result."""

from __future__ import annotations

import asyncio

import pytest

from services.runtime.errors import FailedPrecondition, Unavailable
from services.runtime.request_context import Principal
from services.tutoring.domain import research
from services.tutoring.notifier import Notifier
from services.tutoring.providers.llm import LlmClient, LlmSettings
from services.tutoring.service import TutoringService
from services.tutoring.testing.openai_server import Fail, FakeOpenAI, Reply

CALLER = Principal("workload:workflows", "00000000-0000-0000-0000-000000000001")
ANSWER = (
    "Summary: Comprehensions build lists.\nKey points:\n- They read left to right.\n- They filter with if."
)


def _service(server: FakeOpenAI | None) -> TutoringService:
    if server is None:
        return TutoringService(None, None, Notifier())  # type: ignore[arg-type]
    settings = LlmSettings.from_env(
        {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "k", "TUTORING_MODEL": "brief-model",
         "TUTORING_LLM_MAX_ATTEMPTS": "1"}
    )  # fmt: skip
    # research() touches neither the database nor the outbox.
    return TutoringService(None, None, Notifier(), LlmClient(settings))  # type: ignore[arg-type]


def test_the_model_writes_the_brief_from_the_sources_and_reports_its_tokens() -> None:
    with FakeOpenAI() as server:
        server.script(Reply(ANSWER, prompt_tokens=321, completion_tokens=45))
        found = asyncio.run(_service(server).research(CALLER, "list comprehensions", "beginner", 3))
        (request,) = server.requests
    grounded = research.research("list comprehensions", "beginner", 3)
    assert found.summary == "Comprehensions build lists."
    assert found.key_points == ("They read left to right.", "They filter with if.")
    assert found.sources == grounded.sources and found.sources
    assert (found.produced_by, found.prompt_tokens, found.completion_tokens) == ("brief-model", 321, 45)
    prompt = request.body["messages"][-1]["content"]
    assert "Topic: list comprehensions" in prompt
    assert all(s.ref in prompt for s in grounded.sources if s.excerpt)


def test_no_answer_from_the_model_is_the_offline_result() -> None:
    with FakeOpenAI() as server:
        server.script(Fail(500))
        found = asyncio.run(_service(server).research(CALLER, "list comprehensions", "", 3))
    assert found == research.research("list comprehensions", "", 3)
    assert found.produced_by == "offline" and found.prompt_tokens == found.completion_tokens == 0


def test_an_answer_without_key_points_keeps_the_grounded_ones() -> None:
    grounded = research.research("dictionaries", "", 3)
    found = research.from_model(grounded, "Dictionaries map keys to values.", "m", 10, 5)
    assert found.summary == "Dictionaries map keys to values."
    assert found.key_points == grounded.key_points and found.produced_by == "m"


def test_the_model_analyses_a_brief() -> None:
    with FakeOpenAI() as server:
        server.script(
            Reply("Headline: Comprehensions, briefly\nTakeaways:\n- One\n- Two\n- Three\n- Four", 50, 9),
            Reply("I would rather not."),
            Fail(503),
        )
        service = _service(server)
        found = asyncio.run(service.analyse(CALLER, "comprehensions", "A summary.", "- a\n- b"))
        assert (found.headline, found.takeaways) == ("Comprehensions, briefly", ("One", "Two", "Three"))
        assert (found.produced_by, found.prompt_tokens, found.completion_tokens) == ("brief-model", 50, 9)
        assert "A summary." in server.requests[0].body["messages"][-1]["content"]
        assert research.analysis_from_model("Takeaways:\n- x", "m", 1, 1) is None
        with pytest.raises(Unavailable):  # an answer without a headline is no analysis
            asyncio.run(service.analyse(CALLER, "comprehensions", "A summary.", ""))
        with pytest.raises(Unavailable):
            asyncio.run(service.analyse(CALLER, "comprehensions", "A summary.", ""))
    with pytest.raises(FailedPrecondition):  # no model: the caller analyses offline
        asyncio.run(_service(None).analyse(CALLER, "comprehensions", "A summary.", ""))
