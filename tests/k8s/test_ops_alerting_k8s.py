"""The ops alerting component (deploy/k8s/components/ops-alerting): generated from the same files the
local Prometheus and Alertmanager run (deploy/prometheus/), valid, and wiring notify's receiver."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_manifests import K8S, REPO, k8s_tree, kustomize, load_docs, validate

from services.notify.alerts_settings import AlertSettings
from services.runtime.settings import declared

COMPONENT = K8S / "components" / "ops-alerting"


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location(
        "learnflow_prometheus_generate", REPO / "deploy/prometheus/generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


gen = _generator()


def doc(name: str) -> dict[str, Any]:
    (found,) = load_docs(COMPONENT / name)
    return found


def test_the_component_is_up_to_date() -> None:
    assert gen.main(["--check"]) == 0, "run: python deploy/prometheus/generate.py"


def test_the_prometheus_rule_is_rules_yml_with_the_namespace_label(tmp_path: Path) -> None:
    rule = doc("prometheusrule.yaml")
    source = yaml.safe_load((REPO / "deploy/prometheus/rules.yml").read_text())
    for group, original in zip(rule["spec"]["groups"], source["groups"], strict=True):
        for r, o in zip(group["rules"], original["rules"], strict=True):
            assert r["labels"] == {**o["labels"], "namespace": "learnflow"}
            assert {k: v for k, v in r.items() if k != "labels"} == {
                k: v for k, v in o.items() if k != "labels"
            }
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed")
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rule["spec"]))
    done = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_alertmanager_config_routes_like_the_local_one() -> None:
    config = doc("alertmanagerconfig.yaml")["spec"]
    source = yaml.safe_load((REPO / "deploy/prometheus/alertmanager.yml").read_text())
    assert config["route"]["receiver"] == source["route"]["receiver"] == "slack"
    assert config["route"]["groupBy"] == source["route"]["group_by"]
    routes = {r["matchers"][0]["value"]: r["receiver"] for r in config["route"]["routes"]}
    assert routes == {"critical": "pagerduty", "warning": "slack"}
    channels = set(AlertSettings().channels)
    for receiver in config["receivers"]:
        (hook,) = receiver["webhookConfigs"]
        # notify's Service, its receiver port, the channel the receiver accepts.
        assert hook["url"] == f"http://notify.learnflow.svc:{gen.RECEIVER_PORT}/v1/alerts/{receiver['name']}"
        assert receiver["name"] in channels
        assert hook["sendResolved"] is True
        auth = hook["httpConfig"]["authorization"]
        assert auth == {"type": "Bearer", "credentials": {"name": gen.WEBHOOK_SECRET, "key": "token"}}
    assert len(config["inhibitRules"]) == len(source["inhibit_rules"])


def test_the_component_opens_the_receiver_and_renders_valid_objects() -> None:
    copy = Path(tempfile.mkdtemp(prefix="k8s-alerting-")) / "k8s"
    shutil.copytree(k8s_tree(), copy)
    overlay = copy / "overlays" / "with-alerting"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": ["../../base"],
                "components": ["../../components/ops-alerting"],
            }
        )
    )
    try:
        docs = kustomize(overlay)
    finally:
        shutil.rmtree(copy.parent, ignore_errors=True)
    for d in docs:
        validate(d, "kubectl kustomize (base + ops-alerting)")
    by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    assert {
        ("PrometheusRule", "learnflow-ops-alerts"),
        ("AlertmanagerConfig", "learnflow-ops-alerts"),
    } <= set(by)
    assert all(by[k]["metadata"]["namespace"] == "learnflow" for k in by if k[0] != "Namespace")
    port = gen.RECEIVER_PORT
    service = by[("Service", "notify")]["spec"]["ports"]
    assert {"name": "alerts", "port": port, "targetPort": port, "protocol": "TCP"} in service
    ingress = by[("NetworkPolicy", "notify")]["spec"]["ingress"]
    opened = [r for r in ingress if r["ports"] == [{"protocol": "TCP", "port": port}]]
    assert opened and all(
        peer == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        for r in opened
        for peer in r["from"]
    ), "only the monitoring namespace (Alertmanager) reaches the receiver"
    container = by[("Deployment", "notify")]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "alerts", "containerPort": port, "protocol": "TCP"} in container["ports"]
    token = next(e for e in container["env"] if e["name"] == gen.TOKEN_ENV)
    assert token["valueFrom"]["secretKeyRef"] == {"name": gen.WEBHOOK_SECRET, "key": "token"}
    config = by[("ConfigMap", "notify-config")]["data"]
    assert config[gen.LISTEN_ENV] == f"0.0.0.0:{port}"
    # The variables it sets are notify's declared settings, the token one a secret.
    settings = {s.env: s for s in declared(AlertSettings)}
    assert settings[gen.LISTEN_ENV].secret is False and settings[gen.TOKEN_ENV].secret is True
    # Other contexts are untouched.
    assert gen.LISTEN_ENV not in by[("ConfigMap", "identity-config")]["data"]
