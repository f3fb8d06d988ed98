"""`learnflow up`'s monitoring: the local mesh with_monitoring starts Debian's Prometheus (scraping the
mesh's /metrics, with deploy/prometheus/rules.yml loaded) and Alertmanager (routing to notify's
receiver address, which the mesh hands `learnflow serve`), and stops them with the mesh."""

from __future__ import annotations

import json
import shutil
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.runtime.local import alerting
from services.runtime.local.mesh import LocalMesh
from services.runtime.local.procs import free_port
from services.runtime.testing import free_ports, mesh_dir, mesh_env

pytestmark = pytest.mark.skipif(not alerting.available(), reason="prometheus/alertmanager not installed")


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as reply:
        return json.loads(reply.read())


def _query(base: str, promql: str) -> list[Any]:
    return list(_get(f"{base}/api/v1/query?query={urllib.parse.quote(promql)}")["data"]["result"])


def test_the_local_mesh_runs_prometheus_and_alertmanager_on_its_metrics() -> None:
    root = mesh_dir("learnflow-mesh-monitoring-")
    env = mesh_env(
        LEARNFLOW_PROMETHEUS_PORT=str(free_port()),
        LEARNFLOW_ALERTMANAGER_PORT=str(free_port()),
        LEARNFLOW_ALERT_RECEIVER_PORT=str(free_port()),
    )
    mesh = LocalMesh(root, free_ports(), env=env, serve_output=root / "serve.log", with_monitoring=True)
    try:
        mesh.start()
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
        token_file = am["receivers"][0]["webhook_configs"][0]["http_config"]["authorization"][
            "credentials_file"
        ]
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
    finally:
        mesh.stop()
        shutil.rmtree(root, ignore_errors=True)
    assert mesh.monitoring.prometheus is None and mesh.monitoring.alertmanager is None
