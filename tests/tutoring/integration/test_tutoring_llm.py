"""tutoring with a model configured: the real `openai` client against a local OpenAI-compatible HTTP
server (services/tutoring/testing/openai_server.py). The hint ladder still holds; 429s are retried;
a model that times out or leaks the solution in hint mode is replaced by the offline answer; tokens
are recorded per tenant; a consumer killed while the model is thinking loses nothing and answers once."""

from __future__ import annotations

import os
import signal
import time

import psycopg
import pytest

from services.runtime.testing import new_student, rest, running_mesh
from services.tutoring.testing.openai_server import Fail, FakeOpenAI, Reply, Stall

LOOP = "i = 0\nwhile i < 10:\n    print(i)\n"
LEAK = "Here is the answer:\n```python\ni = 0\nwhile i < 10:\n    print(i)\n    i += 1\n```\n"


@pytest.fixture(scope="module")
def model():
    with FakeOpenAI(api_key="sk-test-key") as server:
        yield server


@pytest.fixture(scope="module")
def llm_mesh(model):
    with running_mesh(
        OPENAI_BASE_URL=model.base_url,
        OPENAI_API_KEY="sk-test-key",
        TUTORING_MODEL="tutor-model",
        TUTORING_LLM_TIMEOUT_SECONDS="1",
        TUTORING_LLM_MAX_ATTEMPTS="2",
        TUTORING_ACK_WAIT_SECONDS="3",
    ) as m:
        yield m


def answer(mesh, who, body, timeout: float = 30.0) -> dict:
    asked = rest(mesh, "POST", "/v1/questions", body, token=who["token"])
    assert asked.status == 200, asked.body
    return wait_answer(mesh, who, asked.body, timeout)


def wait_answer(mesh, who, asked: dict, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = rest(
            mesh, "GET", f"/v1/conversations/{asked['conversationId']}?pageSize=200", token=who["token"]
        ).body
        replies = [m for m in page["messages"] if m.get("inReplyTo") == asked["id"]]
        if replies:
            return replies[0]
        time.sleep(0.1)
    pytest.fail(f"no answer to {asked['id']} within {timeout} s")


def requests_mentioning(model, text: str) -> int:
    return sum(text in str(r.body.get("messages")) for r in model.requests)


def test_the_ladder_holds_with_a_model_and_the_model_gets_the_grounding(llm_mesh, model):
    pupil = new_student(llm_mesh)
    before = len(model.requests)
    first = answer(llm_mesh, pupil, {"text": "why does my loop never end?", "code": LOOP})
    assert first["provider"] == "openai:tutor-model"
    assert first["hint"]["rung"] == "HINT_RUNG_LOCATE" and not first.get("code")
    asked = model.requests[before:]
    assert asked and "Say only WHERE to look" in str(asked[-1].body["messages"])
    assert asked[-1].headers["authorization"] == "Bearer sk-test-key"
    cid = first.get("conversationId")
    second = answer(
        llm_mesh, pupil, {"text": "why does my loop never end?", "code": LOOP, "conversationId": cid}
    )
    assert second["hint"]["rung"] == "HINT_RUNG_EXPLAIN" and not second.get("code")
    third = answer(
        llm_mesh, pupil, {"text": "why does my loop never end?", "code": LOOP, "conversationId": cid}
    )
    assert third["hint"]["rung"] == "HINT_RUNG_FIX" and "i += 1" in third["code"]


def test_triage_asks_the_model_only_when_its_rules_are_unsure(llm_mesh, model):
    pupil = new_student(llm_mesh)
    before = len(model.requests)
    sure = answer(llm_mesh, pupil, {"text": "why does my loop never end?", "code": LOOP})
    assert not any("Classify a student's message" in str(r.body["messages"]) for r in model.requests[before:])
    assert sure["triage"]["decidedBy"] == "rules"
    model.script(Reply("exercise"))  # "loop" alone: the rules are unsure (a concept, at 0.45)
    got = answer(llm_mesh, pupil, {"text": "loop"}, timeout=60)
    assert got["agent"] == "exercise" and got["exercise"]["exerciseId"]
    page = rest(llm_mesh, "GET", f"/v1/conversations/{got['conversationId']}", token=pupil["token"]).body
    asked = next(m for m in page["messages"] if m["id"] == got["inReplyTo"])
    assert asked["triage"]["route"] == "ROUTE_EXERCISE"
    assert (
        asked["triage"]["decidedBy"] == "openai:tutor-model"
        and "rules were unsure" in asked["triage"]["reason"]
    )


def test_a_hint_that_leaks_the_solution_is_not_shown(llm_mesh, model):
    pupil = new_student(llm_mesh)
    model.script(Reply(LEAK))
    hint = answer(llm_mesh, pupil, {"text": "why does my loop never end?", "code": LOOP})
    assert hint["hint"]["rung"] == "HINT_RUNG_LOCATE"
    assert "i += 1" not in hint["text"]
    assert "solution" in hint["provider"]  # "(solution code removed)" or "offline (model answer refused ...)"


def test_a_hint_that_states_the_fix_inline_is_not_shown(llm_mesh, model):
    pupil = new_student(llm_mesh)
    model.script(Reply("You need to add `i += 1` inside the loop."))
    hint = answer(llm_mesh, pupil, {"text": "why does my loop never end?", "code": LOOP})
    assert hint["hint"]["rung"] == "HINT_RUNG_LOCATE"
    assert "i += 1" not in hint["text"]
    assert hint["provider"].startswith("offline (model answer refused")


def test_a_429_is_retried_and_the_answer_still_comes_from_the_model(llm_mesh, model):
    pupil = new_student(llm_mesh)
    model.script(Fail(429, retry_after=0.1), Reply("Look at how the loop variable changes."))
    got = answer(llm_mesh, pupil, {"text": "why does my loop never end?", "code": LOOP})
    assert got["provider"] == "openai:tutor-model"
    assert got["text"] == "Look at how the loop variable changes."


def test_a_model_that_times_out_falls_back_to_the_offline_agent(llm_mesh, model):
    pupil = new_student(llm_mesh)
    model.script(Stall(3), Stall(3))
    got = answer(llm_mesh, pupil, {"text": "why does my loop never end?", "code": LOOP})
    assert got["provider"] == "offline (fallback: timeout)"
    assert got["hint"]["rung"] == "HINT_RUNG_LOCATE" and "while" in got["text"]


def test_token_usage_is_recorded_per_tenant(llm_mesh, model):
    pupil = new_student(llm_mesh)
    answer(llm_mesh, pupil, {"text": "What is a dictionary in Python?"})
    url = llm_mesh.migration_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT agent, model, calls, prompt_tokens, completion_tokens FROM tutoring.llm_usage "
            "WHERE tenant_id = %s",
            (pupil["tenant"],),
        ).fetchall()
    by_agent = {r[0]: r for r in rows}
    assert by_agent["concepts"][1] == "tutor-model"
    assert by_agent["concepts"][2] >= 1 and by_agent["concepts"][3] > 0 and by_agent["concepts"][4] > 0


def test_an_agent_killed_while_the_model_thinks_answers_once_after_restart(llm_mesh, model):
    pupil = new_student(llm_mesh)
    # The first call stalls past the client's timeout; the agent is killed meanwhile.
    model.script(Stall(2, then=Reply("killed-run answer")), Reply("answer after the restart"))
    before = len(model.requests)
    asked = rest(
        llm_mesh,
        "POST",
        "/v1/questions",
        {"text": "why does my loop never end?", "code": LOOP},
        token=pupil["token"],
    ).body
    deadline = time.monotonic() + 20
    while len(model.requests) == before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(model.requests) > before, "the debug agent never called the model"
    os.kill(llm_mesh.server.pid, signal.SIGKILL)
    llm_mesh.server.wait(10)
    llm_mesh.start_server()
    got = wait_answer(llm_mesh, pupil, asked, timeout=60)
    assert got["hint"]["rung"] == "HINT_RUNG_LOCATE"
    time.sleep(1.0)  # a duplicate, if any, would have landed by now
    page = rest(llm_mesh, "GET", f"/v1/conversations/{asked['conversationId']}", token=pupil["token"]).body
    assert [m["author"] for m in page["messages"]] == ["AUTHOR_STUDENT", "AUTHOR_TUTOR"]


# --- beyond the offline concept map ------------------------------------------------------------------


def _prompts_since(model, before: int) -> list[str]:
    return [str(r.body.get("messages")) for r in model.requests[before:]]


@pytest.mark.parametrize(
    ("question", "grounding"),
    [
        ("how do decorators work in python?", "pydoc:topics/function"),
        ("explain generators and yield", "pydoc:topics/yield"),
    ],
)
def test_a_question_outside_the_offline_map_goes_to_the_model_grounded_in_the_docs(
    llm_mesh, model, question, grounding
):
    pupil = new_student(llm_mesh)
    before = len(model.requests)
    got = answer(llm_mesh, pupil, {"text": question})
    assert got["agent"] == "concepts" and got["provider"] == "openai:tutor-model", got
    assert got["text"].startswith(
        "[tutor-model] About “Question:"
    )  # the model's words, not the offline map's
    assert grounding in [s["ref"] for s in got["sources"]]
    concept_prompt = next(p for p in _prompts_since(model, before) if "Reference material" in p)
    assert grounding in concept_prompt and "Question: " + question in concept_prompt


def test_what_the_rules_would_call_off_topic_is_judged_by_the_model(llm_mesh, model):
    pupil = new_student(llm_mesh)
    before = len(model.requests)
    model.script(Reply("concept"))  # triage's call; the concepts agent's gets the default reply
    got = answer(llm_mesh, pupil, {"text": "what are wheels and sdists?"})
    prompts = _prompts_since(model, before)
    assert any("Classify a student's message" in p for p in prompts)
    assert got["agent"] == "concepts" and got["provider"] == "openai:tutor-model"
    page = rest(llm_mesh, "GET", f"/v1/conversations/{got['conversationId']}", token=pupil["token"]).body
    asked = next(m for m in page["messages"] if m["id"] == got["inReplyTo"])
    assert asked["triage"]["decidedBy"] == "openai:tutor-model"


def test_a_concept_question_about_buggy_code_is_still_under_the_leak_check(llm_mesh, model):
    pupil = new_student(llm_mesh)
    model.script(Reply(LEAK))
    got = answer(llm_mesh, pupil, {"text": "what does this code do?", "code": LOOP})
    assert got["agent"] == "concepts"
    assert "i += 1" not in got["text"] and "solution" in got["provider"], got


def test_the_model_is_asked_to_answer_in_the_students_language(llm_mesh, model):
    pupil = new_student(llm_mesh)
    before = len(model.requests)
    got = answer(llm_mesh, pupil, {"text": "¿Cómo funcionan los decoradores en Python?"})
    assert got["agent"] == "concepts" and got["provider"] == "openai:tutor-model"
    assert any("wrote in Spanish" in p for p in _prompts_since(model, before))


def test_a_follow_up_without_code_reaches_the_model_with_the_conversations_code(llm_mesh, model):
    pupil = new_student(llm_mesh)
    first = answer(llm_mesh, pupil, {"text": "why does my loop never end?", "code": LOOP})
    before = len(model.requests)
    second = answer(
        llm_mesh, pupil, {"text": "just give me the answer", "conversationId": first["conversationId"]}
    )
    assert second["agent"] == "debug" and second["hint"]["rung"] == "HINT_RUNG_EXPLAIN"
    debug_prompt = next(p for p in _prompts_since(model, before) if "You give hints before solutions" in p)
    assert "while i < 10" in debug_prompt and "No code" in debug_prompt  # rung 2: what is wrong, no fix
