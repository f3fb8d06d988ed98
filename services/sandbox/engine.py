"""The sandbox's isolation adapter: run one untrusted Python program, return what it printed and a verdict.

`BubblewrapSandbox` is the engine to run in production. Each run is a fresh bubblewrap (bwrap) sandbox:

* Namespaces (`--unshare-all --unshare-user --disable-userns`): its own user, pid, network, ipc, uts and
  cgroup namespaces, and no way to create nested user namespaces. The network namespace is empty (only
  its own loopback), so nothing can be reached: not the internet, not the host's 127.0.0.1, not the pod.
* Filesystem: a read-only root built from nothing. Only /usr is bound (read-only), with the
  /bin, /lib, /lib64... symlinks usrmerge needs; /usr/local (software installed on the host, where the
  service's own interpreter lives in python:* images) is hidden. There is no /etc, /root, /home, /tmp,
  /var or repository: no host path is visible. /proc is the sandbox's own, /dev the minimal set bwrap
  makes (null, zero, urandom...) mounted read-only. The only writable place is /work, a tmpfs of
  `tmpfs_bytes` created for this run (the program is put there from a memfd with `--file`, so no host
  temp file exists) and gone when the run ends: nothing persists between runs.
* Identity: bwrap is started as the unprivileged `learnflow-sbx` user when the service runs as root
  (the user is created if missing), else as the service's own user. The switch is made by
  `setpriv --reuid --regid --clear-groups` exec'ing bwrap, not by Popen's user/group/extra_groups:
  those force a real fork() of the whole service, which costs about 14 ms at 300 MB RSS against
  1.6 ms for vfork + setpriv (measured), and this sits on every run's latency.
  All capabilities are dropped (`--cap-drop ALL`), no_new_privs is set by bwrap, and a new session
  (`--new-session`) keeps the program away from any terminal.
* Environment: `--clearenv`, then only PATH, HOME, LANG and two PYTHON* variables; bwrap itself starts
  with an empty environment, so even /proc/1/environ holds no host secret. No host file descriptor is
  passed on (close_fds); the program sees stdin, stdout and stderr only. Python runs as
  `python3 -I -S -B /work/main.py`: isolated mode, no site-packages, no bytecode files.
* Limits for the whole run: a memory + pids cgroup per run (`cgroups.py`), entered by a /bin/sh launcher
  before setpriv and bwrap start, so everything the program forks counts against one budget
  (`_run_memory_bytes`, `processes`). An OOM kill there is MEMORY_EXCEEDED. Where the host gives no
  cgroup, only the per-process limits below apply, and `whole_run_limits` says why.
* Limits per process: set by /usr/bin/prlimit *inside* the sandbox, right before Python starts (see
  `_rlimits`): memory (RLIMIT_DATA and RLIMIT_AS), processes (RLIMIT_NPROC), file size, open files, CPU
  time, no core dumps. Wall time and output size are enforced here, by the supervisor.
* Teardown: the program is pid 1 of its pid namespace (`--as-pid-1`), so when it exits, or is killed
  at the deadline, the kernel kills everything it started (detached, setsid'd children included) and
  bwrap, its parent, reaps it before exiting: when `run` returns, no process of the run is left. With
  bwrap's own init as pid 1 instead, bwrap exits as soon as the program does and leaves that init to be
  reaped by whoever is pid 1 of the container, which is the service itself in our image: a zombie per
  run. For the same reason the deadline kills the program (through a pidfd, from the child-pid bwrap
  reports on --json-status-fd) rather than bwrap; killing bwrap's process group is the fallback.
  `--die-with-parent` takes the sandbox down if the service dies. The price of pid 1: the program
  ignores signals it sends itself without a handler (os.kill(os.getpid(), SIGTERM) does nothing,
  os.abort() ends in SIGSEGV), and os.getppid() is 0.
* Failures of the isolation itself are told apart from the program's: bwrap writes an exit-code to
  --json-status-fd only once it has exec'd the program, so a run without one raises SandboxError.

Verdicts and tracebacks are read by `diagnosis.py`. `UnsafeLocalSandbox` is a development stand-in
with rlimits only; read its docstring before using it anywhere.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import fcntl
import json
import math
import os
import pwd
import resource
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import IO, Any, Literal, Protocol

from services.sandbox import cgroups as cgroup_support
from services.sandbox.cgroups import RunCgroup, RunCgroups, Usage
from services.sandbox.diagnosis import (
    STUDENT_FILE,
    Diagnosis,
    Verdict,
    check_syntax,
    diagnose,
    signal_diagnosis,
    verdict_for,
)

BWRAP = "/usr/bin/bwrap"
PRLIMIT = "/usr/bin/prlimit"
SETPRIV = "/usr/bin/setpriv"
USERADD = "/usr/sbin/useradd"
MAX_CODE_BYTES = 64 * 1024
MAX_STDIN_BYTES = 1 << 20
# Environment of the program. -I makes this interpreter ignore PYTHON*; they are there for a Python the
# program itself starts.
PROGRAM_ENV = {
    "PATH": "/usr/bin",
    "HOME": "/work",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONIOENCODING": "utf-8",
    "LANG": "C.UTF-8",
}
# RLIMIT_AS = memory + this: room for what RLIMIT_DATA does not count (the interpreter's and libraries'
# code, about 17 MiB with libcrypto and sqlite loaded, and the main stack).
_ADDRESS_SPACE_HEADROOM = 32 << 20
_STACK_BYTES = 8 << 20
# Code this long is compiled on a worker thread, so a pathological 64 KiB program (about 90 ms of
# parsing) does not stall the event loop.
_INLINE_SYNTAX_CHECK = 4096
# How much of the end of stderr is kept for the traceback when stderr is longer than output_bytes.
_STDERR_TAIL = 16 * 1024
# After SIGKILL, how long the process tree may take to disappear before we escalate.
_KILL_GRACE = 1.0
# The run's cgroup holds memory_mb + tmpfs_bytes + this (see _run_memory_bytes).
_RUN_MEMORY_HEADROOM = 16 << 20


@dataclass(frozen=True)
class Limits:
    """Per-run limits. Sizes in bytes unless the name says otherwise."""

    wall_ms: int = 5000
    memory_mb: int = 50
    output_bytes: int = 65536
    processes: int = 16
    file_bytes: int = 1 << 20
    open_files: int = 64
    tmpfs_bytes: int = 8 << 20


MAX_LIMITS = Limits(
    wall_ms=10000,
    memory_mb=256,
    output_bytes=1 << 20,
    processes=64,
    file_bytes=8 << 20,
    open_files=256,
    tmpfs_bytes=32 << 20,
)


@dataclass(frozen=True)
class RunResult:
    """What a run produced. `stdout`/`stderr` hold the first `output_bytes` of each stream (decoded as
    UTF-8, invalid bytes replaced); `exit_code` is the program's exit status, -N when signal N killed it
    (including the SIGKILL at the deadline)."""

    verdict: Verdict
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    exit_code: int
    duration_ms: int
    diagnosis: Diagnosis | None
    # The run's peak memory, all its processes together, when it had its own cgroup (else None).
    memory_peak_bytes: int | None = None


class Sandbox(Protocol):
    async def run(self, code: str, stdin: str = "", limits: Limits = Limits()) -> RunResult: ...


class SandboxError(RuntimeError):
    """The isolation failed, not the program: bwrap could not build the sandbox or start Python."""


class BubblewrapSandbox:
    """Runs programs in bubblewrap sandboxes; see the module docstring for what each run gets.

    `python` must be an absolute path under /usr (not /usr/local), because that is all the sandbox sees.
    Call `run` from the service's event-loop thread: the kernel's parent-death signal that ties the
    sandbox to the service follows the thread that started it.
    """

    def __init__(
        self,
        python: str = "/usr/bin/python3",
        user: str = "learnflow-sbx",
        *,
        container_mode: bool = False,
        cgroups: RunCgroups | Literal["auto"] | None = "auto",
    ):
        """`container_mode`: inside a container (a Kubernetes pod) the runtime masks parts of /proc, and
        the kernel then refuses a fresh proc mount, and /proc/sys is read-only so bwrap cannot
        `--disable-userns`. In that mode the sandbox gets NO /proc at all (never the pod's: it would
        show the service's processes and environment) and nested user namespaces are not blocked by
        bwrap (the program has no capabilities in them; the pod's seccomp profile is the backstop).

        `cgroups`: where each run's memory+pids cgroup is made; "auto" probes this host once per process
        (cgroups.probe), None runs with per-process rlimits only. `whole_run_limits` says which."""
        self.container_mode = container_mode
        if cgroups == "auto":
            cgroups, reason = cgroup_support.probe()
        else:
            reason = None if cgroups is not None else "per-run cgroups were switched off"
        self.cgroups: RunCgroups | None = cgroups
        self._cgroup_reason = reason
        problem = _python_problem(python)
        if problem:
            raise SandboxError(problem)
        self.python = python
        self._switch_user: list[str] = []
        self._uid = os.getuid()
        if os.geteuid() == 0:
            account = _ensure_user(user)
            if account.pw_uid == 0:
                raise SandboxError(f"the sandbox user {user!r} is root")
            self._uid = account.pw_uid
            self._switch_user = [
                SETPRIV,
                f"--reuid={account.pw_uid}",
                f"--regid={account.pw_gid}",
                "--clear-groups",
                "--",
            ]
        self._layout = _usr_layout()

    @property
    def whole_run_limits(self) -> str | None:
        """None when each run's memory and process limits hold for the whole run (a cgroup per run),
        else why only the per-process rlimits apply, in words for an operator."""
        if self.cgroups is not None:
            return None
        return f"no cgroup per run, memory and process limits are per process: {self._cgroup_reason}"

    @staticmethod
    def unavailable_reason(python: str = "/usr/bin/python3") -> str | None:
        """None when this machine can isolate programs, else why not, in words for an operator.

        Checks the tools, then runs a trivial program through a real sandbox (about 20 ms), because
        only that proves user namespaces work here (a container's seccomp profile often forbids them).
        Synchronous, so it can be called while wiring the service, inside or outside an event loop.
        """
        for tool, package in ((BWRAP, "bubblewrap"), (PRLIMIT, "util-linux"), (SETPRIV, "util-linux")):
            if not os.access(tool, os.X_OK):
                return f"{tool} is missing (install the {package} package)"
        if not hasattr(os, "pidfd_open"):
            return "os.pidfd_open is unavailable (needs Linux >= 5.3 and Python >= 3.9)"
        problem = _python_problem(python)
        if problem:
            return problem
        return BubblewrapSandbox.for_this_host(python)[1]

    @staticmethod
    def for_this_host(python: str = "/usr/bin/python3") -> tuple[BubblewrapSandbox | None, str | None]:
        """The strongest configuration that works here: the full one, else container mode (see
        __init__). Returns (sandbox, None), or (None, why isolation is unavailable)."""
        for tool, package in ((BWRAP, "bubblewrap"), (PRLIMIT, "util-linux"), (SETPRIV, "util-linux")):
            if not os.access(tool, os.X_OK):
                return None, f"{tool} is missing (install the {package} package)"
        reason = "no configuration was tried"
        for container_mode in (False, True):
            try:
                sandbox = BubblewrapSandbox(python, container_mode=container_mode)
            except (SandboxError, OSError) as e:
                return None, str(e)
            problem = sandbox._self_test()
            if problem is not None and sandbox.cgroups is not None:
                # The cgroup launcher failed where plain bwrap may work: keep serving, per process only.
                degraded = BubblewrapSandbox(python, container_mode=container_mode, cgroups=None)
                if degraded._self_test() is None:
                    degraded._cgroup_reason = f"a run in its cgroup failed: {problem}"
                    cgroup_support.log.warning(
                        "sandbox limits are per process only", extra={"reason": degraded._cgroup_reason}
                    )
                    cgroup_support.WHOLE_RUN_LIMITS.clear()
                    cgroup_support.WHOLE_RUN_LIMITS.labels("none").set(0)
                    return degraded, None
            if problem is None:
                return sandbox, None
            reason = problem if not container_mode else f"{reason}; in container mode: {problem}"
        return None, reason

    async def run(self, code: str, stdin: str = "", limits: Limits = Limits()) -> RunResult:
        screened = await _screen(code, stdin, limits)
        if screened is not None:
            return screened
        status = _StatusReader(self._uid)
        started = time.monotonic()
        leaf = self._cgroup(limits)
        try:
            proc, status_pipe = self._spawn(code.encode(), stdin.encode(), limits, leaf)
            loop = asyncio.get_running_loop()
            status_transport, _ = await loop.connect_read_pipe(lambda: status, status_pipe)

            def kill() -> None:
                # SIGKILL to the program, pid 1 of the sandbox: the kernel then kills the rest of the pid
                # namespace, bwrap reaps it and exits. Before the program's pid is known, kill bwrap.
                if not status.kill():
                    _killpg(proc)

            def escalate() -> None:
                _killpg(proc)
                if leaf is not None:
                    leaf.kill()

            try:
                seen = await _supervise(proc, limits, started, kill=kill, escalate=escalate)
            finally:
                status.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_KILL_GRACE):
                    await status.closed
            status_transport.close()
            usage = leaf.usage() if leaf is not None else None
        finally:
            if leaf is not None and self.cgroups is not None:
                self.cgroups.release(leaf)
        oom_killed = usage is not None and usage.oom_kills > 0
        if status.exit_code is None and not (seen.timed_out or seen.output_exceeded or oom_killed):
            # bwrap reports an exit code only once it has started the program: it failed before that.
            raise SandboxError(f"bwrap could not start the program: {seen.stderr.text().strip()[:500]}")
        return _result(seen, code, limits, STUDENT_FILE, bwrap_status=True, usage=usage)

    def _cgroup(self, limits: Limits) -> RunCgroup | None:
        if self.cgroups is None:
            return None
        try:
            return self.cgroups.create(_run_memory_bytes(limits), limits.processes + 1)
        except OSError as e:
            # Never run without the cgroup this engine promised: fail this run, loudly.
            raise SandboxError(f"cannot create the run's cgroup: {e}") from e

    def _spawn(
        self, code: bytes, stdin: bytes, limits: Limits, leaf: RunCgroup | None
    ) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
        code_fd = _sealed_memfd("main.py", code)
        stdin_fd = _sealed_memfd("stdin", stdin)
        status_r, status_w = os.pipe2(os.O_CLOEXEC)
        try:
            proc = subprocess.Popen(
                (leaf.launcher() if leaf is not None else []) + self._command(limits, code_fd, status_w),
                stdin=stdin_fd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(code_fd, status_w),
                env={},
                start_new_session=True,  # its own process group, so a last-resort killpg hits only it
                bufsize=0,
            )
        except OSError as e:
            os.close(status_r)
            raise SandboxError(f"cannot start bwrap: {e}") from e
        finally:
            for fd in (code_fd, stdin_fd, status_w):
                os.close(fd)
        return proc, open(status_r, "rb", buffering=0)  # the read transport closes it

    def _command(self, limits: Limits, code_fd: int, status_fd: int) -> list[str]:
        env = [arg for name, value in PROGRAM_ENV.items() for arg in ("--setenv", name, value)]
        return [
            *self._switch_user,
            BWRAP,
            "--unshare-all",
            "--unshare-user",
            *([] if self.container_mode else ["--disable-userns"]),
            "--die-with-parent",
            "--new-session",
            "--as-pid-1",
            "--cap-drop",
            "ALL",
            "--hostname",
            "sandbox",
            *self._layout,
            *([] if self.container_mode else ["--proc", "/proc"]),
            "--dev",
            "/dev",
            "--remount-ro",
            "/dev",  # bwrap's /dev is a tmpfs without a size limit: writable, it would be unlimited memory
            "--size",
            str(limits.tmpfs_bytes),
            "--tmpfs",
            "/work",
            "--file",
            str(code_fd),
            STUDENT_FILE,
            "--remount-ro",
            "/",
            "--chdir",
            "/work",
            "--json-status-fd",
            str(status_fd),
            "--clearenv",
            *env,
            PRLIMIT,
            *_rlimits(limits),
            "--",
            self.python,
            "-I",
            "-S",
            "-B",
            STUDENT_FILE,
        ]

    def _self_test(self) -> str | None:
        code_fd = _sealed_memfd("main.py", b"print(6 * 7)\n")
        stdin_fd = _sealed_memfd("stdin", b"")
        status_r, status_w = os.pipe2(os.O_CLOEXEC)
        leaf = None
        try:
            leaf = self._cgroup(Limits())
            done = subprocess.run(
                (leaf.launcher() if leaf is not None else []) + self._command(Limits(), code_fd, status_w),
                stdin=stdin_fd,
                capture_output=True,
                pass_fds=(code_fd, status_w),
                env={},
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired, SandboxError) as e:
            return f"bwrap did not run: {e}"
        finally:
            for fd in (code_fd, stdin_fd, status_w):
                os.close(fd)
            with open(status_r, "rb") as status:
                reported = status.read()
            if leaf is not None and self.cgroups is not None:
                self.cgroups.release(leaf)
        if done.stdout == b"42\n" and b'"exit-code": 0' in reported:
            return None
        why = done.stderr.decode(errors="replace").strip()[:500] or f"exit status {done.returncode}"
        return f"bubblewrap cannot build a sandbox here: {why}"


class UnsafeLocalSandbox:
    """DEVELOPMENT ONLY. Runs the program as a plain child process of the service, WITHOUT ISOLATION.

    It applies rlimits (memory, CPU time, file size, open files; no core dumps), a wall-clock deadline,
    the output caps, a minimal environment and a fresh temporary working directory, so verdicts look
    like the real engine's. It does NOT protect anything:

    * the program runs as the service's user and can read every file that user can (the repository,
      ~/.ssh, secrets, the database socket), write wherever that user can, and delete the service's files;
    * it has the full network: it can reach the internet, the database and every other service;
    * it sees and can signal the service's other processes; a child that calls setsid() escapes the
      kill at the deadline and keeps running after the run;
    * there is no process-count limit (RLIMIT_NPROC would count the developer's whole session), so a
      fork bomb takes the machine down.

    Use it only where the `unavailable_reason` of BubblewrapSandbox is not None and the person running
    the service explicitly asked for no isolation, with code they trust.
    """

    def __init__(self, python: str = "/usr/bin/python3"):
        if not os.path.isabs(python):
            raise SandboxError(f"the sandbox interpreter must be an absolute path, not {python!r}")
        self.python = python

    async def run(self, code: str, stdin: str = "", limits: Limits = Limits()) -> RunResult:
        screened = await _screen(code, stdin, limits)
        if screened is not None:
            return screened
        with tempfile.TemporaryDirectory(prefix="learnflow-unsafe-") as work:
            main = os.path.join(work, "main.py")
            started = time.monotonic()
            proc = self._spawn(work, main, code.encode(), stdin.encode(), limits)
            seen = await _supervise(
                proc,
                limits,
                started,
                kill=lambda: _killpg(proc),
                escalate=lambda: _killpg(proc),
                reap_group=True,
            )
        return _result(seen, code, limits, main, bwrap_status=False)

    def _spawn(
        self, work: str, main: str, code: bytes, stdin: bytes, limits: Limits
    ) -> subprocess.Popen[bytes]:
        with open(main, "wb") as f:
            f.write(code)
        with tempfile.TemporaryFile() as feed:
            feed.write(stdin)
            feed.seek(0)
            return subprocess.Popen(  # preexec_fn: development only, see the docstring
                [self.python, "-I", "-S", "-B", main],
                stdin=feed,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=work,
                env={**PROGRAM_ENV, "HOME": work},
                start_new_session=True,
                bufsize=0,
                preexec_fn=lambda: _apply_rlimits(limits),
            )


# --- checks before anything runs ---------------------------------------------------------------------


async def _screen(code: str, stdin: str, limits: Limits) -> RunResult | None:
    """REJECTED or SYNTAX_ERROR without starting a process, else None."""
    problem = _limits_problem(limits)
    size = len(code.encode(errors="surrogatepass"))
    if problem is None and size > MAX_CODE_BYTES:
        problem = f"the program is {size} bytes; the limit is {MAX_CODE_BYTES}"
    if problem is None and "\0" in code:
        problem = "the program contains NUL bytes"
    if problem is None and len(stdin.encode(errors="surrogatepass")) > MAX_STDIN_BYTES:
        problem = f"stdin is larger than {MAX_STDIN_BYTES} bytes"
    if problem is None and not _encodable(code, stdin):
        problem = "the program or stdin is not valid Unicode (lone surrogates)"
    if problem is not None:
        return RunResult(Verdict.REJECTED, "", "", False, False, 0, 0, Diagnosis("", problem, 0, ""))
    if len(code) > _INLINE_SYNTAX_CHECK:
        syntax = await asyncio.to_thread(check_syntax, code)
    else:
        syntax = check_syntax(code)
    if syntax is None:
        return None
    where = f'  File "main.py", line {syntax.line}\n    {syntax.source_line}\n' if syntax.line else ""
    stderr = f"{where}{syntax.exception_type}: {syntax.message}\n"
    return RunResult(Verdict.SYNTAX_ERROR, "", stderr, False, False, 1, 0, syntax)


def _limits_problem(limits: Limits) -> str | None:
    for f in fields(Limits):
        value, ceiling = getattr(limits, f.name), getattr(MAX_LIMITS, f.name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            return f"limit {f.name} must be a positive integer, not {value!r}"
        if value > ceiling:
            return f"limit {f.name}={value} is above the maximum of {ceiling}"
    return None


def _encodable(*texts: str) -> bool:
    try:
        for text in texts:
            text.encode()
    except UnicodeEncodeError:
        return False
    return True


# --- rlimits --------------------------------------------------------------------------------------------


def _rlimit_values(limits: Limits) -> dict[str, tuple[int, int]]:
    """(soft, hard) per resource, shared by both engines.

    Memory: RLIMIT_DATA is the budget the student sees (`memory_mb` of heap, thread stacks included):
    measured here, with 50 MB `x = ' ' * 100_000_000` fails cleanly with MemoryError while
    `list(range(1_000_000))` (about 40 MB) still works. RLIMIT_AS alone at 50 MB breaks that list, because
    the address space also counts the interpreter's ~17 MiB of code. But RLIMIT_DATA does not count
    shared mappings: `mmap.mmap(-1, 300_000_000)` escaped it in the same measurement, so RLIMIT_AS, set
    `_ADDRESS_SPACE_HEADROOM` above the data budget, bounds those. Neither covers kernel memory
    (socket and pipe buffers), and memfds and /work count against file_bytes, open_files and tmpfs_bytes
    instead; a memory cgroup on the pod is the backstop for all of it.

    CPU time: a second above the wall clock, so the deadline normally acts first; it catches a run whose
    supervisor is starved. Python ignores SIGXFSZ, so RLIMIT_FSIZE surfaces as EFBIG, not a kill.
    """
    memory = limits.memory_mb << 20
    cpu = math.ceil(limits.wall_ms / 1000) + 1
    return {
        "data": (memory, memory),
        "as": (memory + _ADDRESS_SPACE_HEADROOM, memory + _ADDRESS_SPACE_HEADROOM),
        "nproc": (limits.processes, limits.processes),
        "fsize": (limits.file_bytes, limits.file_bytes),
        "nofile": (limits.open_files, limits.open_files),
        "cpu": (cpu, cpu + 1),
        "core": (0, 0),
        "stack": (_STACK_BYTES, _STACK_BYTES),
        "msgqueue": (0, 0),
    }


def _run_memory_bytes(limits: Limits) -> int:
    """The memory of the run's cgroup: everything its processes hold together, /work (tmpfs pages are
    charged to the run) and the kernel memory it causes included.

    `memory_mb` + `tmpfs_bytes` + 16 MiB: the per-process RLIMIT_DATA (`memory_mb`) stays what a single
    process meets first, so a program that allocates too much still dies of a MemoryError on its own
    line, a traceback a student can act on, rather than of an anonymous SIGKILL; the 16 MiB cover what
    the interpreter holds besides its heap (a second process is where the cgroup takes over: two children
    of 45 MB do not fit in 50 + 8 + 16). Measured peaks here: `print(1)` about 3 MiB (bwrap included,
    shared libraries are charged to whoever read them first), a single process growing to its
    MemoryError about 48 MiB.
    """
    return (limits.memory_mb << 20) + limits.tmpfs_bytes + _RUN_MEMORY_HEADROOM


def _rlimits(limits: Limits) -> list[str]:
    """prlimit arguments. They are applied inside the sandbox, after bwrap has created the user namespace,
    which matters for RLIMIT_NPROC: the kernel counts processes per user *and user namespace* (ucounts,
    Linux >= 5.14) and checks the count in the namespace against this limit, so each run gets its own
    `processes` budget (measured: four concurrent runs each forked 14 children under a limit of 16). Set
    on bwrap from outside instead, the namespace inherits the limit as the cap of the whole uid, and all
    concurrent runs share that one budget (measured: 10 children in total across four runs); on kernels
    before 5.14 it is per real uid whichever way, shared by all concurrent runs, so keep the pool small
    there. Either way it binds only a non-root uid, hence the dedicated `learnflow-sbx` user (or the
    service's own non-root uid). Applying limits inside also leaves bwrap itself unconstrained.
    """
    return [f"--{name}={soft}:{hard}" for name, (soft, hard) in _rlimit_values(limits).items()]


_RESOURCES = {
    "data": resource.RLIMIT_DATA,
    "as": resource.RLIMIT_AS,
    "fsize": resource.RLIMIT_FSIZE,
    "nofile": resource.RLIMIT_NOFILE,
    "cpu": resource.RLIMIT_CPU,
    "core": resource.RLIMIT_CORE,
}


def _apply_rlimits(limits: Limits) -> None:
    """For UnsafeLocalSandbox, in the child between fork and exec. No RLIMIT_NPROC: see its docstring."""
    for name, value in _rlimit_values(limits).items():
        if name in _RESOURCES:
            resource.setrlimit(_RESOURCES[name], value)


# --- running and watching ---------------------------------------------------------------------------------


class _Stream(asyncio.Protocol):
    """One output pipe: keeps the first `keep` bytes and the last `_STDERR_TAIL`, counts everything."""

    def __init__(self, keep: int, meter: _OutputMeter):
        self.keep = keep
        self.meter = meter
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        if len(self.head) < self.keep:
            self.head += data[: self.keep - len(self.head)]
        self.tail += data
        if len(self.tail) > 2 * _STDERR_TAIL:
            del self.tail[:-_STDERR_TAIL]
        self.total += len(data)
        self.meter.add(len(data))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    @property
    def truncated(self) -> bool:
        return self.total > self.keep

    def text(self) -> str:
        # A cut can fall inside a UTF-8 sequence: drop that partial character instead of replacing it.
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        return decoder.decode(bytes(self.head), final=not self.truncated)

    def last_text(self) -> str:
        """The end of the stream, where the traceback that ended the program is."""
        data = self.head if not self.truncated else self.tail[-_STDERR_TAIL:]
        return bytes(data).decode("utf-8", "replace")


class _OutputMeter:
    """Both streams together: past `cap` bytes the run is killed (OUTPUT_EXCEEDED). Between
    `output_bytes` and the cap, output is only truncated, so a program that prints a little too much
    still gets its real verdict."""

    def __init__(self, cap: int):
        self.cap = cap
        self.total = 0
        self.exceeded = asyncio.Event()

    def add(self, n: int) -> None:
        self.total += n
        if self.total > self.cap:
            self.exceeded.set()


class _StatusReader(asyncio.Protocol):
    """bwrap's --json-status-fd: `child-pid` when the sandbox exists, `exit-code` once the program ran.

    On the first child-pid it opens a pidfd on the program (pid 1 of the sandbox), so the kill at the
    deadline cannot hit a recycled pid. bwrap does not pass this pipe on to the program, and only the
    first child-pid is believed, after checking the process belongs to the sandbox uid.
    """

    def __init__(self, uid: int):
        self.uid = uid
        self.buffer = b""
        self.pidfd: int | None = None
        self.seen_child = False
        self.exit_code: int | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            with contextlib.suppress(ValueError):
                self._record(json.loads(line))

    def _record(self, message: object) -> None:
        if not isinstance(message, dict):
            return
        if "child-pid" in message and not self.seen_child:
            self.seen_child = True
            self.pidfd = _open_pidfd(int(message["child-pid"]), self.uid)
        if "exit-code" in message:
            self.exit_code = int(message["exit-code"])

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def kill(self) -> bool:
        if self.pidfd is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        return True

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


@dataclass
class _Seen:
    """What the supervisor observed of one run."""

    stdout: _Stream
    stderr: _Stream
    wait_status: int
    timed_out: bool
    output_exceeded: bool
    duration_ms: int


async def _supervise(
    proc: subprocess.Popen[bytes],
    limits: Limits,
    started: float,
    *,
    kill: Callable[[], None],
    escalate: Callable[[], None],
    reap_group: bool = False,
) -> _Seen:
    """Read stdout and stderr concurrently and wait for the process, until the deadline or the output
    cap; then `kill`, and `escalate` if the tree is still there after `_KILL_GRACE`. Returns once the
    process is reaped and both pipes are closed. If the caller is cancelled, the tree is killed and
    reaped in the background."""
    loop = asyncio.get_running_loop()
    meter = _OutputMeter(max(4 * limits.output_bytes, 1 << 20))
    out, err = _Stream(limits.output_bytes, meter), _Stream(limits.output_bytes, meter)
    assert proc.stdout is not None and proc.stderr is not None
    out_transport, _ = await loop.connect_read_pipe(lambda: out, proc.stdout)
    err_transport, _ = await loop.connect_read_pipe(lambda: err, proc.stderr)
    exited = _reaper(proc, reap_group)
    parts: list[asyncio.Future[Any]] = [exited, out.closed, err.closed]
    finished = asyncio.ensure_future(asyncio.wait(parts))
    overflow = asyncio.ensure_future(meter.exceeded.wait())
    timed_out = False
    try:
        deadline = started + limits.wall_ms / 1000
        done, _ = await asyncio.wait(
            [finished, overflow], timeout=max(0.0, deadline - time.monotonic()), return_when="FIRST_COMPLETED"
        )
        if finished not in done:
            if not exited.done():
                timed_out = overflow not in done
                kill()
            try:
                async with asyncio.timeout(_KILL_GRACE):
                    await asyncio.shield(finished)
            except TimeoutError:
                if not exited.done():
                    escalate()
                out_transport.close()  # a process outside any sandbox holds the pipes open: stop reading
                err_transport.close()
                try:
                    async with asyncio.timeout(_KILL_GRACE):
                        await asyncio.shield(exited)
                except TimeoutError:
                    raise SandboxError(f"process {proc.pid} survived SIGKILL") from None
    except asyncio.CancelledError:
        if not exited.done():
            kill()  # the reaper callback still collects the process when it dies
        raise
    finally:
        overflow.cancel()
    status = exited.result()
    ended = time.monotonic()
    output_exceeded = meter.exceeded.is_set()
    return _Seen(out, err, status, timed_out, output_exceeded, int((ended - started) * 1000))


def _reaper(proc: subprocess.Popen[bytes], reap_group: bool) -> asyncio.Future[int]:
    """A future for the wait status of `proc`, from a pidfd watched by the event loop (asyncio or uvloop
    alike; no thread, no SIGCHLD handler).

    No peak memory comes with it: wait4's ru_maxrss would include the high-water mark of the service
    itself, which the child inherits with fork() and with vfork() alike (measured: 205 MB reported for
    `print(1)` started from a 200 MB parent), so it says nothing about the program. The run's cgroup
    is the witness instead (RunResult.memory_peak_bytes)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[int] = loop.create_future()
    pidfd = os.pidfd_open(proc.pid)

    def collect() -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        if reap_group:
            # The leader is a zombie until waited for, so its group id cannot have been reused yet.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        try:
            _, status = os.waitpid(proc.pid, 0)
        except ChildProcessError:  # reaped by someone else (a foreign SIGCHLD handler): status unknown
            status = 255 << 8
        proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait for it again
        if not future.done():
            future.set_result(status)

    loop.add_reader(pidfd, collect)
    return future


def _result(
    seen: _Seen, code: str, limits: Limits, filename: str, *, bwrap_status: bool, usage: Usage | None = None
) -> RunResult:
    exit_code = os.waitstatus_to_exitcode(seen.wait_status)
    if bwrap_status and 128 < exit_code < 128 + signal.NSIG:
        # bwrap reports a program killed by signal N as 128+N, like a shell. (A program that itself
        # exits with 129..192 reads as a signal; Python programs rarely do.)
        exit_code = 128 - exit_code
    if seen.timed_out:
        exit_code = -signal.SIGKILL
    stderr = seen.stderr.text()
    diagnosis: Diagnosis | None = None
    if exit_code != 0 and not (seen.timed_out or seen.output_exceeded):
        diagnosis = diagnose(seen.stderr.last_text(), code, filename)
        if diagnosis is None and exit_code < 0:
            diagnosis = signal_diagnosis(-exit_code)
    verdict = verdict_for(
        timed_out=seen.timed_out,
        output_exceeded=seen.output_exceeded,
        exit_code=exit_code,
        diagnosis=diagnosis,
        stderr=seen.stderr.last_text(),
    )
    if usage is not None and usage.oom_kills and verdict not in (Verdict.TIMED_OUT, Verdict.OUTPUT_EXCEEDED):
        # The kernel killed a process of the run because the run as a whole reached its memory: that is
        # the memory limit, even if the program itself carried on (unlike a MemoryError it caught, the
        # kill was not its choice). The program's own MemoryError, if it got one, says it best.
        verdict = Verdict.MEMORY_EXCEEDED
        if diagnosis is None or diagnosis.exception_type != "MemoryError":
            diagnosis = Diagnosis(
                "MemoryError",
                f"the program's processes together used all the memory of the run "
                f"({_run_memory_bytes(limits) >> 20} MiB), so the sandbox stopped one of them",
                0,
                "",
            )
    return RunResult(
        verdict=verdict,
        stdout=seen.stdout.text(),
        stderr=stderr,
        stdout_truncated=seen.stdout.truncated,
        stderr_truncated=seen.stderr.truncated,
        exit_code=exit_code,
        duration_ms=seen.duration_ms,
        diagnosis=diagnosis,
        memory_peak_bytes=usage.memory_peak_bytes if usage is not None else None,
    )


# --- small helpers ------------------------------------------------------------------------------------------


def _sealed_memfd(name: str, data: bytes) -> int:
    """An anonymous in-memory file holding `data`, sealed so nobody can change it: the program's text (bwrap
    copies it into /work with --file) and its stdin. No host file, no pipe that could fill up."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
        seals = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_pidfd(pid: int, uid: int) -> int | None:
    """A pidfd on `pid` if it is a process of `uid` (the sandbox's), else None."""
    try:
        pidfd = os.pidfd_open(pid)
    except (ProcessLookupError, ValueError, OSError):
        return None
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            uids = next(line for line in f if line.startswith(b"Uid:")).split()
        if int(uids[1]) == uid:
            return pidfd
    except (OSError, StopIteration, IndexError, ValueError):
        pass
    os.close(pidfd)
    return None


def _killpg(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group of `proc` (its own: start_new_session). Only while `proc` is not reaped,
    so the group id cannot have been recycled."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def _python_problem(python: str) -> str | None:
    if not os.path.isabs(python):
        return f"the sandbox interpreter must be an absolute path, not {python!r}"
    real = os.path.realpath(python)
    if not real.startswith("/usr/") or real.startswith("/usr/local/"):
        return (
            f"the sandbox interpreter {python} ({real}) must live under /usr and not /usr/local, the only "
            "system files the sandbox sees (install Debian's python3 and use /usr/bin/python3)"
        )
    if not os.access(real, os.X_OK):
        return f"the sandbox interpreter {python} is missing or not executable"
    return None


def _ensure_user(name: str) -> pwd.struct_passwd:
    """The sandbox's system user, created when missing (the service runs as root here)."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    try:
        subprocess.run(
            [USERADD, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise SandboxError(f"the sandbox user {name!r} does not exist and could not be created: {e}") from e
    return pwd.getpwnam(name)


def _usr_layout() -> list[str]:
    """bwrap arguments for the system files: /usr read-only, the top-level links usrmerge makes into it
    (or read-only binds where this host still has real directories), and /usr/local hidden."""
    layout = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = f"/{name}"
        if os.path.islink(path):
            layout += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            layout += ["--ro-bind", path, path]
    if os.path.isdir("/usr/local"):
        layout += ["--tmpfs", "/usr/local", "--remount-ro", "/usr/local"]
    return layout
