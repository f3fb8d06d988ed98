# ruff: noqa: E501  (PromQL reads best on one line)
"""Writes deploy/k8s/components/temporal/grafana-dashboard.yaml: the system-health dashboard (FR 12) as a ConfigMap that Grafana's
dashboard sidecar loads (label grafana_dashboard=1). Every query names a metric the mesh exports;
tests/workflows/integration/test_observability.py scrapes a running mesh and checks each one.

    .venv/bin/python services/workflows/deploy/make_dashboard.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parents[3] / "deploy" / "k8s" / "components" / "temporal"
PANELS: list[tuple[str, str, str]] = [
    ("Cross-system calls / s", "sum by (capability, outcome) (rate(cross_system_calls_total[5m]))", "reqps"),
    (
        "Cross-system call p95",
        "histogram_quantile(0.95, sum by (le, capability) (rate(cross_system_call_duration_seconds_bucket[5m])))",
        "s",
    ),
    (
        "Workflow runs ended / s",
        "sum by (template, status) (rate(workflows_runs_finished_total[5m]))",
        "reqps",
    ),
    ("Workflow step attempts / s", "sum by (type, outcome) (rate(workflows_steps_total[5m]))", "reqps"),
    ("RPC errors / s", 'sum by (method) (rate(learnflow_rpc_total{code!="OK"}[5m]))', "reqps"),
    (
        "RPC p95",
        "histogram_quantile(0.95, sum by (le) (rate(learnflow_rpc_duration_seconds_bucket[5m])))",
        "s",
    ),
    ("Dependencies up", "min by (dependency) (learnflow_dependency_up)", "none"),
    (
        "Outbound requests / s",
        "sum by (destination, outcome) (rate(learnflow_outbound_requests_total[5m]))",
        "reqps",
    ),
    ("Outbound breakers (2 = open)", "max by (destination) (learnflow_outbound_breaker_state)", "none"),
    ("Outbox backlog", "sum by (context) (learnflow_outbox_pending)", "none"),
    ("Worker restarts", "sum by (worker) (increase(learnflow_worker_restarts_total[1h]))", "none"),
]


def dashboard() -> dict[str, Any]:
    return {
        "title": "LearnFlow system health",
        "uid": "learnflow-health",
        "schemaVersion": 39,
        "time": {"from": "now-1h", "to": "now"},
        "panels": [
            {
                "id": i + 1,
                "type": "timeseries",
                "title": title,
                "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "targets": [{"refId": "A", "expr": expr, "datasource": {"type": "prometheus"}}],
            }
            for i, (title, expr, unit) in enumerate(PANELS)
        ],
    }


def configmap() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "learnflow-health-dashboard",
            "labels": {"grafana_dashboard": "1", "app.kubernetes.io/part-of": "learnflow"},
        },
        "data": {"learnflow-health.json": json.dumps(dashboard(), indent=2)},
    }


class _Literal(yaml.SafeDumper):
    """Multi-line strings as YAML literal blocks (the dashboard's JSON stays readable)."""


_Literal.add_representer(
    str,
    lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v, style="|" if "\n" in v else None),
)


def main() -> None:
    header = "# Written by services/workflows/deploy/make_dashboard.py: edit PANELS there and run it.\n"
    (HERE / "grafana-dashboard.yaml").write_text(
        header + yaml.dump(configmap(), Dumper=_Literal, sort_keys=False)
    )


if __name__ == "__main__":
    main()
