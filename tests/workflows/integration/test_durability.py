"""Durable execution: the serve process (the Temporal worker) SIGKILLed after Notion created the page
and before the step was recorded; the run completes once, on the restarted worker, with one page. And a
dropped connection after a create (the client never hears of the page) is not a second page either.
And the Temporal dev server itself SIGKILLed mid-run — its SQLite in WAL mode with synchronous=NORMAL
(runtime/local/temporald.py) — loses nothing it had acknowledged: the run goes on after a restart."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
import uuid

from temporalio.client import Client

from services.runtime.local.mesh import LocalMesh
from services.runtime.local.temporald import TemporalServer
from services.runtime.testing import new_student, rest
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


async def _activities_scheduled(address: str, run_id: str) -> list[str]:
    client = await Client.connect(address)
    history = await client.get_workflow_handle(run_id).fetch_history()
    return [
        e.activity_task_scheduled_event_attributes.activity_id
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]


def test_temporal_killed_mid_run_loses_nothing(wf_mesh: LocalMesh, notion: LocalNotion) -> None:
    temporal = wf_mesh.temporal
    assert temporal is not None and temporal.proc is not None
    database = temporal.data_dir / "temporal.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    user = new_student(wf_mesh)
    topic = f"iterators {uuid.uuid4().hex[:6]}"
    title = f"Research: {topic}"
    notion.hold_after_create_seconds = 30.0  # the page step is in flight when Temporal dies
    try:
        made = trigger(wf_mesh, user["token"], {"template": "research_to_docs", "input": {"topic": topic}})
        assert made.status == 200, made.body
        deadline = time.monotonic() + 30
        while not pages_titled(notion, title):
            assert time.monotonic() < deadline, "the page was never created"
            time.sleep(0.05)
        os.killpg(temporal.proc.pid, signal.SIGKILL)  # no shutdown: what was not on disk is gone
        temporal.proc.wait(10)
        # Same data, same address: the worker and the service reconnect by themselves.
        wf_mesh.temporal = TemporalServer(temporal.data_dir, temporal.port, temporal.ui_port)
        wf_mesh.temporal.start()
    finally:
        notion.hold_after_create_seconds = 0.0
    done = wait_done(wf_mesh, user["token"], made.body["runId"], timeout=60)
    assert done["status"] == "RUN_STATUS_SUCCEEDED", done
    research, page_step = done["steps"]
    # The research step's completion, acknowledged before the kill, survived it: research ran once.
    assert research["attempts"] == 1
    scheduled = asyncio.run(_activities_scheduled(wf_mesh.temporal.address, made.body["runId"]))
    assert scheduled == ["research", "create_notion_page"]
    assert len(pages_titled(notion, title)) == 1
    assert page_step["output"]["page_id"] == pages_titled(notion, title)[0].id


def test_a_run_triggered_while_temporal_is_down_starts_when_it_is_back(
    wf_mesh: LocalMesh, notion: LocalNotion
) -> None:
    """The run and the job that starts it commit together: Temporal away when the request comes is
    not a 503 and a run failed 'not started', nor a run left "running" that Temporal never heard of;
    the job retries until Temporal answers, and the run goes on from there."""
    temporal = wf_mesh.temporal
    assert temporal is not None and temporal.proc is not None
    user = new_student(wf_mesh)
    topic, dropped = f"generators {uuid.uuid4().hex[:6]}", f"coroutines {uuid.uuid4().hex[:6]}"
    os.killpg(temporal.proc.pid, signal.SIGKILL)
    temporal.proc.wait(10)
    try:
        made = trigger(wf_mesh, user["token"], {"template": "research_to_docs", "input": {"topic": topic}})
        assert made.status == 200, made.body
        assert made.body["status"] == "RUN_STATUS_RUNNING"
        # A run cancelled before its start job could start it: ended here, never started later.
        other = trigger(wf_mesh, user["token"], {"template": "research_to_docs", "input": {"topic": dropped}})
        cancelled = rest(
            wf_mesh, "POST", f"/v1/workflows/runs/{other.body['runId']}:cancel", {}, token=user["token"]
        )
        assert cancelled.status == 200 and cancelled.body["status"] == "RUN_STATUS_CANCELLED", cancelled.body
        time.sleep(2)  # the job's first attempts fail while Temporal is away
    finally:
        wf_mesh.temporal = TemporalServer(temporal.data_dir, temporal.port, temporal.ui_port)
        wf_mesh.temporal.start()
    done = wait_done(wf_mesh, user["token"], made.body["runId"], timeout=90)
    assert done["status"] == "RUN_STATUS_SUCCEEDED", done
    assert len(pages_titled(notion, f"Research: {topic}")) == 1
    never = rest(wf_mesh, "GET", f"/v1/workflows/runs/{other.body['runId']}", token=user["token"]).body
    assert never["status"] == "RUN_STATUS_CANCELLED" and not pages_titled(notion, f"Research: {dropped}")
