"""The workflows context end to end through REST (Envoy): templates run on the real Temporal server,
research comes from tutoring over gRPC, pages land in the local Notion server."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from services.runtime.local.mesh import LocalMesh
from services.runtime.testing import login, new_student, rest
from services.workflows.testing.notion_server import LocalNotion

TOPIC = "list comprehensions"


def trigger(mesh: LocalMesh, token: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    return rest(mesh, "POST", "/v1/workflows/runs", body, token=token, headers=headers)


def wait_done(mesh: LocalMesh, token: str, run_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = rest(mesh, "GET", f"/v1/workflows/runs/{run_id}", token=token)
        assert got.status == 200, got.body
        if got.body["status"] != "RUN_STATUS_RUNNING":
            return dict(got.body)
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} still running: {got.body}")


def pages_titled(notion: LocalNotion, title: str) -> list[Any]:
    return [p for p in list(notion.pages.values()) if p.title == title]


def test_research_to_docs_creates_one_notion_page(wf_mesh: LocalMesh, notion: LocalNotion) -> None:
    user = new_student(wf_mesh)
    topic = f"{TOPIC} {uuid.uuid4().hex[:6]}"
    made = trigger(wf_mesh, user["token"], {"template": "research_to_docs", "input": {"topic": topic}})
    assert made.status == 200, made.body
    run = made.body
    assert run["statusUrl"] == f"/v1/workflows/runs/{run['runId']}"
    assert run["templateVersion"].startswith("1.")
    done = wait_done(wf_mesh, user["token"], run["runId"])
    assert done["status"] == "RUN_STATUS_SUCCEEDED", done
    research, page_step = done["steps"]
    assert research["id"] == "research" and research["status"] == "STEP_STATUS_SUCCEEDED"
    assert "comprehension" in research["output"]["summary"].lower()
    assert research["output"]["sources"] and research["startTime"] and research["finishTime"]
    pages = pages_titled(notion, f"Research: {topic}")
    assert len(pages) == 1
    page = pages[0]
    assert (
        page_step["output"]["pageId"] == page.id
        if "pageId" in page_step["output"]
        else page_step["output"]["page_id"] == page.id
    )
    text = [b[b["type"]]["rich_text"][0]["text"]["content"] for b in page.children]
    assert text[0] == topic and "Summary" in text and "Key Insights" in text and "Sources" in text
    assert page.parent == {"database_id": "learnflow-research"}


def test_unified_route_and_idempotency_key(wf_mesh: LocalMesh, notion: LocalNotion) -> None:
    user = new_student(wf_mesh)
    topic = f"dictionaries {uuid.uuid4().hex[:6]}"
    key = uuid.uuid4().hex
    first = rest(
        wf_mesh,
        "POST",
        "/v1/unified/research-and-document",
        {"topic": topic, "idempotencyKey": key},
        token=user["token"],
    )
    again = trigger(
        wf_mesh,
        user["token"],
        {"template": "research_to_docs", "input": {"topic": topic}, "idempotencyKey": key},
    )
    assert first.status == again.status == 200, (first.body, again.body)
    assert first.body["runId"] == again.body["runId"]
    # Keys are unique per tenant, but the run is its creator's: another student's same key does not
    # hand them the run (its input and outputs), nor start another.
    theirs = trigger(
        wf_mesh,
        new_student(wf_mesh)["token"],
        {"template": "research_to_docs", "input": {"topic": topic}, "idempotencyKey": key},
    )
    assert theirs.status == 409 and "another user's run" in theirs.body["message"], theirs.body
    assert first.body["runId"] not in str(theirs.body)
    assert wait_done(wf_mesh, user["token"], first.body["runId"])["status"] == "RUN_STATUS_SUCCEEDED"
    assert len(pages_titled(notion, f"Research: {topic}")) == 1


def test_bad_input_is_400_and_starts_nothing(wf_mesh: LocalMesh) -> None:
    user = new_student(wf_mesh)
    cases = [
        ({"template": "no_such_template", "input": {"topic": "x"}}, "template"),
        ({"template": "research_to_docs", "input": {}}, "input.topic"),
        ({"template": "research_to_docs", "input": {"topic": "x" * 501}}, "input.topic"),
        ({"template": "research_to_docs", "input": {"topic": "x" * 2001}}, "input"),
        ({"template": "research_to_docs", "input": {"topic": "x", "colour": "red"}}, "input.colour"),
    ]
    for body, field in cases:
        got = trigger(wf_mesh, user["token"], body)
        assert got.status == 400, (body, got.body)
        fields = [v["field"] for d in got.body["details"] for v in d.get("fieldViolations", [])]
        assert any(f.startswith(field) for f in fields), (field, got.body)
    listed = rest(wf_mesh, "GET", "/v1/workflows/runs", token=user["token"])
    mine = [r for r in listed.body.get("runs", []) if r["createdBy"] == user["id"]]
    assert mine == []


def test_notion_429_with_retry_after_is_honoured(wf_mesh: LocalMesh, notion: LocalNotion) -> None:
    user = new_student(wf_mesh)
    topic = f"generators {uuid.uuid4().hex[:6]}"
    notion.fail_next(1, status=429, retry_after=1)
    began = time.monotonic()
    made = trigger(wf_mesh, user["token"], {"template": "research_to_docs", "input": {"topic": topic}})
    done = wait_done(wf_mesh, user["token"], made.body["runId"])
    assert done["status"] == "RUN_STATUS_SUCCEEDED", done
    assert time.monotonic() - began >= 1.0  # waited as asked
    assert len(pages_titled(notion, f"Research: {topic}")) == 1


def test_cancel_a_running_run(wf_mesh: LocalMesh, notion: LocalNotion) -> None:
    user = new_student(wf_mesh)
    notion.delay_seconds = 2.0
    try:
        made = trigger(wf_mesh, user["token"], {"template": "research_to_docs", "input": {"topic": "sets"}})
        time.sleep(0.5)
        cancelled = rest(
            wf_mesh, "POST", f"/v1/workflows/runs/{made.body['runId']}:cancel", {}, token=user["token"]
        )
        assert cancelled.status == 200, cancelled.body
        done = wait_done(wf_mesh, user["token"], made.body["runId"])
    finally:
        notion.delay_seconds = 0.0
    assert done["status"] == "RUN_STATUS_CANCELLED", done
    assert all(s["status"] in ("STEP_STATUS_SUCCEEDED", "STEP_STATUS_CANCELLED") for s in done["steps"])


def test_list_runs_paginates_and_filters(wf_mesh: LocalMesh) -> None:
    user = new_student(wf_mesh)
    ids = [
        trigger(
            wf_mesh, user["token"], {"template": "research_to_docs", "input": {"topic": f"tuples {i}"}}
        ).body["runId"]
        for i in range(3)
    ]
    for run_id in ids:
        wait_done(wf_mesh, user["token"], run_id)
    seen: list[str] = []
    token = ""
    while True:
        page = rest(
            wf_mesh,
            "GET",
            f"/v1/workflows/runs?pageSize=2&template=research_to_docs&pageToken={token}",
            token=user["token"],
        )
        assert page.status == 200, page.body
        seen += [r["runId"] for r in page.body.get("runs", [])]
        token = page.body.get("nextPageToken", "")
        if not token:
            break
    assert set(ids) <= set(seen) and len(seen) == len(set(seen))
    failed = rest(wf_mesh, "GET", "/v1/workflows/runs?status=RUN_STATUS_FAILED", token=user["token"])
    assert not set(ids) & {r["runId"] for r in failed.body.get("runs", [])}


def watch(mesh: LocalMesh, token: str, run_id: str, wait: int = 30) -> list[dict[str, Any]]:
    """WatchWorkflowRun through Envoy as server-sent events, until the run ends."""
    req = urllib.request.Request(
        f"{mesh.rest_url}/v1/workflows/runs/{run_id}:watch?maxWaitSeconds={wait}",
        headers={"Authorization": f"Bearer {token}"},
    )
    got: list[dict[str, Any]] = []
    with urllib.request.urlopen(req, timeout=wait + 10) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream"), resp.headers
        for raw in resp:
            line = raw.decode().strip()
            if line.startswith("data:"):
                got.append(json.loads(line.removeprefix("data:")))
    return got


def test_watch_streams_the_steps_as_they_change(wf_mesh: LocalMesh, notion: LocalNotion) -> None:
    user = new_student(wf_mesh)
    notion.delay_seconds = 0.6  # each Notion request: the page step is seen running
    try:
        made = trigger(
            wf_mesh, user["token"], {"template": "research_to_docs", "input": {"topic": "iterators"}}
        )
        events = watch(wf_mesh, user["token"], made.body["runId"])
    finally:
        notion.delay_seconds = 0.0
    states = [(e["status"], tuple(s["status"] for s in e["steps"])) for e in events]
    assert len(states) == len(set(states)) >= 3  # one event per change
    assert states[-1] == ("RUN_STATUS_SUCCEEDED", ("STEP_STATUS_SUCCEEDED", "STEP_STATUS_SUCCEEDED"))
    assert ("RUN_STATUS_RUNNING", ("STEP_STATUS_SUCCEEDED", "STEP_STATUS_RUNNING")) in states


def listed_ids(mesh: LocalMesh, token: str) -> set[str]:
    """Every run ListWorkflowRuns gives `token`, all pages."""
    seen: set[str] = set()
    page_token = ""
    while True:
        page = rest(mesh, "GET", f"/v1/workflows/runs?pageSize=200&pageToken={page_token}", token=token)
        assert page.status == 200, page.body
        seen |= {r["runId"] for r in page.body.get("runs", [])}
        page_token = page.body.get("nextPageToken", "")
        if not page_token:
            return seen


def test_a_run_is_its_creators_and_the_admins(wf_mesh: LocalMesh, notion: LocalNotion) -> None:
    """Another user of the tenant cannot get, watch, cancel, move or list my run: NOT_FOUND, the same
    answer as for a run that does not exist. An admin can do all of it."""
    owner, stranger = new_student(wf_mesh), new_student(wf_mesh)
    teacher = login(wf_mesh, "teacher@demo.test")
    admin = login(wf_mesh, "admin@demo.test")
    notion.delay_seconds = 2.0  # the page step holds the run running
    try:
        made = trigger(
            wf_mesh, owner["token"], {"template": "research_to_docs", "input": {"topic": "sets of mine"}}
        )
        assert made.status == 200, made.body
        run_id = made.body["runId"]
        nobody = str(uuid.uuid4())
        for token in (stranger["token"], teacher):
            for rid in (run_id, nobody):
                got = rest(wf_mesh, "GET", f"/v1/workflows/runs/{rid}", token=token)
                assert got.status == 404 and got.body["message"] == f"run {rid} not found", got.body
                cancel = rest(wf_mesh, "POST", f"/v1/workflows/runs/{rid}:cancel", {}, token=token)
                assert cancel.status == 404, cancel.body
                moved = rest(
                    wf_mesh, "POST", f"/v1/workflows/runs/{rid}:migrate", {"toVersion": "1.x"}, token=token
                )
                assert moved.status == 404, moved.body
                with pytest.raises(urllib.error.HTTPError) as err:
                    watch(wf_mesh, token, rid, wait=5)
                assert err.value.code == 404, err.value
            assert run_id not in listed_ids(wf_mesh, token)
        assert run_id in listed_ids(wf_mesh, owner["token"])
        mine = rest(wf_mesh, "GET", "/v1/workflows/runs?pageSize=200", token=owner["token"]).body["runs"]
        assert {r["createdBy"] for r in mine} == {owner["id"]}
        # The stranger's cancel did nothing; the admin sees the run, lists it and cancels it.
        seen = rest(wf_mesh, "GET", f"/v1/workflows/runs/{run_id}", token=admin)
        assert seen.status == 200 and seen.body["createdBy"] == owner["id"], seen.body
        assert run_id in listed_ids(wf_mesh, admin)
        cancelled = rest(wf_mesh, "POST", f"/v1/workflows/runs/{run_id}:cancel", {}, token=admin)
        assert cancelled.status == 200, cancelled.body
        events = watch(wf_mesh, admin, run_id)
    finally:
        notion.delay_seconds = 0.0
    assert events and events[-1]["status"] == "RUN_STATUS_CANCELLED", events
    assert wait_done(wf_mesh, owner["token"], run_id)["status"] == "RUN_STATUS_CANCELLED"


def test_a_template_changed_mid_run_keeps_the_run_on_its_version(
    wf_mesh: LocalMesh, notion: LocalNotion, templates_dir: Path
) -> None:
    user = new_student(wf_mesh)
    path = templates_dir / "research_to_docs.yaml"
    original = path.read_text()
    notion.hold_after_create_seconds = 30.0  # the first run is in its page step when the template changes
    try:
        first = trigger(
            wf_mesh, user["token"], {"template": "research_to_docs", "input": {"topic": "strings"}}
        ).body
        path.write_text(original.replace('"Research: {{ input.topic }}"', '"Notes: {{ input.topic }}"'))
        second = trigger(
            wf_mesh, user["token"], {"template": "research_to_docs", "input": {"topic": "strings"}}
        ).body
    finally:
        notion.hold_after_create_seconds = 0.0  # both runs' page steps finish now
        path.write_text(original)
    assert first["templateVersion"] != second["templateVersion"]
    done = [wait_done(wf_mesh, user["token"], r["runId"]) for r in (first, second)]
    assert [d["status"] for d in done] == ["RUN_STATUS_SUCCEEDED"] * 2
    titles = {notion.pages[d["steps"][1]["output"]["page_id"]].title for d in done}
    assert titles == {"Research: strings", "Notes: strings"}
    assert notion.pages[done[0]["steps"][1]["output"]["page_id"]].title == "Research: strings"
