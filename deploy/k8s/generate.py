"""Writes the per-context Kubernetes manifests from one template.

    python deploy/k8s/generate.py           write deploy/k8s/base/contexts/<ctx>/ and base/kustomization.yaml
    python deploy/k8s/generate.py --check   exit 1 (and name the files) when what is on disk is out of date

The contexts are the ContextSpecs of services/<ctx>/app.py (services/runtime/contexts.py), the same list
the server runs. Everything this script knows about a context comes from its spec: its gRPC services, the
contexts it calls (their NetworkPolicy ingress, its egress, <CONTEXT>_SERVICE_ADDR in its ConfigMap), the
hosts outside the cluster it reaches, the settings that come from Secrets, and its deployment traits (node
pool, resources, replicas, seccomp profile, extra manifests, repository folders shipped as ConfigMaps,
notes). No context is named here: every context gets the same template, and what one needs beyond it is
written once, in its own folder. Adding a context is adding its package and running this script; see
deploy/k8s/README.md.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # run as a script: import the services' specs from the repository
    sys.path.insert(0, str(REPO_ROOT))

from services.runtime.contexts import (  # noqa: E402
    IDENTITY,
    SERVICES_DIR,
    ContextSpec,
    FolderMount,
    SeccompProfile,
    available_contexts,
    load_contexts,
)
from services.runtime.settings import Setting, declared, service_addr_env, workload_secret_env  # noqa: E402

K8S_DIR = REPO_ROOT / "deploy" / "k8s"
CONTEXTS_DIR = "base/contexts"

# Names the rest of the manifest set already uses for its own workloads.
RESERVED_NAMES = frozenset({"gateway", "nats", "postgres", "migrate", "learnflow"})
# Each context's workload secret (services/runtime/workload.py), and the table of them all.
WORKLOAD_SECRET = "learnflow-workloads"

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
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def readiness_service(ctx: ContextSpec) -> str:
    """The health service name the readiness probe asks for ("" = the whole server)."""
    return ctx.services[0] if ctx.services else ""


def headless_service(ctx: ContextSpec) -> str:
    return f"{ctx.name}-headless"


def discover_contexts() -> list[ContextSpec]:
    """Every context's spec, as the server loads them, checked for what the manifests need."""
    contexts = load_contexts(available_contexts())
    check(contexts)
    return contexts


def check(contexts: Sequence[ContextSpec]) -> None:
    """Refuses specs the manifests cannot express. Raises ValueError naming the context."""
    known = {c.name for c in contexts}
    for ctx in contexts:
        where = f"services/{ctx.name}/app.py"
        if (
            not _DNS_LABEL.match(ctx.name)
            or len(ctx.name) > 63 - len("-headless")
            or ctx.name in RESERVED_NAMES
        ):
            raise ValueError(
                f"{where}: a context name must be a lowercase DNS label of at most "
                f"{63 - len('-headless')} characters and not one of {sorted(RESERVED_NAMES)}"
            )
        unknown = [c for c in ctx.calls if c not in known]
        if unknown:
            raise ValueError(f"{where}: ContextSpec.calls names {unknown}, not contexts")
        settings = {s.env: s for s in own_settings(ctx)}
        for env in ctx.deploy.config:
            _check_setting(where, "deploy.config", env, settings, secret=False)
        for secret in ctx.secrets:
            _check_setting(where, "secrets", secret.env, settings, secret=True)
        if ctx.deploy.cpu_limit_env:
            _check_setting(where, "deploy.cpu_limit_env", ctx.deploy.cpu_limit_env, settings, secret=False)
        for egress in ctx.egress:
            if egress.setting and egress.setting not in settings:
                raise ValueError(f"{where}: Egress names {egress.setting}, not a declared setting")
        for mount in ctx.deploy.folders:
            _check_folder(where, mount, settings)
        names = [folder_config_map_name(ctx, m) for m in ctx.deploy.folders]
        if len(set(names)) < len(names):
            raise ValueError(f"{where}: deploy.folders: two folders with one name ({names})")


def _check_folder(where: str, mount: FolderMount, settings: Mapping[str, Setting]) -> None:
    _check_setting(where, "deploy.folders", mount.setting, settings, secret=False)
    if not PurePosixPath(mount.mount_path).is_absolute() or mount.mount_path in ("/", "/tmp"):  # noqa: S108
        raise ValueError(f"{where}: deploy.folders: {mount.mount_path!r} must be an absolute path of its own")
    if not (REPO_ROOT / mount.folder).is_dir():
        raise ValueError(f"{where}: deploy.folders: {mount.folder}/ is not a folder of the repository")
    for path in folder_files(mount):
        if not _CONFIG_KEY.match(path.name):
            raise ValueError(
                f"{where}: {mount.folder}/{path.name}: not a valid ConfigMap key ([-._a-zA-Z0-9]+)"
            )


def folder_files(mount: FolderMount) -> list[Path]:
    """The folder's files shipped in its ConfigMap: its patterns, minus its exclusions, sorted."""
    folder = REPO_ROOT / mount.folder
    found = {p for pattern in mount.patterns for p in folder.glob(pattern) if p.is_file()}
    return sorted(p for p in found if not any(p.match(x) for x in mount.exclude))


def folder_config_map_name(ctx: ContextSpec, mount: FolderMount) -> str:
    return f"{ctx.name}-{PurePosixPath(mount.folder).name}".replace("_", "-").lower()


def folder_config_map(ctx: ContextSpec, mount: FolderMount) -> dict[str, Any]:
    """The folder's files as a ConfigMap, without kustomize's name hash: the pods mount it by this name,
    and an edit (kubectl edit, or an overlay's configMapGenerator with behavior: merge) reaches them
    in place, through the kubelet's symlink swap, with no restart."""
    meta = _meta(ctx, folder_config_map_name(ctx, mount))
    meta["annotations"] = {
        "learnflow.dev/source": f"{mount.folder}/ (generated: edit there and run make gen, or override here)",
        "learnflow.dev/mounted-at": mount.mount_path,
    }
    if mount.why:
        meta["annotations"]["learnflow.dev/why"] = mount.why
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": {p.name: p.read_text(encoding="utf-8") for p in folder_files(mount)},
    }


def folder_manifest(ctx: ContextSpec, mount: FolderMount) -> str:
    return f"{folder_config_map_name(ctx, mount)}-configmap.yaml"


def own_settings(ctx: ContextSpec) -> list[Setting]:
    return declared(ctx.settings) if ctx.settings is not None else []


def _check_setting(where: str, what: str, env: str, settings: Mapping[str, Setting], *, secret: bool) -> None:
    setting = settings.get(env)
    if setting is None:
        raise ValueError(f"{where}: {what} names {env}, not a declared setting of the context")
    if setting.local_only:
        raise ValueError(f"{where}: {what} sets {env}: a local-development setting no manifest may set")
    if setting.secret != secret:
        kind = "a Secret (ContextSpec.secrets)" if setting.secret else "its ConfigMap (deploy.config)"
        raise ValueError(f"{where}: {what} names {env}, which belongs in {kind}")


def _labels(name: str, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/component": component, **PART_OF}


def _selector(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name}


def _meta(ctx: ContextSpec, name: str | None = None) -> dict[str, Any]:
    return {"name": name or ctx.name, "labels": _labels(ctx.name, "context")}


def _seccomp_profile(seccomp: SeccompProfile | None) -> dict[str, str]:
    if seccomp is None:
        return {"type": "RuntimeDefault"}
    return {"type": "Localhost", "localhostProfile": seccomp.localhost}


def container_security_context(seccomp: SeccompProfile | None = None) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": _seccomp_profile(seccomp),
    }


def pod_security_context(seccomp: SeccompProfile | None = None) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "fsGroup": RUN_AS,
        "seccompProfile": _seccomp_profile(seccomp),
    }


def _grpc_probe(service: str, *, period: int, failures: int) -> dict[str, Any]:
    # Native gRPC probe (grpc.health.v1). `port` must be a number: the schema rejects a port name.
    return {
        "grpc": {"port": GRPC_PORT, "service": service},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


# --- what a context's spec asks for -----------------------------------------------------------------

NODE_POOL_LABEL = "learnflow.dev/pool"
# A Localhost seccomp profile is a path relative to the kubelet's seccomp root (<kubelet --root-dir>/seccomp).
KUBELET_SECCOMP_ROOT = "/var/lib/kubelet/seccomp"
# Outside the cluster: every address but the private, link-local (cloud metadata) and loopback ranges.
# NetworkPolicies cannot name hosts, so a context's Egress opens its port to these; the hosts are named in
# the policy's annotation (for CNIs that can enforce names, e.g. Cilium's toFQDNs).
PUBLIC_IPV4_EXCEPT = (
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
)
PUBLIC_IPV6_EXCEPT = ("::1/128", "fc00::/7", "fe80::/10")


def seccomp_node_path(seccomp: SeccompProfile) -> str:
    return f"{KUBELET_SECCOMP_ROOT}/{seccomp.localhost}"


def _namespace(name: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def _tcp(port: int) -> dict[str, Any]:
    return {"protocol": "TCP", "port": port}


DNS_NAMESPACE = "kube-system"
DNS_PODS = {"k8s-app": "kube-dns"}  # CoreDNS / kube-dns, as kubeadm, GKE, EKS and AKS label them
POSTGRES_PODS = {"cnpg.io/cluster": "postgres"}  # the CloudNativePG instances (base/postgres)
POSTGRES_PORT = 5432
NATS_CLIENT_PORT = 4222
OTLP_GRPC_PORT = 4317  # components/tracing: otel-collector.monitoring:4317


def context_egress() -> tuple[dict[str, Any], ...]:
    """The egress every context needs: DNS, PostgreSQL, NATS, the token issuer (contexts.IDENTITY: JWKS
    and workload tokens, implied for everyone) and the OTLP collector in the monitoring namespace. No
    Kubernetes API, no cloud metadata endpoint, no Internet: a context's calls and egress add to it."""
    return (
        {
            "to": [{**_namespace(DNS_NAMESPACE), "podSelector": {"matchLabels": dict(DNS_PODS)}}],
            "ports": [{"protocol": "UDP", "port": 53}, _tcp(53)],
        },
        {"to": [{"podSelector": {"matchLabels": dict(POSTGRES_PODS)}}], "ports": [_tcp(POSTGRES_PORT)]},
        {"to": [{"podSelector": {"matchLabels": _selector("nats")}}], "ports": [_tcp(NATS_CLIENT_PORT)]},
        {"to": [{"podSelector": {"matchLabels": _selector(IDENTITY)}}], "ports": [_tcp(GRPC_PORT)]},
        {"to": [_namespace(MONITORING_NAMESPACE)], "ports": [_tcp(OTLP_GRPC_PORT)]},
    )


def context_egress_of(ctx: ContextSpec) -> list[dict[str, Any]]:
    """All a context may reach: what every context needs, the contexts it calls, and its hosts outside
    the cluster (their ports, to public addresses only)."""
    rules = [dict(rule) for rule in context_egress()]
    for callee in ctx.calls:
        rules.append(
            {"to": [{"podSelector": {"matchLabels": _selector(callee)}}], "ports": [_tcp(GRPC_PORT)]}
        )
    for port in sorted({port for _host, port, _why in external_hosts(ctx)}):
        rules.append(
            {
                "to": [
                    {"ipBlock": {"cidr": "0.0.0.0/0", "except": list(PUBLIC_IPV4_EXCEPT)}},
                    {"ipBlock": {"cidr": "::/0", "except": list(PUBLIC_IPV6_EXCEPT)}},
                ],
                "ports": [_tcp(port)],
            }
        )
    return rules


def external_hosts(ctx: ContextSpec) -> list[tuple[str, int, str]]:
    """(host, port, why) of each Egress; a URL setting gives the host and port of its value in the
    context's ConfigMap (deploy.config), else of its default."""
    settings = {s.env: s for s in own_settings(ctx)}
    found = []
    for egress in ctx.egress:
        host, port = egress.host, egress.port
        if egress.setting:
            value = ctx.deploy.config.get(egress.setting) or str(settings[egress.setting].default or "")
            parts = urlsplit(value)
            host = parts.hostname or ""
            port = parts.port or (443 if parts.scheme == "https" else 80)
        if not host:
            raise ValueError(f"services/{ctx.name}/app.py: an Egress without a host ({egress})")
        found.append((host, port, egress.why))
    return found


def workload_env(ctx: ContextSpec) -> list[dict[str, Any]]:
    """This context's workload secret (optional: a context that calls no other needs none)."""
    return [
        {
            "name": workload_secret_env(ctx.name),
            "valueFrom": {"secretKeyRef": {"name": WORKLOAD_SECRET, "key": ctx.name, "optional": True}},
        }
    ]


def secret_env(ctx: ContextSpec) -> list[dict[str, Any]]:
    """The context's settings that come from Secrets (ContextSpec.secrets)."""
    found = []
    for s in ctx.secrets:
        ref: dict[str, Any] = {"name": s.secret, "key": s.key or s.env}
        if s.optional:
            ref["optional"] = True
        found.append({"name": s.env, "valueFrom": {"secretKeyRef": ref}})
    return found


def trait_env(ctx: ContextSpec) -> list[dict[str, Any]]:
    """Settings the deployment traits set from the pod itself (the CPU limit, in whole CPUs)."""
    if not ctx.deploy.cpu_limit_env:
        return []
    ref = {"containerName": CONTAINER, "resource": "limits.cpu", "divisor": "1"}
    return [{"name": ctx.deploy.cpu_limit_env, "valueFrom": {"resourceFieldRef": ref}}]


def node_annotations(ctx: ContextSpec) -> dict[str, str]:
    """What the node must provide (deploy/k8s/README.md says why and how to check it). On the
    Deployment's metadata, not the pod template: editing them does not roll the pods."""
    traits, found = ctx.deploy, {}
    if traits.node_pool:
        found["learnflow.dev/node-pool"] = (
            f"{NODE_POOL_LABEL}={traits.node_pool} (node label, and taint NoSchedule)"
        )
    if traits.seccomp is not None:
        found["learnflow.dev/node-seccomp-profile"] = (
            f"{seccomp_node_path(traits.seccomp)} ({traits.seccomp.filename})"
        )
    found.update({f"learnflow.dev/{key}": value for key, value in traits.node_requirements.items()})
    return found


def notes(ctx: ContextSpec) -> list[str]:
    """The spec's notes, with the generator's constants filled in."""
    seccomp = ctx.deploy.seccomp
    values = {
        "node_pool_label": NODE_POOL_LABEL,
        "run_as": RUN_AS,
        "seccomp_node_path": seccomp_node_path(seccomp) if seccomp else "",
        "seccomp_file": seccomp.filename if seccomp else "",
    }
    return [line.format(**values) for line in ctx.deploy.notes]


def replicas(ctx: ContextSpec) -> int:
    return ctx.deploy.replicas or REPLICAS


def deployment(ctx: ContextSpec) -> dict[str, Any]:
    traits = ctx.deploy
    pool: dict[str, Any] = {}
    if traits.node_pool:
        pool = {
            "nodeSelector": {NODE_POOL_LABEL: traits.node_pool},
            "tolerations": [
                {
                    "key": NODE_POOL_LABEL,
                    "operator": "Equal",
                    "value": traits.node_pool,
                    "effect": "NoSchedule",
                }
            ],
        }
    metadata = _meta(ctx)
    if annotations := node_annotations(ctx):
        metadata["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": replicas(ctx),
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
                    "securityContext": pod_security_context(traits.seccomp),
                    **pool,
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
                                },
                                *workload_env(ctx),
                                *secret_env(ctx),
                                *trait_env(ctx),
                            ],
                            "startupProbe": _grpc_probe(LIVENESS_SERVICE, period=2, failures=60),
                            "livenessProbe": _grpc_probe(LIVENESS_SERVICE, period=10, failures=3),
                            "readinessProbe": _grpc_probe(readiness_service(ctx), period=5, failures=2),
                            "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SLEEP_SECONDS}}},
                            "resources": {k: dict(v) for k, v in (traits.resources or RESOURCES).items()},
                            "securityContext": container_security_context(traits.seccomp),
                            "volumeMounts": [
                                {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108
                                *(
                                    # The whole volume, never a subPath: a subPath mount is not
                                    # updated when the ConfigMap changes.
                                    {
                                        "name": folder_config_map_name(ctx, m),
                                        "mountPath": m.mount_path,
                                        "readOnly": True,
                                    }
                                    for m in traits.folders
                                ),
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                        *(
                            {
                                "name": folder_config_map_name(ctx, m),
                                "configMap": {"name": folder_config_map_name(ctx, m)},
                            }
                            for m in traits.folders
                        ),
                    ],
                },
            },
        },
    }


def services(ctx: ContextSpec) -> list[dict[str, Any]]:
    grpc_port = {
        "name": "grpc",
        "port": GRPC_PORT,
        "targetPort": "grpc",
        "protocol": "TCP",
        "appProtocol": "kubernetes.io/h2c",
    }
    return [
        {
            # What callers use (<CONTEXT>_SERVICE_ADDR=<context>:50051): one virtual IP, balanced per
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
            "metadata": _meta(ctx, headless_service(ctx)),
            "spec": {"clusterIP": "None", "selector": _selector(ctx.name), "ports": [grpc_port]},
        },
    ]


def service_account(ctx: ContextSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(ctx),
        "automountServiceAccountToken": False,
    }


def config_map(ctx: ContextSpec) -> dict[str, Any]:
    # Shared settings live in base/learnflow.env (ConfigMap learnflow-config); these follow it in envFrom
    # and so override it for this context only: where the contexts it calls are, and its traits' settings.
    addresses = {service_addr_env(callee): f"{callee}:{GRPC_PORT}" for callee in ctx.calls}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(ctx, f"{ctx.name}-config"),
        "data": {
            "LEARNFLOW_CONTEXTS": ctx.name,
            "LEARNFLOW_DB_POOL_SIZE": "10",
            **addresses,
            **{m.setting: m.mount_path for m in ctx.deploy.folders},
            **dict(ctx.deploy.config),
        },
    }


def hpa(ctx: ContextSpec) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(ctx),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": ctx.name},
            "minReplicas": replicas(ctx),
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


def pdb(ctx: ContextSpec) -> dict[str, Any]:
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


def callers_of(ctx: ContextSpec, contexts: Sequence[ContextSpec]) -> list[dict[str, Any]]:
    """NetworkPolicy peers allowed to call ctx on the gRPC port: the gateway, and the contexts whose spec
    says they call it; every context calls the token issuer (contexts.IDENTITY: JWKS)."""
    peers: list[dict[str, Any]] = [{"podSelector": {"matchLabels": _selector(GATEWAY_NAME)}}]
    if ctx.name == IDENTITY:
        peers.append({"podSelector": {"matchLabels": {"app.kubernetes.io/component": "context"}}})
        return peers
    peers.extend({"podSelector": {"matchLabels": _selector(c.name)}} for c in contexts if ctx.name in c.calls)
    return peers


def network_policy(ctx: ContextSpec, contexts: Sequence[ContextSpec]) -> dict[str, Any]:
    metadata = _meta(ctx)
    if hosts := external_hosts(ctx):
        # NetworkPolicies cannot name hosts: the port is open to public addresses, the hosts are named here.
        metadata["annotations"] = {
            "learnflow.dev/egress-hosts": ", ".join(
                f"{host}:{port}" + (f" ({why})" if why else "") for host, port, why in hosts
            )
        }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata,
        "spec": {
            "podSelector": {"matchLabels": _selector(ctx.name)},
            "policyTypes": ["Ingress", "Egress"],
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
            "egress": context_egress_of(ctx),
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


def context_documents(ctx: ContextSpec, contexts: Sequence[ContextSpec]) -> dict[str, list[dict[str, Any]]]:
    folders = {folder_manifest(ctx, m): [folder_config_map(ctx, m)] for m in ctx.deploy.folders}
    return {
        **folders,
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
                "resources": [
                    *CONTEXT_FILES,
                    *folders,
                    *(Path(p).name for p in ctx.deploy.extra_manifests),
                ],
            }
        ],
    }


def base_kustomization(contexts: Sequence[ContextSpec]) -> dict[str, Any]:
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
            "console",
            *(f"contexts/{ctx.name}" for ctx in contexts),
        ],
        # Settings every process shares; overlays and components merge into it (behavior: merge).
        "configMapGenerator": [{"name": SHARED_CONFIG, "envs": ["learnflow.env"]}],
    }


class _FilesDumper(yaml.SafeDumper):
    """Writes multi-line strings (a file's content in a ConfigMap) as literal blocks, as they read in
    their own file, instead of one escaped line."""


def _literal(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_FilesDumper.add_representer(str, _literal)


def _dump(documents: Sequence[Mapping[str, Any]], header: str, *, files: bool = False) -> str:
    if files:
        return header + "---\n".join(
            yaml.dump(dict(doc), Dumper=_FilesDumper, sort_keys=False, allow_unicode=True, width=110)
            for doc in documents
        )
    body = "---\n".join(
        yaml.safe_dump(dict(doc), sort_keys=False, default_flow_style=False, width=110) for doc in documents
    )
    return header + body


def context_files(ctx: ContextSpec, contexts: Sequence[ContextSpec]) -> dict[str, str]:
    """The files of base/contexts/<ctx>/, as {file name: content}: the manifests, the context's seccomp
    profile if it has one (for the nodes, not for kustomize), and its extra manifests."""
    header = (
        f"# Generated by deploy/k8s/generate.py from the ContextSpec in services/{ctx.name}/app.py. Do not\n"
        "# edit: change the spec or the template in generate.py and run `python deploy/k8s/generate.py`.\n"
    )
    lines = notes(ctx)
    comment = "".join(f"#\n# {line}\n" if i == 0 else f"# {line}\n" for i, line in enumerate(lines))
    files = {}
    folders = {folder_manifest(ctx, m) for m in ctx.deploy.folders}
    for filename, documents in context_documents(ctx, contexts).items():
        files[filename] = _dump(
            documents,
            header + (comment if filename == "deployment.yaml" else ""),
            files=filename in folders,
        )
    if ctx.deploy.seccomp is not None:
        files[ctx.deploy.seccomp.filename] = json.dumps(ctx.deploy.seccomp.profile, indent=2) + "\n"
    for extra in ctx.deploy.extra_manifests:
        name = Path(extra).name
        if name in files:
            raise ValueError(f"services/{ctx.name}/{extra}: its name clashes with a generated file")
        files[name] = (SERVICES_DIR / ctx.name / extra).read_text(encoding="utf-8")
    return files


def render(contexts: Sequence[ContextSpec]) -> dict[str, str]:
    """Every generated file, as {path relative to deploy/k8s: content}."""
    files: dict[str, str] = {}
    for ctx in contexts:
        for filename, content in context_files(ctx, contexts).items():
            files[f"{CONTEXTS_DIR}/{ctx.name}/{filename}"] = content
    files["base/kustomization.yaml"] = _dump(
        [base_kustomization(contexts)],
        "# Generated by deploy/k8s/generate.py: the context list follows services/*/app.py. Do not edit:\n"
        "# change base_kustomization() in generate.py and run `python deploy/k8s/generate.py`.\n",
    )
    return files


def stale_context_dirs(root: Path, contexts: Sequence[ContextSpec]) -> list[Path]:
    """Generated context folders whose context is gone."""
    folder = root / CONTEXTS_DIR
    if not folder.is_dir():
        return []
    names = {ctx.name for ctx in contexts}
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name not in names)


def out_of_date(root: Path, files: Mapping[str, str], contexts: Sequence[ContextSpec]) -> list[str]:
    problems = []
    for rel, content in sorted(files.items()):
        path = root / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif path.read_text(encoding="utf-8") != content:
            problems.append(f"{rel}: differs from the template")
    for stale in stale_context_dirs(root, contexts):
        problems.append(f"{stale.relative_to(root)}: no services/{stale.name}/app.py any more")
    for ctx in contexts:
        present = {p.name for p in (root / CONTEXTS_DIR / ctx.name).glob("*")}
        extra = present - set(context_files(ctx, contexts))
        problems.extend(f"{CONTEXTS_DIR}/{ctx.name}/{name}: not generated" for name in sorted(extra))
    return problems


def write(root: Path, files: Mapping[str, str], contexts: Sequence[ContextSpec]) -> list[str]:
    """Writes the files under root; removes folders of contexts that are gone. Returns the changes."""
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
    parser.add_argument("--out", type=Path, default=K8S_DIR, help="deploy/k8s folder to write into")
    args = parser.parse_args(argv)
    contexts = discover_contexts()
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
