"""The usage ledger and the limits: every run, step and third-party request recorded once per attempt
with its outcome, summing to what the provider actually received; the model tokens research spent,
summing to what the model server reported; the per-user rate limit and the daily token limit answered
with 429 and Retry-After."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter

from services.runtime.local.mesh import LocalMesh
from services.runtime.testing import login, new_student, rest
from services.workflows.testing.notion_server import LocalNotion, Received
from tests.workflows.conftest import COSTLY, MODEL, USER_DAILY_TOKENS, USER_LIMIT, ResearchModel
from tests.workflows.integration.test_workflows_api import trigger, wait_done


def _key(properties: dict[str, object]) -> str:
    value = properties.get("LearnFlow key") or {}
    return "".join(t["text"]["content"] for t in value.get("rich_text", []))  # type: ignore[union-attr]


def usage(mesh: LocalMesh, token: str, user: str = "me") -> list[dict[str, object]]:
    got = rest(mesh, "GET", f"/v1/workflows/usage?userId={user}", token=token)
    assert got.status == 200, got.body
    return list(got.body.get("rows", []))


def test_usage_sums_match_the_calls_made(wf_mesh: LocalMesh, notion: LocalNotion) -> None:
    user = new_student(wf_mesh)
    before = len(notion.received)
    notion.fail_next(2, status=503)  # a failed request is a call made too: recorded, with its outcome
    runs = [
        trigger(
            wf_mesh, user["token"], {"template": "research_to_docs", "input": {"topic": f"slicing {i}"}}
        ).body
        for i in range(3)
    ]
    for run in runs:
        assert wait_done(wf_mesh, user["token"], run["runId"])["status"] == "RUN_STATUS_SUCCEEDED"
    # The requests made for these runs (another test's late request may arrive meanwhile): by the
    # step key a page and a query carry, and by the page id an append names.
    ids = {r["runId"] for r in runs}
    pages = {p.id for p in list(notion.pages.values()) if _key(p.properties).split("/")[0] in ids}

    def ours(r: Received) -> bool:
        body = json.dumps(r.body or {})
        return any(i in body for i in ids) or any(p in r.path for p in pages)

    received = [r for r in notion.received[before:] if ours(r)]
    assert len(received) >= 3 * 2 + 2
    rows = usage(wf_mesh, user["token"])
    calls = Counter()
    for r in rows:
        if r["kind"] == "third_party_call":
            calls[r["outcome"]] += int(r["count"])
    assert sum(calls.values()) == len(received)
    assert calls["http_503"] == sum(1 for r in received if r.status == 503) == 2
    assert calls["ok"] == sum(1 for r in received if r.status < 400)
    runs_started = sum(int(r["count"]) for r in rows if r["kind"] == "run" and r["outcome"] == "started")
    runs_ok = sum(int(r["count"]) for r in rows if r["kind"] == "run" and r["outcome"] == "succeeded")
    steps_ok = sum(int(r["count"]) for r in rows if r["kind"] == "step" and r["outcome"] == "ok")
    # At least one ok attempt a step (an attempt that outlived its timeout and was retried counts too).
    assert runs_started == runs_ok == 3 and steps_ok >= 6
    assert all(r["userId"] == user["id"] for r in rows)
    # A student reads only their own; the admin reads anyone's in the tenant.
    assert rest(wf_mesh, "GET", "/v1/workflows/usage", token=user["token"]).status == 403
    admin = login(wf_mesh, "admin@demo.test")
    assert usage(wf_mesh, admin, user["id"]) == rows
    bad = rest(wf_mesh, "GET", "/v1/workflows/usage?userId=me&fromDay=yesterday", token=user["token"])
    assert bad.status == 400


def test_runs_per_user_are_rate_limited_with_retry_after(wf_mesh: LocalMesh) -> None:
    user = new_student(wf_mesh)
    made = [
        trigger(wf_mesh, user["token"], {"template": "research_to_docs", "input": {"topic": f"loops {i}"}})
        for i in range(USER_LIMIT)
    ]
    assert [m.status for m in made] == [200] * USER_LIMIT
    refused = trigger(
        wf_mesh, user["token"], {"template": "research_to_docs", "input": {"topic": "one more"}}
    )
    assert refused.status == 429, refused.body
    assert 1 <= int(refused.headers["retry-after"]) <= 3600 // USER_LIMIT + 1
    # A repeated idempotency key is not a new run: it is answered even when the limit is spent.
    other = new_student(wf_mesh)
    assert (
        trigger(wf_mesh, other["token"], {"template": "research_to_docs", "input": {"topic": "x"}}).status
        == 200
    )
    for m in made:
        wait_done(wf_mesh, user["token"], m.body["runId"])
    time.sleep(0)  # the runs above finish; nothing else to wait for


def test_model_tokens_reach_the_ledger_and_its_limit(wf_mesh: LocalMesh, model: ResearchModel) -> None:
    """Research goes through the model; the tokens the model server reported for the run's prompts are
    the ledger's model_tokens, prompt and completion apart; over the user's daily limit, the next
    trigger is 429 with Retry-After while another user of the tenant is still served."""
    user = new_student(wf_mesh)
    topic = f"generators {COSTLY} {uuid.uuid4().hex[:6]}"
    made = trigger(wf_mesh, user["token"], {"template": "research_to_docs", "input": {"topic": topic}})
    assert made.status == 200, made.body
    done = wait_done(wf_mesh, user["token"], made.body["runId"])
    assert done["status"] == "RUN_STATUS_SUCCEEDED", done
    research = done["steps"][0]["output"]
    assert research["produced_by"] == MODEL and topic in research["summary"], research
    assert "_model_tokens" not in research  # the ledger's, not an output a template could read
    reported = model.reported_for(topic)
    assert len(reported) == 1, reported
    rows = usage(wf_mesh, user["token"])
    tokens = {r["subject"]: int(r["units"]) for r in rows if r["kind"] == "model_tokens"}
    assert tokens == {
        f"{MODEL}/prompt": sum(r.prompt_tokens for r in reported),
        f"{MODEL}/completion": sum(r.completion_tokens for r in reported),
    }
    assert sum(tokens.values()) > USER_DAILY_TOKENS
    refused = trigger(wf_mesh, user["token"], {"template": "research_to_docs", "input": {"topic": "more"}})
    assert refused.status == 429, refused.body
    assert "model tokens" in refused.body["message"] and int(refused.headers["retry-after"]) >= 1
    other = new_student(wf_mesh)
    again = trigger(wf_mesh, other["token"], {"template": "research_to_docs", "input": {"topic": "sets"}})
    assert again.status == 200, again.body
    wait_done(wf_mesh, other["token"], again.body["runId"])
