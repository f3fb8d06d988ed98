"""The determinism gate, part 2: Temporal's Replayer replays one recorded history per template
(tests/workflows/histories/, recorded from real runs: WORKFLOWS_RECORD_HISTORIES=1 rewrites them) against
today's workflow code, so a change that would break runs in flight fails CI. A fresh run's history is
replayed too, and a deliberately reordered workflow is caught, so the check can fail."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from services.runtime.local.mesh import LocalMesh
from services.runtime.testing import new_student
from services.workflows.workflow import RUN_STEP, WORKFLOW_NAME, TemplateRun
from tests.workflows.integration.test_workflows_api import trigger, wait_done

HISTORIES = Path(__file__).resolve().parent.parent / "histories"


async def _history(address: str, run_id: str) -> WorkflowHistory:
    client = await Client.connect(address)
    return await client.get_workflow_handle(run_id).fetch_history()


async def _replay(history: WorkflowHistory, workflow_class: type = TemplateRun) -> None:
    # Today's workflow replays in Temporal's sandbox — stricter than the worker, which runs it
    # unsandboxed for speed (engine.py): a call the sandbox refuses fails here, before a deploy. The
    # test's own variant lives in this module (which imports I/O), so it replays unsandboxed.
    runner = {} if workflow_class is TemplateRun else {"workflow_runner": UnsandboxedWorkflowRunner()}
    await Replayer(workflows=[workflow_class], **runner).replay_workflow(history)


def test_recorded_histories_replay() -> None:
    recorded = sorted(HISTORIES.glob("*.json"))
    assert {p.stem for p in recorded} >= {
        "research_to_docs",
        "research_to_slack",
        "research_pipeline",
        "research_to_docs_finish_local",
    }
    for path in recorded:
        asyncio.run(_replay(WorkflowHistory.from_json(path.stem, path.read_text())))


@workflow.defn(name=WORKFLOW_NAME)
class Reordered:
    """Today's workflow with one change: each group's steps are awaited one by one, the first step's
    activity given another id — the kind of edit that strands runs in flight."""

    @workflow.run
    async def run(self, plan: dict[str, Any]) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        for group in plan["groups"]:
            for step in group:
                outputs[step["id"]] = await workflow.execute_activity(
                    RUN_STEP,
                    {"run": plan["run"], "step": step, "outputs": outputs},
                    start_to_close_timeout=timedelta(seconds=10),
                    activity_id=f"renamed-{step['id']}",
                )
        return outputs


def test_a_fresh_history_replays_and_a_breaking_change_is_caught(wf_mesh: LocalMesh) -> None:
    assert wf_mesh.temporal is not None
    user = new_student(wf_mesh)
    made = trigger(
        wf_mesh,
        user["token"],
        {"template": "research_to_docs", "input": {"topic": f"modules {uuid.uuid4().hex[:4]}"}},
    )
    assert wait_done(wf_mesh, user["token"], made.body["runId"])["status"] == "RUN_STATUS_SUCCEEDED"
    history = asyncio.run(_history(wf_mesh.temporal.address, made.body["runId"]))
    asyncio.run(_replay(history))
    with pytest.raises(Exception, match=r"[Nn]ondetermin"):
        asyncio.run(_replay(history, Reordered))
    if os.environ.get("WORKFLOWS_RECORD_HISTORIES"):
        # research_to_docs.json and the other templates' are histories of runs from before the run's
        # end became a local activity (workflow.FINISH_LOCAL): kept, they show such runs still replay.
        (HISTORIES / "research_to_docs_finish_local.json").write_text(history.to_json())
