"""Durable execution: the serve process (the Temporal worker) SIGKILLed after Notion created the page
and before the step was recorded; the run completes once, on the restarted worker, with one page. And a
dropped connection after a create (the client never hears of the page) is not a second page either."""

from __future__ import annotations

import os
import signal
import time
import uuid

from services.runtime.local.mesh import LocalMesh
from services.runtime.testing import new_student
from services.workflows.testing.notion_server import LocalNotion
from tests.workflows.integration.test_workflows_api import pages_titled, trigger, wait_done


def test_worker_killed_after_the_page_was_created(wf_mesh: LocalMesh, notion: LocalNotion) -> None:
    user = new_student(wf_mesh)
    topic = f"decorators {uuid.uuid4().hex[:6]}"
    title = f"Research: {topic}"
    notion.hold_after_create_seconds = 30.0
    try:
        made = trigger(wf_mesh, user["token"], {"template": "research_to_docs", "input": {"topic": topic}})
        assert made.status == 200, made.body
        deadline = time.monotonic() + 30
        while not pages_titled(notion, title):
            assert time.monotonic() < deadline, "the page was never created"
            time.sleep(0.05)
        assert wf_mesh.server is not None
        os.killpg(wf_mesh.server.pid, signal.SIGKILL)  # the worker dies holding the step
        wf_mesh.server.wait(10)
        notion.hold_after_create_seconds = 0.0
        wf_mesh.start_server()  # same Temporal, same database: the step is retried after its heartbeat
    finally:
        notion.hold_after_create_seconds = 0.0
    done = wait_done(wf_mesh, user["token"], made.body["runId"], timeout=60)
    assert done["status"] == "RUN_STATUS_SUCCEEDED", done
    page_step = done["steps"][1]
    assert page_step["attempts"] >= 2
    assert len(pages_titled(notion, title)) == 1
    assert page_step["output"]["page_id"] == pages_titled(notion, title)[0].id


def test_connection_dropped_after_create_is_one_page(wf_mesh: LocalMesh, notion: LocalNotion) -> None:
    user = new_student(wf_mesh)
    topic = f"closures {uuid.uuid4().hex[:6]}"
    notion.crash_after_create = 1
    made = trigger(wf_mesh, user["token"], {"template": "research_to_docs", "input": {"topic": topic}})
    done = wait_done(wf_mesh, user["token"], made.body["runId"])
    assert done["status"] == "RUN_STATUS_SUCCEEDED", done
    pages = pages_titled(notion, f"Research: {topic}")
    assert len(pages) == 1 and len(pages[0].children) == done["steps"][1]["output"]["blocks"]
