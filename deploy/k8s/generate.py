"""Writes the per-context Kubernetes manifests from one template.

    python deploy/k8s/generate.py           write deploy/k8s/base/contexts/<ctx>/ and base/kustomization.yaml
    python deploy/k8s/generate.py --check   exit 1 (and name the files) when what is on disk is out of date

The contexts are the folders proto/learnflow/<ctx>/ (except the shared contracts in NOT_CONTEXTS); their
gRPC services are the `service X` declarations in package `learnflow.<ctx>.<version>`. Reading the proto
folder, not the Python packages, keeps this script free of app imports: it needs only PyYAML. Adding a
context is adding its proto folder and running this script; see deploy/k8s/README.md.

Every context gets the same template. What one context needs beyond it (its own node pool, a seccomp
profile, other resources, settings, an egress policy) is a `Tweaks` value in CONTEXT_TWEAKS, so the
difference is written once, here, and its manifests stay generated.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
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
    "sandbox": ("tutoring",),  # code review runs a student's code; exercises are validated there
    "progress": ("tutoring",),  # the concepts agent reads the student's mastery level
}
# Each context's workload secret (services/runtime/workload.py), and identity's table of them.
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


# --- per-context tweaks -------------------------------------------------------------------------------
#
# A context that needs more than the template (its own nodes, a seccomp profile, other resources, settings,
# an egress policy) gets a Tweaks value in CONTEXT_TWEAKS. Everything else about it stays the template.

NODE_POOL_LABEL = "learnflow.dev/pool"
# A Localhost seccomp profile is a path relative to the kubelet's seccomp root (<kubelet --root-dir>/seccomp).
KUBELET_SECCOMP_ROOT = "/var/lib/kubelet/seccomp"
# Settings no manifest may ever set: SANDBOX_UNSAFE_NO_ISOLATION=true runs learners' code without isolation.
FORBIDDEN_SETTINGS = frozenset({"SANDBOX_UNSAFE_NO_ISOLATION"})


@dataclass(frozen=True)
class SeccompProfile:
    """A Localhost seccomp profile: the path the pod names, and the profile itself.

    The profile is OCI runtime-spec JSON (what containerd and CRI-O read from the file). The generator writes
    it next to the context's manifests as `filename`; every node that may run the pod needs a copy at
    KUBELET_SECCOMP_ROOT/<localhost>. A missing file fails the container's creation (no silent fallback).
    """

    localhost: str
    profile: Mapping[str, Any]

    @property
    def filename(self) -> str:
        return PurePosixPath(self.localhost).name

    @property
    def node_path(self) -> str:
        return f"{KUBELET_SECCOMP_ROOT}/{self.localhost}"


@dataclass(frozen=True)
class Tweaks:
    """What one context needs beyond the template. Empty fields keep the template's choice."""

    resources: Mapping[str, Mapping[str, str]] | None = None
    # Pods run only on nodes labelled NODE_POOL_LABEL=<pool>, and tolerate that pool's NoSchedule taint.
    node_pool: str | None = None
    # None: the runtime's default profile (RuntimeDefault).
    seccomp: SeccompProfile | None = None
    # Added to <ctx>-config (which follows the shared learnflow-config in envFrom, so it wins).
    config: Mapping[str, str] = field(default_factory=dict)
    # Added to the container's env, after DATABASE_URL.
    env: tuple[Mapping[str, Any], ...] = ()
    # None: no egress policy (egress open, like the other contexts). Otherwise the only egress allowed.
    egress: tuple[Mapping[str, Any], ...] | None = None
    # On the Deployment's metadata (not the pod template: editing them does not roll the pods).
    annotations: Mapping[str, str] = field(default_factory=dict)
    # Comment lines written on top of the generated deployment.yaml.
    notes: tuple[str, ...] = ()


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
IDENTITY = "identity"


def context_egress() -> tuple[dict[str, Any], ...]:
    """The egress a context needs, and nothing else: DNS, PostgreSQL, NATS, identity (JWKS, gRPC) and the
    OTLP collector in the monitoring namespace. No Kubernetes API, no cloud metadata endpoint, no Internet."""
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


# The seccomp profile of the sandbox. bubblewrap creates user, mount, pid, net, ipc and uts namespaces
# (clone with CLONE_NEW* flags, unshare), mounts its new root (mount, pivot_root, umount2), and may set the
# sandbox's host name. The runtime's default profile allows none of that without CAP_SYS_ADMIN, which the
# pod does not have (capabilities: drop ALL), so under RuntimeDefault bwrap fails and the sandbox reports
# NOT_SERVING. `Unconfined` would work but turns seccomp off for the service and for the learners' code,
# and the namespace's Pod Security level (baseline, see base/namespace.yaml) refuses it. So: a Localhost
# profile = containerd's default allow-list (contrib/seccomp/seccomp_default.go, as for a container without
# capabilities), plus the calls bwrap needs, minus calls CPython does not need whose kernel code has a
# record of privilege escalations. Trade-off: the learners' code may create namespaces too (it runs under
# the same filter); the gVisor component (components/sandbox-gvisor) moves all of it off the host kernel.
# No "architectures": the filter covers the node's native ABI only, so 32-bit system calls are refused.
def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


RUNTIME_DEFAULT_SYSCALLS = _names(
    """
    accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32 clock_adjtime
    clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep
    clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3 epoll_create
    epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2
    execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir
    fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork
    fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex
    futex_time64 futex_waitv futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32
    getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority
    getrandom getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid
    getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr inotify_add_watch
    inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents
    io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit io_uring_enter io_uring_register
    io_uring_setup ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32
    lgetxattr link linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64
    madvise membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall
    mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
    mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap
    nanosleep newfstatat _newselect open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 poll
    ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64
    pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg
    recvmmsg_time64 recvmsg remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir
    rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
    rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam
    sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval
    sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam sched_setscheduler
    sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send sendfile sendfile64
    sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32
    setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid
    setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32
    setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socket
    socketcall socketpair splice stat stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range
    syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64
    timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime
    timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat
    utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
    arch_prctl arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls
    """
)  # the last line: per-architecture calls (amd64, arm64); runc and crun skip names the node does not know
# What bubblewrap needs beyond that allow-list (see the comment above).
BWRAP_SYSCALLS: Mapping[str, str] = {
    "clone": "new namespaces (CLONE_NEWUSER|NEWNS|NEWPID|NEWNET|NEWIPC|NEWUTS|NEWCGROUP)",
    "clone3": "the same through clone3, which glibc also uses for threads",
    "unshare": "a second user namespace once /dev is set up",
    "mount": "the sandbox's root: tmpfs, read-only binds, /dev",
    "umount2": "detaching the old root",
    "pivot_root": "switching to the new root",
    "sethostname": "bwrap --hostname, in the sandbox's own uts namespace",
}
# Allowed by the default profile, refused here: CPython and the standard library do not use them. (ptrace,
# which containerd adds on kernels >= 4.8, is left out of the list above for the same reason.) clone3 is not
# one of them: glibc starts threads with it and falls back to clone only on ENOSYS, not on EPERM.
SANDBOX_REFUSED_SYSCALLS: Mapping[str, str] = {
    "io_uring_setup": "io_uring: a large kernel surface with a long list of privilege escalations",
    "io_uring_enter": "io_uring",
    "io_uring_register": "io_uring",
    "modify_ldt": "16-bit segments (x86)",
}
# The default profile's personality(2) values: Linux, UNAME26 ... and the query (0xffffffff).
PERSONALITY_VALUES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)


def sandbox_seccomp_profile() -> dict[str, Any]:
    allowed = (set(RUNTIME_DEFAULT_SYSCALLS) | set(BWRAP_SYSCALLS)) - set(SANDBOX_REFUSED_SYSCALLS)
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": sorted(allowed), "action": "SCMP_ACT_ALLOW"},
            *(
                {
                    "names": ["personality"],
                    "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 0, "value": value, "op": "SCMP_CMP_EQ"}],
                }
                for value in PERSONALITY_VALUES
            ),
        ],
    }


# The interpreter learners' code runs on: Debian's python3, which the image installs next to the service's
# own (/usr/local/bin/python3 of the python:* base). The engine binds /usr read-only into each sandbox but
# hides /usr/local, and refuses an interpreter there. The base image is pinned to bookworm so that Debian's
# python3 is 3.11, the service's minor version (services/sandbox/diagnosis.py compiles with the service's).
SANDBOX_PYTHON = "/usr/bin/python3"
SANDBOX_POOL = "sandbox"
SANDBOX_SECCOMP = SeccompProfile("learnflow/sandbox-seccomp.json", sandbox_seccomp_profile())

SANDBOX = Tweaks(
    # CPU-bound: each run keeps a core busy. One worker per CPU of the limit (SANDBOX_WORKERS below).
    resources={"requests": {"cpu": "1", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}},
    node_pool=SANDBOX_POOL,
    seccomp=SANDBOX_SECCOMP,
    config={"SANDBOX_PYTHON": SANDBOX_PYTHON},
    env=(
        # os.cpu_count() in the pod is the node's CPU count, not the pod's share: take the CPU limit
        # (rounded up), so an overlay that changes the limit changes the worker count with it.
        {
            "name": "SANDBOX_WORKERS",
            "valueFrom": {
                "resourceFieldRef": {"containerName": CONTAINER, "resource": "limits.cpu", "divisor": "1"}
            },
        },
    ),
    egress=context_egress(),
    annotations={
        # What the node must provide; deploy/k8s/README.md ("The sandbox") says why and how to check it.
        "learnflow.dev/node-pool": f"{NODE_POOL_LABEL}={SANDBOX_POOL} (node label, and taint NoSchedule)",
        "learnflow.dev/node-seccomp-profile": f"{SANDBOX_SECCOMP.node_path} ({SANDBOX_SECCOMP.filename})",
        "learnflow.dev/node-kernel": (
            "unprivileged user namespaces (user.max_user_namespaces > 0); no AppArmor/SELinux rule that "
            "denies mount to the container"
        ),
    },
    notes=(
        "The sandbox runs learners' Python with bubblewrap: new user, mount, pid, net, ipc and uts",
        f"namespaces, as the pod's own uid {RUN_AS} (non-root, so it cannot switch to another user; the user",
        "namespace maps that uid). No service-account token is mounted. What it needs from the node:",
        f"  - a node of the pool {NODE_POOL_LABEL}={SANDBOX_POOL}: labelled so, and tainted",
        f"    {NODE_POOL_LABEL}={SANDBOX_POOL}:NoSchedule, which only this pod tolerates;",
        f"  - {SANDBOX_SECCOMP.node_path}: a copy of {SANDBOX_SECCOMP.filename} of this folder.",
        "    The runtime's default seccomp profile refuses bwrap's namespaces and mounts, and the",
        "    namespace's Pod Security level (baseline) refuses Unconfined;",
        "  - unprivileged user namespaces (user.max_user_namespaces > 0), and no AppArmor or SELinux",
        "    policy that denies mount to the container (deploy/k8s/README.md, 'The sandbox');",
        "  - /tmp (the emptyDir below): bwrap mounts its own tmpfs there, in its mount namespace.",
        "Without them the pod stays unready (NOT_SERVING, the reason in its log) and runs no code.",
        "Hardened option: components/sandbox-gvisor (RuntimeClass gvisor, handler runsc).",
    ),
)

TUTORING = Tweaks(
    config={"SANDBOX_SERVICE_ADDR": "sandbox:50051", "PROGRESS_SERVICE_ADDR": "progress:50051"},
    # Without the key the agents answer offline (docs/tutoring.md).
    env=(
        {
            "name": "OPENAI_API_KEY",
            "valueFrom": {
                "secretKeyRef": {"name": "learnflow-openai", "key": "OPENAI_API_KEY", "optional": True}
            },
        },
    ),
)

CONTEXT_TWEAKS: Mapping[str, Tweaks] = {"sandbox": SANDBOX, "tutoring": TUTORING}


def workload_env(ctx: Context) -> list[dict[str, Any]]:
    """This context's workload secret (optional: a context that calls no other needs none) and, for
    identity, the table of every workload's secret."""
    keys = [(f"{ctx.name.upper()}_WORKLOAD_SECRET", ctx.name)]
    if ctx.name == "identity":
        keys.append(("IDENTITY_WORKLOAD_SECRETS", "IDENTITY_WORKLOAD_SECRETS"))
    return [
        {"name": name, "valueFrom": {"secretKeyRef": {"name": WORKLOAD_SECRET, "key": key, "optional": True}}}
        for name, key in keys
    ]


def tweaks_for(ctx: Context) -> Tweaks:
    tweaks = CONTEXT_TWEAKS.get(ctx.name, Tweaks())
    names = set(tweaks.config) | {str(e["name"]) for e in tweaks.env}
    if names & FORBIDDEN_SETTINGS:
        raise ValueError(f"CONTEXT_TWEAKS[{ctx.name!r}] sets {sorted(names & FORBIDDEN_SETTINGS)}: never")
    return tweaks


def deployment(ctx: Context) -> dict[str, Any]:
    tweaks = tweaks_for(ctx)
    pool: dict[str, Any] = {}
    if tweaks.node_pool:
        pool = {
            "nodeSelector": {NODE_POOL_LABEL: tweaks.node_pool},
            "tolerations": [
                {
                    "key": NODE_POOL_LABEL,
                    "operator": "Equal",
                    "value": tweaks.node_pool,
                    "effect": "NoSchedule",
                }
            ],
        }
    metadata = _meta(ctx)
    if tweaks.annotations:
        metadata["annotations"] = dict(tweaks.annotations)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
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
                    "securityContext": pod_security_context(tweaks.seccomp),
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
                                *(dict(e) for e in tweaks.env),
                            ],
                            "startupProbe": _grpc_probe(LIVENESS_SERVICE, period=2, failures=60),
                            "livenessProbe": _grpc_probe(LIVENESS_SERVICE, period=10, failures=3),
                            "readinessProbe": _grpc_probe(ctx.readiness_service, period=5, failures=2),
                            "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SLEEP_SECONDS}}},
                            "resources": {k: dict(v) for k, v in (tweaks.resources or RESOURCES).items()},
                            "securityContext": container_security_context(tweaks.seccomp),
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
        "data": {"LEARNFLOW_CONTEXTS": ctx.name, "LEARNFLOW_DB_POOL_SIZE": "10", **tweaks_for(ctx).config},
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
    egress = tweaks_for(ctx).egress
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(ctx),
        "spec": {
            "podSelector": {"matchLabels": _selector(ctx.name)},
            "policyTypes": ["Ingress"] if egress is None else ["Ingress", "Egress"],
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
            **({} if egress is None else {"egress": [dict(rule) for rule in egress]}),
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


def context_files(ctx: Context, contexts: Sequence[Context]) -> dict[str, str]:
    """The files of base/contexts/<ctx>/, as {file name: content}: the manifests, and the context's
    seccomp profile if it has one (for the nodes, not for kustomize)."""
    header = (
        f"# Generated by deploy/k8s/generate.py from proto/learnflow/{ctx.name}/. Do not edit:\n"
        "# change the template in generate.py and run `python deploy/k8s/generate.py`.\n"
    )
    tweaks = tweaks_for(ctx)
    files = {}
    for filename, documents in context_documents(ctx, contexts).items():
        notes = "".join(f"#\n# {line}\n" if i == 0 else f"# {line}\n" for i, line in enumerate(tweaks.notes))
        files[filename] = _dump(documents, header + (notes if filename == "deployment.yaml" else ""))
    if tweaks.seccomp is not None:
        files[tweaks.seccomp.filename] = json.dumps(tweaks.seccomp.profile, indent=2) + "\n"
    return files


def render(contexts: Sequence[Context]) -> dict[str, str]:
    """Every generated file, as {path relative to deploy/k8s: content}."""
    files: dict[str, str] = {}
    for ctx in contexts:
        for filename, content in context_files(ctx, contexts).items():
            files[f"{CONTEXTS_DIR}/{ctx.name}/{filename}"] = content
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
        present = {p.name for p in (root / CONTEXTS_DIR / ctx.name).glob("*")}
        extra = present - set(context_files(ctx, contexts))
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
