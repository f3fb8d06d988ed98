"""Moving a run in flight to a newer version of its template, on request (MigrateWorkflowRun through
REST): refused with field violations naming the incompatibility when a step that has run is not in the
new version, or when its input changed and the caller did not acknowledge it; accepted otherwise, at the
run's next step boundary, the new version's steps then running as it defines them; audited; the run's
history (with the update) replays. A run not asked keeps its version (test_workflows_api.py)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.runtime.local.mesh import LocalMesh
from services.runtime.testing import login, new_student, rest
from services.workflows.testing.notion_server import LocalNotion
from tests.workflows.integration.test_replay import _history as fetch_history
from tests.workflows.integration.test_replay import _replay as replay
from tests.workflows.integration.test_workflows_api import pages_titled, trigger, wait_done

INDEX_STEP = """  - id: index_entry
    type: notion_page
    input:
      title: "Index: {{ input.topic }}"
      content: "{{ steps.create_notion_page.output.url }} {{ steps.research.output.summary }}"
      parent_id: "{{ env.NOTION_RESEARCH_FOLDER }}"
"""


@pytest.fixture
def template(templates_dir: Path) -> Iterator[Path]:
    """research_to_docs, which a test rewrites; put back afterwards."""
    path = templates_dir / "research_to_docs.yaml"
    original = path.read_text()
    try:
        yield path
    finally:
        path.write_text(original)


def current_version(mesh: LocalMesh, token: str, name: str = "research_to_docs") -> str:
    listed = rest(mesh, "GET", "/v1/workflows/templates", token=token)
    assert listed.status == 200, listed.body
    return next(t["version"] for t in listed.body["templates"] if t["name"] == name)


def migrate(mesh: LocalMesh, token: str, run_id: str, version: str, acknowledge: bool = False) -> Any:
    return rest(
        mesh, "POST", f"/v1/workflows/runs/{run_id}:migrate",
        {"toVersion": version, "acknowledge": acknowledge}, token=token,
    )  # fmt: skip


def violations(got: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for detail in got.body.get("details", []):
        for v in detail.get("fieldViolations", []):
            found.setdefault(v["field"], []).append(v["description"])
    return found


def page_step_running(mesh: LocalMesh, token: str, run_id: str) -> dict[str, Any]:
    """The run once research is done and the page step has started (its Notion answer is held)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = rest(mesh, "GET", f"/v1/workflows/runs/{run_id}", token=token).body
        if [s["status"] for s in run["steps"]][:2] == ["STEP_STATUS_SUCCEEDED", "STEP_STATUS_RUNNING"]:
            return dict(run)
        time.sleep(0.05)
    raise AssertionError(f"the page step never started: {run}")


def test_a_run_in_flight_moves_to_the_new_version_when_asked(
    wf_mesh: LocalMesh, notion: LocalNotion, template: Path
) -> None:
    user = new_student(wf_mesh)
    topic = f"sorting {uuid.uuid4().hex[:6]}"
    notion.hold_after_create_seconds = 30.0  # the page step is still running when the move is asked
    try:
        made = trigger(wf_mesh, user["token"], {"template": "research_to_docs", "input": {"topic": topic}})
        assert made.status == 200, made.body
        old = made.body["templateVersion"]
        before = page_step_running(wf_mesh, user["token"], made.body["runId"])["steps"][0]
        # Version 2: research asks for fewer sources (its input changed) and an index entry is added.
        template.write_text(
            template.read_text()
            .replace('version: "1"', 'version: "2"')
            .replace("max_sources: 10", "max_sources: 5")
            + INDEX_STEP
        )
        new = current_version(wf_mesh, user["token"])
        assert new != old and new.startswith("2.")
        stranger = new_student(wf_mesh)
        assert migrate(wf_mesh, stranger["token"], made.body["runId"], new).status == 404  # not theirs
        wrong = migrate(wf_mesh, user["token"], made.body["runId"], "9.nothing")
        assert wrong.status == 400 and new in violations(wrong)["to_version"][0], wrong.body
        unacknowledged = migrate(wf_mesh, user["token"], made.body["runId"], new)
        assert unacknowledged.status == 400, unacknowledged.body
        (said,) = violations(unacknowledged)["acknowledge"]
        assert "step research has run" in said, said
        moved = migrate(wf_mesh, user["token"], made.body["runId"], new, acknowledge=True)
        assert moved.status == 200, moved.body
        assert moved.body["templateVersion"] == new
        assert [s["id"] for s in moved.body["steps"]] == ["research", "create_notion_page", "index_entry"]
    finally:
        notion.hold_after_create_seconds = 0.0  # the held page step finishes now
    done = wait_done(wf_mesh, user["token"], made.body["runId"])
    assert done["status"] == "RUN_STATUS_SUCCEEDED", done
    assert done["templateVersion"] == new
    research, page, index = done["steps"]
    assert research["attempts"] == before["attempts"] and research["output"] == before["output"]  # kept
    assert index["status"] == "STEP_STATUS_SUCCEEDED"
    # The move is in the run's history (the update and its activity) and replays deterministically.
    assert wf_mesh.temporal is not None
    history = asyncio.run(fetch_history(wf_mesh.temporal.address, made.body["runId"]))
    assert "workflowExecutionUpdateAccepted" in history.to_json()
    asyncio.run(replay(history))
    (made_page,) = pages_titled(notion, f"Research: {topic}")
    (entry,) = pages_titled(notion, f"Index: {topic}")
    assert entry.id == index["output"]["page_id"] and made_page.id == page["output"]["page_id"]
    # Audited, in the name of who asked, from which version to which.
    admin = login(wf_mesh, "admin@demo.test")
    resource = f"workflow_runs/{made.body['runId']}"
    deadline = time.monotonic() + 20
    while True:
        records = rest(wf_mesh, "GET", f"/v1/audit/records?resource={resource}", token=admin).body
        if records.get("records") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    (record,) = records["records"]
    assert record["action"] == "workflow_run.migrated" and record["actor"] == user["id"], record
    assert record["before"]["template_version"] == old and record["after"]["template_version"] == new
    assert record["after"]["kept"] == ["research"] and record["reason"] == "acknowledged"


def test_a_move_that_would_lose_a_step_that_ran_is_refused(
    wf_mesh: LocalMesh, notion: LocalNotion, template: Path
) -> None:
    user = new_student(wf_mesh)
    notion.hold_after_create_seconds = 30.0
    try:
        made = trigger(wf_mesh, user["token"], {"template": "research_to_docs", "input": {"topic": "sets"}})
        old = made.body["templateVersion"]
        page_step_running(wf_mesh, user["token"], made.body["runId"])
        # Version 3 renames the research step (a new step, then, before the page).
        template.write_text(
            template.read_text()
            .replace('version: "1"', 'version: "3"')
            .replace("id: research", "id: study")
            .replace("steps.research.", "steps.study.")
        )
        refused = migrate(
            wf_mesh, user["token"], made.body["runId"], current_version(wf_mesh, user["token"]), True
        )
    finally:
        notion.hold_after_create_seconds = 0.0  # the held page step finishes now
    assert refused.status == 400, refused.body
    said = violations(refused)["to_version"]
    assert any("step research has run" in s and "no step research" in s for s in said), said
    # create_notion_page is running: the renamed step would come before it without having run.
    assert any("puts step study before steps that have run" in s for s in said), said
    done = wait_done(wf_mesh, user["token"], made.body["runId"])
    assert done["status"] == "RUN_STATUS_SUCCEEDED" and done["templateVersion"] == old
    again = migrate(wf_mesh, user["token"], made.body["runId"], current_version(wf_mesh, user["token"]))
    assert again.status == 400 and again.body["code"] in (9, "FAILED_PRECONDITION"), again.body
