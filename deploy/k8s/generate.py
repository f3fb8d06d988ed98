"""Writes the per-context Kubernetes manifests from one template.

    python deploy/k8s/generate.py           write deploy/k8s/base/contexts/<ctx>/ and base/kustomization.yaml
    python deploy/k8s/generate.py --check   exit 1 (and name the files) when what is on disk is out of date

The contexts are the folders proto/learnflow/<ctx>/ (except the shared contracts in NOT_CONTEXTS); their
gRPC services are the `service X` declarations in package `learnflow.<ctx>.<version>`. Reading the proto
folder, not the Python packages, keeps this script free of app imports: it needs only PyYAML. Adding a
context is adding its proto folder and running this script; see deploy/k8s/README.md.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = REPO_ROOT / "proto" / "learnflow"
K8S_DIR = REPO_ROOT / "deploy" / "k8s"
CONTEXTS_DIR = "base/contexts"

# Proto folders that hold shared contracts, not deployable contexts.
NOT_CONTEXTS = frozenset({"auth", "ops"})
# Names the rest of the manifest set already uses for its own workloads.
RESERVED_NAMES = frozenset({"gateway", "nats", "postgres", "migrate", "learnflow"})

# Which contexts call a context over gRPC, besides the gateway. EVERY_CONTEXT admits all context pods.
EVERY_CONTEXT = "*"
CALLERS: Mapping[str, tuple[str, ...]] = {
    "identity": (EVERY_CONTEXT,),  # every context fetches the JWKS (IDENTITY_SERVICE_ADDR)
}

NAMESPACE = "learnflow"
IMAGE = "learnflow/learnflow:0.1.0"
CONTAINER = "server"
GRPC_PORT = 50051
METRICS_PORT = 9464
RUN_AS = 10001
REPLICAS = 2
MAX_REPLICAS = 10
CPU_TARGET_PERCENT = 70
RESOURCES: Mapping[str, Mapping[str, str]] = {
    "requests": {"cpu": "250m", "memory": "256Mi"},
    "limits": {"cpu": "1", "memory": "512Mi"},
}
# Health service names (services/runtime/server.py): each hosted service follows readiness, while
# "liveness" answers SERVING as long as the process runs, so a Postgres or NATS outage takes pods out
# of rotation without restarting them.
LIVENESS_SERVICE = "liveness"
# Shutdown budget: preStop sleep (endpoints stop routing here) + LEARNFLOW_SHUTDOWN_GRACE_SECONDS for
# in-flight RPCs (set in base/learnflow.env) must fit in terminationGracePeriodSeconds.
PRE_STOP_SLEEP_SECONDS = 5
TERMINATION_GRACE_SECONDS = 30
GATEWAY_NAME = "gateway"
SHARED_CONFIG = "learnflow-config"
DB_SECRET = "learnflow-db"
MONITORING_NAMESPACE = "monitoring"

PART_OF = {"app.kubernetes.io/part-of": "learnflow"}
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_PACKAGE = re.compile(r"^\s*package\s+([\w.]+)\s*;", re.MULTILINE)
_SERVICE = re.compile(r"^\s*service\s+(\w+)\s*\{", re.MULTILINE)


@dataclass(frozen=True)
class Context:
    name: str
    # Fully qualified gRPC service names, e.g. "learnflow.identity.v1.IdentityService".
    services: tuple[str, ...]

    @property
    def readiness_service(self) -> str:
        """The health service name the readiness probe asks for ("" = the whole server)."""
        return self.services[0] if self.services else ""

    @property
    def headless_service(self) -> str:
        return f"{self.name}-headless"


def discover_contexts(proto_root: Path = PROTO_ROOT) -> list[Context]:
    """Contexts and their gRPC services, read from proto/learnflow/<ctx>/<version>/*.proto."""
    contexts = []
    for folder in sorted(p for p in proto_root.iterdir() if p.is_dir() and p.name not in NOT_CONTEXTS):
        name = folder.name
        if not _DNS_LABEL.match(name) or len(name) > 63 - len("-headless") or name in RESERVED_NAMES:
            raise ValueError(
                f"proto/learnflow/{name}: a context name must be a lowercase DNS label of at most "
                f"{63 - len('-headless')} characters and not one of {sorted(RESERVED_NAMES)}"
            )
        services: list[str] = []
        for proto in sorted(folder.glob("v*/*.proto")):
            text = proto.read_text(encoding="utf-8")
            package = _PACKAGE.search(text)
            if package is None or package.group(1) != f"learnflow.{name}.{proto.parent.name}":
                continue
            services.extend(f"{package.group(1)}.{service}" for service in _SERVICE.findall(text))
        contexts.append(Context(name=name, services=tuple(services)))
    return contexts


def _labels(name: str, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/component": component, **PART_OF}


def _selector(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name}


def _meta(ctx: Context, name: str | None = None) -> dict[str, Any]:
    return {"name": name or ctx.name, "labels": _labels(ctx.name, "context")}


def container_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "fsGroup": RUN_AS,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _grpc_probe(service: str, *, period: int, failures: int) -> dict[str, Any]:
    # Native gRPC probe (grpc.health.v1). `port` must be a number: the schema rejects a port name.
    return {
        "grpc": {"port": GRPC_PORT, "service": service},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def deployment(ctx: Context) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(ctx),
        "spec": {
            "replicas": REPLICAS,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": _selector(ctx.name)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {
                    "labels": _labels(ctx.name, "context"),
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(METRICS_PORT),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": {
                    "serviceAccountName": ctx.name,
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
                    "securityContext": pod_security_context(),
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": _selector(ctx.name)},
                        }
                    ],
                    "containers": [
                        {
                            "name": CONTAINER,
                            "image": IMAGE,
                            "imagePullPolicy": "IfNotPresent",
                            "args": ["serve", "--contexts", ctx.name],
                            "ports": [
                                {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
                                {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
                            ],
                            "envFrom": [
                                {"configMapRef": {"name": SHARED_CONFIG}},
                                {"configMapRef": {"name": f"{ctx.name}-config"}},
                            ],
                            "env": [
                                {
                                    "name": "DATABASE_URL",
                                    "valueFrom": {"secretKeyRef": {"name": DB_SECRET, "key": "DATABASE_URL"}},
                                }
                            ],
                            "startupProbe": _grpc_probe(LIVENESS_SERVICE, period=2, failures=60),
                            "livenessProbe": _grpc_probe(LIVENESS_SERVICE, period=10, failures=3),
                            "readinessProbe": _grpc_probe(ctx.readiness_service, period=5, failures=2),
                            "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SLEEP_SECONDS}}},
                            "resources": {k: dict(v) for k, v in RESOURCES.items()},
                            "securityContext": container_security_context(),
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108
                        }
                    ],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                },
            },
        },
    }


def services(ctx: Context) -> list[dict[str, Any]]:
    grpc_port = {
        "name": "grpc",
        "port": GRPC_PORT,
        "targetPort": "grpc",
        "protocol": "TCP",
        "appProtocol": "kubernetes.io/h2c",
    }
    return [
        {
            # What callers use (IDENTITY_SERVICE_ADDR=identity:50051): one virtual IP, balanced per
            # connection.
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(ctx),
            "spec": {
                "type": "ClusterIP",
                "selector": _selector(ctx.name),
                "ports": [
                    grpc_port,
                    {"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"},
                ],
            },
        },
        {
            # One DNS record per ready pod, so Envoy (STRICT_DNS) balances each request, not each connection.
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(ctx, ctx.headless_service),
            "spec": {"clusterIP": "None", "selector": _selector(ctx.name), "ports": [grpc_port]},
        },
    ]


def service_account(ctx: Context) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(ctx),
        "automountServiceAccountToken": False,
    }


def config_map(ctx: Context) -> dict[str, Any]:
    # Shared settings live in base/learnflow.env (ConfigMap learnflow-config); these follow it in envFrom
    # and so override it for this context only.
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(ctx, f"{ctx.name}-config"),
        "data": {"LEARNFLOW_CONTEXTS": ctx.name, "LEARNFLOW_DB_POOL_SIZE": "10"},
    }


def hpa(ctx: Context) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(ctx),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": ctx.name},
            "minReplicas": REPLICAS,
            "maxReplicas": MAX_REPLICAS,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": CPU_TARGET_PERCENT},
                    },
                }
            ],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    }


def pdb(ctx: Context) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(ctx),
        "spec": {
            "minAvailable": 1,
            "selector": {"matchLabels": _selector(ctx.name)},
            # A pod that never got ready may be evicted, so a crash-looping rollout cannot block a drain.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def callers_of(ctx: Context, contexts: Sequence[Context]) -> list[dict[str, Any]]:
    """NetworkPolicy peers allowed to call ctx on the gRPC port: the gateway plus CALLERS[ctx]."""
    peers: list[dict[str, Any]] = [{"podSelector": {"matchLabels": _selector(GATEWAY_NAME)}}]
    known = {c.name for c in contexts}
    for caller in CALLERS.get(ctx.name, ()):
        if caller == EVERY_CONTEXT:
            peers.append({"podSelector": {"matchLabels": {"app.kubernetes.io/component": "context"}}})
        elif caller in known:
            peers.append({"podSelector": {"matchLabels": _selector(caller)}})
        else:
            raise ValueError(
                f"CALLERS[{ctx.name!r}] names {caller!r}, which is not a context in proto/learnflow/"
            )
    return peers


def network_policy(ctx: Context, contexts: Sequence[Context]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(ctx),
        "spec": {
            "podSelector": {"matchLabels": _selector(ctx.name)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": callers_of(ctx, contexts), "ports": [{"protocol": "TCP", "port": GRPC_PORT}]},
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": MONITORING_NAMESPACE}
                            }
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": METRICS_PORT}],
                },
            ],
        },
    }


CONTEXT_FILES = (
    "serviceaccount.yaml",
    "configmap.yaml",
    "deployment.yaml",
    "service.yaml",
    "hpa.yaml",
    "pdb.yaml",
    "networkpolicy.yaml",
)


def context_documents(ctx: Context, contexts: Sequence[Context]) -> dict[str, list[dict[str, Any]]]:
    return {
        "serviceaccount.yaml": [service_account(ctx)],
        "configmap.yaml": [config_map(ctx)],
        "deployment.yaml": [deployment(ctx)],
        "service.yaml": services(ctx),
        "hpa.yaml": [hpa(ctx)],
        "pdb.yaml": [pdb(ctx)],
        "networkpolicy.yaml": [network_policy(ctx, contexts)],
        "kustomization.yaml": [
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": list(CONTEXT_FILES),
            }
        ],
    }


def base_kustomization(contexts: Sequence[Context]) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": NAMESPACE,
        "labels": [{"pairs": dict(PART_OF), "includeSelectors": False, "includeTemplates": True}],
        "resources": [
            "namespace.yaml",
            "networkpolicy.yaml",
            "migrate-job.yaml",
            "postgres",
            "nats",
            "gateway",
            *(f"contexts/{ctx.name}" for ctx in contexts),
        ],
        # Settings every process shares; overlays and components merge into it (behavior: merge).
        "configMapGenerator": [{"name": SHARED_CONFIG, "envs": ["learnflow.env"]}],
    }


def _dump(documents: Sequence[Mapping[str, Any]], header: str) -> str:
    body = "---\n".join(
        yaml.safe_dump(dict(doc), sort_keys=False, default_flow_style=False, width=110) for doc in documents
    )
    return header + body


def render(contexts: Sequence[Context]) -> dict[str, str]:
    """Every generated file, as {path relative to deploy/k8s: content}."""
    files: dict[str, str] = {}
    for ctx in contexts:
        header = (
            f"# Generated by deploy/k8s/generate.py from proto/learnflow/{ctx.name}/. Do not edit:\n"
            "# change the template in generate.py and run `python deploy/k8s/generate.py`.\n"
        )
        for filename, documents in context_documents(ctx, contexts).items():
            files[f"{CONTEXTS_DIR}/{ctx.name}/{filename}"] = _dump(documents, header)
    files["base/kustomization.yaml"] = _dump(
        [base_kustomization(contexts)],
        "# Generated by deploy/k8s/generate.py: the context list follows proto/learnflow/. Do not edit:\n"
        "# change base_kustomization() in generate.py and run `python deploy/k8s/generate.py`.\n",
    )
    return files


def stale_context_dirs(root: Path, contexts: Sequence[Context]) -> list[Path]:
    """Generated context folders whose proto folder is gone."""
    folder = root / CONTEXTS_DIR
    if not folder.is_dir():
        return []
    names = {ctx.name for ctx in contexts}
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name not in names)


def out_of_date(root: Path, files: Mapping[str, str], contexts: Sequence[Context]) -> list[str]:
    problems = []
    for rel, content in sorted(files.items()):
        path = root / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif path.read_text(encoding="utf-8") != content:
            problems.append(f"{rel}: differs from the template")
    for stale in stale_context_dirs(root, contexts):
        problems.append(f"{stale.relative_to(root)}: no proto/learnflow/{stale.name}/ any more")
    for ctx in contexts:
        extra = {p.name for p in (root / CONTEXTS_DIR / ctx.name).glob("*")} - set(
            context_documents(ctx, contexts)
        )
        problems.extend(f"{CONTEXTS_DIR}/{ctx.name}/{name}: not generated" for name in sorted(extra))
    return problems


def write(root: Path, files: Mapping[str, str], contexts: Sequence[Context]) -> list[str]:
    """Writes the files under root; removes context folders whose proto folder is gone. Returns changes."""
    changed = []
    for stale in stale_context_dirs(root, contexts):
        shutil.rmtree(stale)
        changed.append(f"removed {stale.relative_to(root)}")
    for rel, content in sorted(files.items()):
        path = root / rel
        if path.is_file() and path.read_text(encoding="utf-8") == content:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        changed.append(f"wrote {rel}")
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the generated files are out of date")
    parser.add_argument("--proto", type=Path, default=PROTO_ROOT, help="proto/learnflow folder to read")
    parser.add_argument("--out", type=Path, default=K8S_DIR, help="deploy/k8s folder to write into")
    args = parser.parse_args(argv)
    contexts = discover_contexts(args.proto)
    files = render(contexts)
    if args.check:
        problems = out_of_date(args.out, files, contexts)
        for problem in problems:
            sys.stderr.write(f"{problem}\n")
        if problems:
            sys.stderr.write("run: python deploy/k8s/generate.py\n")
        return 1 if problems else 0
    for change in write(args.out, files, contexts):
        sys.stdout.write(f"{change}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
