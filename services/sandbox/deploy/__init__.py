"""How the sandbox is deployed where it differs from the template (deploy/k8s/generate.py reads it from
the sandbox's ContextSpec): its own node pool, a Localhost seccomp profile (seccomp.py), CPU-bound sizes,
and what the nodes must provide. deploy/k8s/README.md ("The sandbox") explains each requirement.

`notes` may name the generator's constants as {node_pool_label}, {run_as}, {seccomp_node_path} and
{seccomp_file}; the generator fills them in.
"""

from __future__ import annotations

from services.runtime.contexts import DeployTraits, SeccompProfile
from services.sandbox.deploy.seccomp import sandbox_seccomp_profile
from services.sandbox.settings import SANDBOX_PYTHON

POOL = "sandbox"
SECCOMP = SeccompProfile("learnflow/sandbox-seccomp.json", sandbox_seccomp_profile())

DEPLOY = DeployTraits(
    node_pool=POOL,
    # CPU-bound: each run keeps a core busy. One worker per CPU of the limit (cpu_limit_env).
    resources={"requests": {"cpu": "1", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}},
    seccomp=SECCOMP,
    # Written out although it is the default: the image's ENV and this ConfigMap must agree (a test).
    config={"SANDBOX_PYTHON": SANDBOX_PYTHON},
    # os.cpu_count() in the pod is the node's CPU count, not the pod's share: take the CPU limit (rounded
    # up), so an overlay that changes the limit changes the worker count with it.
    cpu_limit_env="SANDBOX_WORKERS",
    node_requirements={
        "node-kernel": (
            "unprivileged user namespaces (user.max_user_namespaces > 0); no AppArmor/SELinux rule that "
            "denies mount to the container"
        ),
    },
    notes=(
        "The sandbox runs learners' Python with bubblewrap: new user, mount, pid, net, ipc and uts",
        "namespaces, as the pod's own uid {run_as} (non-root, so it cannot switch to another user; the user",
        "namespace maps that uid). No service-account token is mounted. What it needs from the node:",
        "  - a node of the pool {node_pool_label}=" + POOL + ": labelled so, and tainted",
        "    {node_pool_label}=" + POOL + ":NoSchedule, which only this pod tolerates;",
        "  - {seccomp_node_path}: a copy of {seccomp_file} of this folder.",
        "    The runtime's default seccomp profile refuses bwrap's namespaces and mounts, and the",
        "    namespace's Pod Security level (baseline) refuses Unconfined;",
        "  - unprivileged user namespaces (user.max_user_namespaces > 0), and no AppArmor or SELinux",
        "    policy that denies mount to the container (deploy/k8s/README.md, 'The sandbox');",
        "  - /tmp (the emptyDir below): bwrap mounts its own tmpfs there, in its mount namespace.",
        "Without them the pod stays unready (NOT_SERVING, the reason in its log) and runs no code.",
        "Hardened option: components/sandbox-gvisor (RuntimeClass gvisor, handler runsc).",
    ),
)
