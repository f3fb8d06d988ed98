"""The sandbox's manifests (deploy/k8s/base/contexts/sandbox), checked offline: what its ContextSpec asks
of the template (services/sandbox/deploy/: its node pool, its seccomp profile, CPU-bound sizes) and that
the overlays and the gVisor component keep it. The seccomp profile is checked against the real thing
where the machine allows it: libseccomp compiles it, and bubblewrap runs CPython under it.

The shared manifest helpers are tests/k8s/k8s_manifests.py (tests/k8s is put on sys.path for them).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "k8s"))

from k8s_manifests import (
    BASE,
    CONTEXTS,
    DEPLOY_ENV,
    K8S,
    NAMESPACE,
    OVERLAYS,
    REPO,
    Doc,
    base_docs,
    base_objects,
    context_deployment,
    dockerfile,
    env_file,
    gen,
    k8s_tree,
    kustomize,
    match_labels,
    pod_spec,
    rel,
    validate,
    workloads,
)

from services.sandbox.deploy import POOL, SECCOMP
from services.sandbox.deploy.seccomp import (
    BWRAP_SYSCALLS,
    RUNTIME_DEFAULT_SYSCALLS,
    sandbox_seccomp_profile,
)
from services.sandbox.settings import SANDBOX_PYTHON

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
    assert found, "the sandbox context is gone: drop these checks with it"
    return found[0]


def sandbox_profile() -> Doc:
    seccomp = sandbox_ctx().deploy.seccomp
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
    seccomp = sandbox_ctx().deploy.seccomp
    spec = pod_spec(deployment)
    (container,) = spec["containers"]
    # No service-account token: the pod never talks to the API server, and learners' code must find none.
    assert spec["automountServiceAccountToken"] is False, where
    assert not any("serviceAccountToken" in str(v) for v in spec.get("volumes", [])), where
    # Its own nodes: it selects the pool and tolerates the pool's taint.
    assert spec["nodeSelector"] == {gen.NODE_POOL_LABEL: POOL}, where
    assert spec["tolerations"] == [
        {"key": gen.NODE_POOL_LABEL, "operator": "Equal", "value": POOL, "effect": "NoSchedule"}
    ], where
    # The Localhost seccomp profile, at pod and container level (the container's would win).
    profile = {"type": "Localhost", "localhostProfile": seccomp.localhost}
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
    assert gen.seccomp_node_path(SECCOMP) in annotations["learnflow.dev/node-seccomp-profile"]
    assert f"{gen.NODE_POOL_LABEL}={POOL}" in annotations["learnflow.dev/node-pool"]
    assert "user namespaces" in annotations["learnflow.dev/node-kernel"]
    header = (BASE / "contexts" / SANDBOX / "deployment.yaml").read_text().split("apiVersion:")[0]
    assert gen.seccomp_node_path(SECCOMP) in header and "components/sandbox-gvisor" in header


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
    assert profile == json.loads(json.dumps(sandbox_seccomp_profile())), "run the generator"
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO", "an allow-list: everything else is refused"
    # Native ABI only: no "architectures", so 32-bit and x32 system calls are refused too.
    assert set(profile) == {"defaultAction", "syscalls"}
    assert all(rule["action"] == "SCMP_ACT_ALLOW" for rule in profile["syscalls"])
    allowed = allowed_syscalls(profile)
    assert set(BWRAP_SYSCALLS) <= allowed, "bwrap's namespaces and mounts"
    assert {"execve", "clone3", "futex", "mmap", "openat", "read", "write", "exit_group"} <= allowed
    assert not (allowed & NEVER_ALLOWED), sorted(allowed & NEVER_ALLOWED)
    assert all(re.fullmatch(r"_?[a-z][a-z0-9_]*", name) for name in allowed)
    conditional = [rule for rule in profile["syscalls"] if rule.get("args")]
    assert {n for rule in conditional for n in rule["names"]} == {"personality"}
    # Every other workload keeps the runtime's default profile (checked with Pod Security above).
    assert [c.name for c in CONTEXTS if c.deploy.seccomp is not None] == [SANDBOX]


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
    assert python == SANDBOX_PYTHON == "/usr/bin/python3"
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


def test_no_manifest_turns_isolation_off() -> None:
    # The README and the generator name the setting to forbid it; nothing that is applied or built may.
    applied = [p for p in K8S.rglob("*") if p.is_file() and p.suffix in {".yaml", ".yml", ".json", ".env"}]
    applied += [REPO / "Dockerfile"]
    for path in applied:
        assert UNSAFE_SETTING not in path.read_text(), rel(path)
    # The setting is declared local-only, so the generator refuses a spec that would set it.
    sandbox = sandbox_ctx()
    unsafe = replace(sandbox, deploy=replace(sandbox.deploy, config={UNSAFE_SETTING: "true"}))
    with pytest.raises(ValueError, match=UNSAFE_SETTING):
        gen.check([c if c.name != SANDBOX else unsafe for c in CONTEXTS])


def overlay_with(tmp_path: Path, *components: Path) -> Path:
    """A throw-away overlay: base plus the given components (kustomize wants relative paths)."""
    folder = tmp_path / "overlay"
    folder.mkdir()
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": NAMESPACE,
        "resources": [os.path.relpath(k8s_tree() / "base", folder)],
        "components": [os.path.relpath(k8s_tree() / c.relative_to(K8S), folder) for c in components],
    }
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return folder


@pytest.mark.parametrize("overlay", ["base", *(f"overlays/{o}" for o in OVERLAYS)])
def test_overlays_keep_the_sandbox_requirements(overlay: str) -> None:
    docs = kustomize(k8s_tree() / overlay)
    (deployment,) = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == SANDBOX]
    check_sandbox_pod(deployment, overlay)
    assert "runtimeClassName" not in pod_spec(deployment), "gVisor only through its component"
    config = next(d for d in docs if d["metadata"]["name"].startswith(f"{SANDBOX}-config"))
    assert config["data"]["SANDBOX_PYTHON"] == SANDBOX_PYTHON
    assert UNSAFE_SETTING not in yaml.safe_dump_all(docs)


def test_gvisor_component_renders_and_validates(tmp_path: Path) -> None:
    component = yaml.safe_load((GVISOR / "kustomization.yaml").read_text())
    assert component["kind"] == "Component"
    docs = kustomize(overlay_with(tmp_path, GVISOR))
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
    names = sorted(set(RUNTIME_DEFAULT_SYSCALLS) | {"ptrace", "modify_ldt"})
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
