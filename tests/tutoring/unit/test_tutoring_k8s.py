"""tutoring's manifests (deploy/k8s/base/contexts/tutoring), checked offline against what its ContextSpec
says: it calls the sandbox and progress (their addresses, their NetworkPolicies, its egress), it reaches
the model provider outside the cluster, and its API key comes from a Secret.

The shared manifest helpers are tests/k8s/k8s_manifests.py (tests/k8s is put on sys.path for them).
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlsplit

from services.runtime.contexts import available_contexts, load_contexts

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "k8s"))

from k8s_manifests import BASE, Doc, base_objects, context_deployment, gen, match_labels, pod_spec

from services.tutoring.app import CONTEXT
from services.tutoring.providers.settings import AGENTS, DEFAULT_BASE_URL

TUTORING = CONTEXT.name


def labels_of(name: str) -> dict[str, str]:
    return dict(context_deployment(name)["spec"]["template"]["metadata"]["labels"])


def grpc_egress_targets(policy: Doc) -> set[str]:
    return {
        name
        for name in (c.name for c in gen.discover_contexts())
        for rule in policy["spec"]["egress"]
        if rule["ports"] == [{"protocol": "TCP", "port": gen.GRPC_PORT}]
        for peer in rule["to"]
        if "podSelector" in peer and match_labels(peer["podSelector"], labels_of(name))
    }


def test_tutoring_calls_the_sandbox_and_progress_and_they_admit_it() -> None:
    assert set(CONTEXT.calls) == {"sandbox", "progress"}
    config = base_objects("ConfigMap")[f"{TUTORING}-config"]["data"]
    services = base_objects("Service")
    policies = base_objects("NetworkPolicy")
    for callee in CONTEXT.calls:
        host, _, port = config[f"{callee.upper()}_SERVICE_ADDR"].partition(":")
        assert host in services and int(port) == gen.GRPC_PORT
        (grpc_rule,) = [
            r for r in policies[callee]["spec"]["ingress"] if r["ports"][0]["port"] == gen.GRPC_PORT
        ]
        assert any(match_labels(peer["podSelector"], labels_of(TUTORING)) for peer in grpc_rule["from"]), (
            f"{callee} does not admit tutoring"
        )
    assert grpc_egress_targets(policies[TUTORING]) == {"identity", "sandbox", "progress"}
    # Their ingress admits the gateway and exactly the contexts whose spec calls them (tutoring among
    # them; mtss also reads progress's class summaries), nobody else.
    specs = load_contexts(available_contexts())
    for callee in CONTEXT.calls:
        (grpc_rule,) = [
            r for r in policies[callee]["spec"]["ingress"] if r["ports"][0]["port"] == gen.GRPC_PORT
        ]
        callers = {"gateway", *(c.name for c in specs if callee in c.calls)}
        admitted = {p["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for p in grpc_rule["from"]}
        assert admitted == callers, grpc_rule


def test_tutoring_reaches_the_model_provider_on_public_addresses_only() -> None:
    policy = base_objects("NetworkPolicy")[TUTORING]
    provider = urlsplit(DEFAULT_BASE_URL)
    assert f"{provider.hostname}:443" in policy["metadata"]["annotations"]["learnflow.dev/egress-hosts"]
    (rule,) = [r for r in policy["spec"]["egress"] if r["ports"] == [{"protocol": "TCP", "port": 443}]]
    blocks = [peer["ipBlock"] for peer in rule["to"]]
    assert [b["cidr"] for b in blocks] == ["0.0.0.0/0", "::/0"]
    # Not the cloud metadata endpoint, not the cluster's own ranges.
    assert {"169.254.0.0/16", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} <= set(blocks[0]["except"])
    # The contexts that declare no egress reach no public address at all.
    declared = {spec.name for spec in load_contexts(available_contexts()) if spec.egress}
    for name, other in base_objects("NetworkPolicy").items():
        if (
            name not in declared
            and other["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "context"
        ):
            assert "ipBlock" not in str(other["spec"].get("egress")), name


def test_the_api_key_comes_from_an_optional_secret() -> None:
    (container,) = pod_spec(context_deployment(TUTORING))["containers"]
    key = next(e for e in container["env"] if e["name"] == "OPENAI_API_KEY")
    assert key["valueFrom"]["secretKeyRef"] == {
        "name": "learnflow-openai",
        "key": "OPENAI_API_KEY",
        "optional": True,  # without it the agents answer offline
    }
    assert "OPENAI_API_KEY" not in base_objects("ConfigMap")[f"{TUTORING}-config"]["data"]


def test_the_deployment_says_how_an_agent_gets_pods_of_its_own() -> None:
    header = (BASE / "contexts" / TUTORING / "deployment.yaml").read_text().split("apiVersion:")[0]
    assert "TUTORING_AGENTS=<agent>" in header and ",".join(AGENTS) in header
