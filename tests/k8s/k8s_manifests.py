"""Reading and checking the Kubernetes manifests (deploy/k8s): shared by tests/k8s (the template) and the
context-specific manifest tests kept next to their context (tests/sandbox/integration/test_sandbox_k8s.py,
tests/tutoring/unit/test_tutoring_k8s.py), which import it by putting tests/k8s on sys.path.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import kubernetes_validate
import pytest
import yaml
from monitoring_crds import check_monitoring_resource

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAYS = ("dev", "prod")
K8S_VERSION = "1.30"
NAMESPACE = "learnflow"
# Custom resources: no schema in kubernetes-validate; checked by hand below.
CUSTOM_KINDS = {
    ("postgresql.cnpg.io/v1", "Cluster"),
    # The Prometheus Operator's, in components/ops-alerting (tests/k8s/test_ops_alerting_k8s.py checks
    # them against the files they are generated from).
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig"),
}
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
# Referenced with optional: true (pods start without them): the workload secrets, and the Secrets the
# contexts' specs mark optional.
OPTIONAL_SECRETS = {gen.WORKLOAD_SECRET} | {s.secret for c in CONTEXTS for s in c.secrets if s.optional}


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


def generator_sources(generator: Doc) -> Iterator[str]:
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
            t.generator_inputs.update((k.folder / src).resolve() for src in generator_sources(generator))
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
    if doc["apiVersion"].startswith("monitoring.coreos.com/"):
        check_monitoring_resource(doc, where)
        return
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


def context_deployment(name: str) -> Doc:
    return base_objects("Deployment")[name]


def env_file(path: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#")
    )
    return {key: value for key, value in pairs}


@cache
def k8s_tree() -> Path:
    """deploy/k8s, or a copy with a placeholder envoy.yaml while the gateway generator has not run."""
    if ENVOY_CONFIG.is_file():
        return K8S
    copy = Path(tempfile.mkdtemp(prefix="k8s-")) / "k8s"
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


def project_version() -> str:
    match = re.search(r'^version\s*=\s*"([^"]+)"', (REPO / "pyproject.toml").read_text(), re.MULTILINE)
    assert match
    return match.group(1)


def dockerfile() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]
