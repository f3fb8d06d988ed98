"""The Slack templates end to end through REST: research_to_slack (research -> notify's SendMessage ->
the local Slack webhook) and research_pipeline (research -> analysis by the model -> Notion and Slack
in parallel), with notify's local provider servers standing in for Slack."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from typing import Any

import pytest

from services.runtime.local.mesh import LocalMesh
from services.runtime.testing import login, new_student, rest
from services.workflows.testing.notion_server import LocalNotion
from tests.workflows.conftest import MODEL, ResearchModel
from tests.workflows.integration.test_replay import HISTORIES
from tests.workflows.integration.test_replay import _history as fetch_history
from tests.workflows.integration.test_workflows_api import pages_titled, trigger, wait_done

TEMPLATE = "workflow-research"


@pytest.fixture(scope="module", autouse=True)
def slack_template(wf_mesh: LocalMesh) -> None:
    """The demo tenant's notify template the Slack steps are sent with (WORKFLOWS_SLACK_TEMPLATE)."""
    admin = login(wf_mesh, "admin@demo.test")
    made = rest(
        wf_mesh, "POST", "/v1/notify/templates",
        {"name": TEMPLATE, "subject": "Research: {{ topic }}", "body": "{{ text }}"}, token=admin,
    )  # fmt: skip
    assert made.status == 200, made.body


def record(mesh: LocalMesh, template: str, run_id: str) -> None:
    """With WORKFLOWS_RECORD_HISTORIES set, the run's history becomes the template's golden history."""
    if os.environ.get("WORKFLOWS_RECORD_HISTORIES"):
        assert mesh.temporal is not None
        history = asyncio.run(fetch_history(mesh.temporal.address, run_id))
        (HISTORIES / f"{template}.json").write_text(history.to_json())


def slack_messages(fakes: Any, needle: str, within: float = 20) -> list[Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = [m for m in list(fakes.state["slack"].messages) if needle in m.text]
        if found:
            return found
        time.sleep(0.1)
    return []


def test_research_to_slack(wf_mesh: LocalMesh, fakes: Any) -> None:
    user = new_student(wf_mesh)
    topic = f"recursion {uuid.uuid4().hex[:6]}"
    made = trigger(wf_mesh, user["token"], {"template": "research_to_slack", "input": {"topic": topic}})
    assert made.status == 200, made.body
    done = wait_done(wf_mesh, user["token"], made.body["runId"], timeout=60)
    assert done["status"] == "RUN_STATUS_SUCCEEDED", (done["error"], [s["error"] for s in done["steps"]])
    post = done["steps"][1]
    assert post["id"] == "post_summary" and post["output"]["status"] == "sent", post
    record(wf_mesh, "research_to_slack", made.body["runId"])
    sent = slack_messages(fakes, topic)
    assert len(sent) == 1, sent
    assert "recursion" in sent[0].text.lower()


def test_research_pipeline_documents_and_announces_in_parallel(
    wf_mesh: LocalMesh, notion: LocalNotion, fakes: Any, model: ResearchModel
) -> None:
    user = new_student(wf_mesh)
    topic = f"dictionaries {uuid.uuid4().hex[:6]}"
    made = trigger(wf_mesh, user["token"], {"template": "research_pipeline", "input": {"topic": topic}})
    done = wait_done(wf_mesh, user["token"], made.body["runId"], timeout=60)
    assert done["status"] == "RUN_STATUS_SUCCEEDED", done
    record(wf_mesh, "research_pipeline", made.body["runId"])
    steps = {s["id"]: s for s in done["steps"]}
    assert list(steps) == ["research", "analysis", "document", "announce"]
    headline = steps["analysis"]["output"]["headline"]
    # Analysed by the model (tutoring's AnalyseResearch), its tokens in the ledger with research's.
    assert (
        headline == f"{topic}, analysed by the model" and steps["analysis"]["output"]["produced_by"] == MODEL
    )
    reported = model.reported_for(topic)
    assert len(reported) == 2, reported  # research, analysis
    got = rest(wf_mesh, "GET", "/v1/workflows/usage?userId=me", token=user["token"]).body["rows"]
    spent = sum(int(r["units"]) for r in got if r["kind"] == "model_tokens")
    assert spent == sum(r.prompt_tokens + r.completion_tokens for r in reported)
    (page,) = pages_titled(notion, f"Research: {topic}")
    texts = [b[b["type"]]["rich_text"][0]["text"]["content"] for b in page.children]
    assert headline in texts and "Takeaways" in texts
    (message,) = slack_messages(fakes, headline)
    # The two branches ran in parallel: the workflow scheduled both in one workflow task, neither
    # waiting for the other (their start and finish times may not overlap when a step is quick).
    assert wf_mesh.temporal is not None
    history = asyncio.run(fetch_history(wf_mesh.temporal.address, made.body["runId"]))
    scheduled_by = {
        e.activity_task_scheduled_event_attributes.activity_id: (
            e.activity_task_scheduled_event_attributes.workflow_task_completed_event_id
        )
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    }
    assert scheduled_by["document"] == scheduled_by["announce"], scheduled_by
    assert scheduled_by["analysis"] != scheduled_by["document"]  # after the analysis, not with it
    assert message.text
