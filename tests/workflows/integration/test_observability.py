"""Seeing across systems: the Grafana dashboard asks only for metrics the mesh really exports (scraped
from a running mesh after a run), and the correlation id of the REST call is the run's and reaches the
research call in tutoring (one id across REST, gRPC, Temporal and the activities)."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import time
import urllib.request

import yaml

from services.runtime.local.mesh import LocalMesh
from services.runtime.testing import new_student, rest
from services.workflows.deploy.make_dashboard import HERE, configmap
from services.workflows.testing.otlp_receiver import OtlpReceiver
from tests.workflows.integration.test_workflows_api import trigger, wait_done

_METRIC = re.compile(r"\b([a-z_]+_(?:total|bucket|up|state|pending))\b")


def test_the_dashboard_file_is_current_and_names_only_exported_metrics(wf_mesh: LocalMesh) -> None:
    shipped = yaml.safe_load((HERE / "grafana-dashboard.yaml").read_text())
    assert shipped == configmap(), "run services/workflows/deploy/make_dashboard.py"
    user = new_student(wf_mesh)
    made = trigger(wf_mesh, user["token"], {"template": "research_to_docs", "input": {"topic": "lambda"}})
    assert wait_done(wf_mesh, user["token"], made.body["runId"])["status"] == "RUN_STATUS_SUCCEEDED"
    with urllib.request.urlopen(f"http://127.0.0.1:{wf_mesh.ports.metrics}/metrics", timeout=10) as resp:
        scraped = resp.read().decode()
    exported = set(re.findall(r"^# TYPE (\S+) ", scraped, re.M))
    dashboard = json.loads(shipped["data"]["learnflow-health.json"])
    wanted = {m for p in dashboard["panels"] for t in p["targets"] for m in _METRIC.findall(t["expr"])}
    assert "cross_system_calls_total" in wanted and "cross_system_call_duration_seconds_bucket" in wanted
    missing = {
        m
        for m in wanted
        if m.removesuffix("_bucket").removesuffix("_total") not in exported and m not in exported
    }
    assert not missing, f"the dashboard asks for metrics nobody exports: {missing}"
    calls = [line for line in scraped.splitlines() if line.startswith("cross_system_calls_total{")]
    assert re.search(
        r'^cross_system_calls_total\{capability="research",outcome="ok"\} [1-9]', scraped, re.M
    ), calls
    assert re.search(
        r'^cross_system_calls_total\{capability="notion.page",outcome="ok"\} [1-9]', scraped, re.M
    )


def test_one_correlation_id_from_rest_to_the_research_call(wf_mesh: LocalMesh) -> None:
    user = new_student(wf_mesh)
    correlation = "corr-" + user["id"][:8]
    made = trigger(
        wf_mesh, user["token"], {"template": "research_to_docs", "input": {"topic": "with statement"}},
        headers={"x-request-id": correlation},
    )  # fmt: skip
    assert made.status == 200 and made.body["correlationId"] == correlation
    assert wait_done(wf_mesh, user["token"], made.body["runId"])["status"] == "RUN_STATUS_SUCCEEDED"
    # `learnflow logs --correlation-id` finds the request's lines across the mesh's processes' logs.
    found = subprocess.run(
        [sys.executable, "-m", "services.runtime.cli", "logs", "--correlation-id", correlation,
         "--data-dir", str(wf_mesh.data_dir)],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert found and all(correlation in line for line in found)
    lines = [json.loads(line.split(": ", 1)[1]) for line in found if line.startswith("serve.log: {")]
    said = {
        (line.get("logger"), line.get("msg")) for line in lines if line.get("correlation_id") == correlation
    }
    assert ("services.workflows.activities", "workflow step done") in said
    assert ("services.workflows.activities", "workflow run finished") in said
    # tutoring's ResearchTopic, called over gRPC from the activity, logged its RPC with the same id
    assert any(
        line.get("rpc", "").endswith("ResearchTopic") or "ResearchTopic" in str(line.get("method", ""))
        for line in lines
    ), said
    assert rest(wf_mesh, "GET", f"/v1/workflows/runs/{made.body['runId']}", token=user["token"]).status == 200


def test_one_trace_from_the_rest_call_to_the_last_activity(wf_mesh: LocalMesh, otlp: OtlpReceiver) -> None:
    """The REST call's traceparent is the root: Envoy -> TriggerWorkflow (gRPC server span) -> Temporal's
    StartWorkflow -> RunWorkflow -> each step's RunActivity -> tutoring's ResearchTopic (gRPC client and
    server spans), all one tree, received by a local OTLP receiver."""
    user = new_student(wf_mesh)
    trace_id, root = secrets.token_hex(16), secrets.token_hex(8)
    made = trigger(
        wf_mesh, user["token"], {"template": "research_to_docs", "input": {"topic": "exceptions"}},
        headers={"traceparent": f"00-{trace_id}-{root}-01"},
    )  # fmt: skip
    assert made.status == 200, made.body
    assert wait_done(wf_mesh, user["token"], made.body["runId"])["status"] == "RUN_STATUS_SUCCEEDED"
    deadline = time.monotonic() + 15
    while True:
        spans = otlp.trace(trace_id)
        names = [s.name for s in spans]
        if sum(n.startswith("RunActivity") for n in names) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert any(n.endswith("WorkflowsService/TriggerWorkflow") for n in names), names
    assert any(n.startswith("StartWorkflow") for n in names), names
    assert any(n.startswith("RunWorkflow") for n in names), names
    assert sum(n.startswith("RunActivity") for n in names) >= 3, names  # two steps and the run's end
    assert any(n.endswith("TutoringService/ResearchTopic") for n in names), names
    ids = {s.span_id for s in spans}
    orphans = [s for s in spans if s.parent_id not in ids and s.parent_id != root]
    assert not orphans, f"spans outside the tree: {orphans}"
    assert all(s.parent_id for s in spans)  # the REST caller's span is the one root
