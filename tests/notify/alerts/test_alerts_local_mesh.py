"""`learnflow up`'s monitoring: the local mesh with_monitoring starts Debian's Prometheus (scraping the
mesh's /metrics, with deploy/prometheus/rules.yml loaded) and Alertmanager (routing to notify's
receiver address, which the mesh hands `learnflow serve`), and stops them with the mesh.

On the same mesh (one mesh for the module; it also runs the local provider servers), a firing rule
goes Prometheus -> Alertmanager -> the receiver hosted by the mesh's notify -> the engine's delivery
log -> the local Slack server."""

from __future__ import annotations

import json
import shutil
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from services.notify.fakes.client import FakesClient
from services.runtime.local import alerting
from services.runtime.local.mesh import LocalMesh
from services.runtime.local.procs import free_port
from services.runtime.testing import free_ports, login, mesh_dir, mesh_env, rest

pytestmark = pytest.mark.skipif(not alerting.available(), reason="prometheus/alertmanager not installed")


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as reply:
        return json.loads(reply.read())


def _query(base: str, promql: str) -> list[Any]:
    return list(_get(f"{base}/api/v1/query?query={urllib.parse.quote(promql)}")["data"]["result"])


@pytest.fixture(scope="module")
def monitored() -> Iterator[tuple[LocalMesh, dict[str, str]]]:
    """The local mesh as `learnflow up` runs it with monitoring, and the environment it was given."""
    root = mesh_dir("learnflow-mesh-monitoring-")
    env = mesh_env(
        LEARNFLOW_PROMETHEUS_PORT=str(free_port()),
        LEARNFLOW_ALERTMANAGER_PORT=str(free_port()),
        LEARNFLOW_ALERT_RECEIVER_PORT=str(free_port()),
        LEARNFLOW_LOCAL_PROVIDERS="true",
    )
    mesh = LocalMesh(root, free_ports(), env=env, serve_output=root / "serve.log", with_monitoring=True)
    try:
        mesh.start()
        yield mesh, env
    finally:
        mesh.stop()
        shutil.rmtree(root, ignore_errors=True)
    assert mesh.monitoring.prometheus is None and mesh.monitoring.alertmanager is None


def test_the_local_mesh_runs_prometheus_and_alertmanager_on_its_metrics(
    monitored: tuple[LocalMesh, dict[str, str]],
) -> None:
    mesh, env = monitored
    monitoring = mesh.monitoring
    assert monitoring is not None
    banner = alerting.banner(monitoring)
    assert monitoring.prometheus_url in banner and monitoring.alertmanager_url in banner
    # The receiver address and token `learnflow serve` got are where Alertmanager posts.
    served = mesh.server_env()
    assert served["NOTIFY_ALERTS_LISTEN_ADDR"] == f"127.0.0.1:{env['LEARNFLOW_ALERT_RECEIVER_PORT']}"
    am = yaml.safe_load((monitoring.data_dir / "alertmanager.yml").read_text())
    urls = {r["name"]: r["webhook_configs"][0]["url"] for r in am["receivers"]}
    assert urls["slack"] == f"http://{served['NOTIFY_ALERTS_LISTEN_ADDR']}/v1/alerts/slack"
    token_file = am["receivers"][0]["webhook_configs"][0]["http_config"]["authorization"]["credentials_file"]
    assert Path(token_file).read_text() == served["NOTIFY_ALERTS_WEBHOOK_TOKEN"]

    rules = _get(f"{monitoring.prometheus_url}/api/v1/rules")["data"]["groups"]
    loaded = {r["name"] for g in rules for r in g["rules"]}
    assert {"ContextNotServing", "PostgresUnreachable", "InterventionSlaBelowTarget"} <= loaded
    # The runtime's gauges, scraped from the mesh: every context serving, PostgreSQL and NATS up.
    deadline = time.monotonic() + 60
    while True:
        serving = _query(monitoring.prometheus_url, 'learnflow_context_serving{job="learnflow"}')
        deps = _query(monitoring.prometheus_url, "learnflow_dependency_up")
        if serving and deps:
            break
        assert time.monotonic() < deadline, "Prometheus never scraped the mesh"
        time.sleep(0.5)
    assert {s["metric"]["context"] for s in serving} >= {"identity", "notify"}
    assert all(s["value"][1] == "1" for s in serving)
    assert {d["metric"]["dependency"]: d["value"][1] for d in deps} == {"postgres": "1", "nats": "1"}
    assert _get(f"{monitoring.alertmanager_url}/api/v2/status")["config"]["original"]


def test_a_firing_rule_reaches_slack_through_the_meshs_receiver_and_delivery_log(
    monitored: tuple[LocalMesh, dict[str, str]],
) -> None:
    """The receiver `learnflow serve` hosts (NOTIFY_ALERTS_LISTEN_ADDR, NOTIFY_ALERTS_WEBHOOK_TOKEN),
    fed by a Prometheus and Alertmanager of this test's own on fast timings (the mesh's own use the
    production ones: a rule's `for` of minutes), with the repository's rules and routing."""
    mesh, _ = monitored
    assert mesh.providers is not None
    slack = FakesClient(mesh.providers.url)
    served = mesh.server_env()
    registry = CollectorRegistry()
    sla = Gauge("learnflow_intervention_sla_compliance_ratio", "SLA", ["tenant"], registry=registry)
    tenant = f"mesh-{time.monotonic_ns() % 10**6}"
    sla.labels(tenant).set(0.97)
    metrics_port = free_port()
    server, thread = start_http_server(metrics_port, addr="127.0.0.1", registry=registry)
    monitoring = alerting.Monitoring(
        mesh_dir("learnflow-alerting-mesh-"),
        targets=[f"127.0.0.1:{metrics_port}"],
        receiver_url=f"http://{served['NOTIFY_ALERTS_LISTEN_ADDR']}",
        token=served["NOTIFY_ALERTS_WEBHOOK_TOKEN"],
        fast=True,
    )
    try:
        monitoring.start()
        deadline = time.monotonic() + 30
        while not _query(monitoring.prometheus_url, "learnflow_intervention_sla_compliance_ratio"):
            assert time.monotonic() < deadline, "Prometheus never scraped the gauge"
            time.sleep(0.2)
        before = len(slack.messages("slack"))
        crossed = time.monotonic()
        sla.labels(tenant).set(0.81)

        def arrived() -> list[dict[str, Any]]:
            return [m for m in slack.messages("slack")[before:] if f"tenant {tenant}" in m["text"]]

        while not arrived():
            assert time.monotonic() - crossed < 60, "the alert never reached the local Slack server"
            time.sleep(0.2)
        latency = time.monotonic() - crossed
    finally:
        monitoring.stop()
        shutil.rmtree(monitoring.data_dir, ignore_errors=True)
        server.shutdown()
        thread.join(5)
    [message] = arrived()
    assert message["subject"] == "[FIRING] InterventionSlaBelowTarget", message
    assert "Intervention SLA compliance 81%" in message["text"] and latency < 60
    # It went through the engine: a platform delivery on slack, sent, in the operators' log.
    operator = login(mesh, "operator@demo.test")
    log = rest(mesh, "GET", "/v1/notify/deliveries?platform=true&channel=slack", token=operator)
    assert log.status == 200, log.body
    [delivery] = [d for d in log.body.get("deliveries", []) if tenant in d["body"]]
    assert delivery["status"] == "DELIVERY_STATUS_SENT" and delivery["attempts"] == 1, delivery
    assert delivery["subject"] == "[FIRING] InterventionSlaBelowTarget"
