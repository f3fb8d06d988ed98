"""Abuse programs and what the sandbox must make of them: one table, run against the engine directly
(test_engine.py) and through the real service (test_sandbox_service.py), always with the default limits.

Each `check` reads only attributes that RunResult and the proto `Execution` share (stdout, stderr,
stdout_truncated, stderr_truncated, exit_code, duration_ms, diagnosis.<field>), so the same table checks
a gRPC reply; compare verdicts with `VERDICT_{case.expected_verdict}`. Some checks also look at the host
(its /proc, its /tmp, the listening socket): they hold when the engine runs on this machine, which is
the case for the local mesh too.

Nothing here sends traffic anywhere: the network case only tries a socket on this host and 8.8.8.8:53,
and the sandbox has no network, so neither attempt leaves it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.sandbox.diagnosis import Verdict
from services.sandbox.engine import Limits

SECRET_ENV = "LEARNFLOW_TEST_SECRET"
SECRET_VALUE = "lf-test-secret-5d1c7a-do-not-leak"
SANDBOX_USER = "learnflow-sbx"
DEFAULT = Limits()
REPO = Path(__file__).resolve().parents[3]
# Inside the sandbox the program is /work/main.py; outside, only a sandboxed process has that in its argv.
PROGRAM_PATH = "/work/main.py"
# The program's environment: what the engine sets, PWD from bwrap's --chdir, LC_CTYPE if Python coerces.
SANDBOX_ENV_NAMES = {"PATH", "HOME", "LANG", "PYTHONDONTWRITEBYTECODE", "PYTHONIOENCODING", "PWD", "LC_CTYPE"}


@dataclass(frozen=True)
class AbuseCase:
    name: str
    code: str
    expected_verdict: Verdict
    check: Callable[[Any], None] | None = None  # given the RunResult (or an Execution reply)
    stdin: str = ""
    # Holds only where each run has its own cgroup (BubblewrapSandbox.whole_run_limits is None): with
    # per-process rlimits alone, the run as a whole is not bounded, which is what the case shows.
    needs_whole_run_limits: bool = False


# --- host-side helpers -----------------------------------------------------------------------------------


# What starts a run between the engine and the program (engine.py): none of it is a test process.
_LAUNCHERS = {b"bwrap", b"setpriv", b"prlimit", b"sh"}


def sandbox_processes() -> list[int]:
    """Pids of processes left by sandbox runs of this test process: owned by the sandbox user (when the
    engine runs as root and switches to it), or running /work/main.py (when it runs as the caller's own
    user). Runs of other test processes (a parallel pytest worker, another checkout's suite on the same
    machine) are not counted: see `_ours`."""
    try:
        sandbox_uid = pwd.getpwnam(SANDBOX_USER).pw_uid if os.geteuid() == 0 else None
    except KeyError:
        sandbox_uid = None
    found: dict[int, int] = {}  # sandbox pid -> its parent
    parents: dict[int, tuple[int, bytes]] = {}  # every pid -> (parent, command name)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_bytes()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        fields = dict(line.split(b":", 1) for line in status.splitlines() if b":" in line)
        uid = int(fields.get(b"Uid", b"-1").split()[0])
        ppid = int(fields.get(b"PPid", b"0").split()[0])
        parents[int(entry)] = (ppid, Path(cmdline.split(b"\0")[0].decode(errors="replace")).name.encode())
        if uid == sandbox_uid or PROGRAM_PATH.encode() in cmdline.split(b"\0"):
            found[int(entry)] = ppid
    return [pid for pid in found if _ours(pid, found, parents)]


def _ours(pid: int, sandboxed: dict[int, int], parents: dict[int, tuple[int, bytes]]) -> bool:
    """Whether a sandbox process comes from this test process: this process is among its ancestors (the
    engine in-process, or the `learnflow serve` of a mesh this process started), or it has none but
    sandbox processes and their launchers up to init (an orphan: whatever leaked it, it is a leak, and
    it is counted). A run under any other process (another pytest worker's engine or mesh) is that
    process's to check: with tests in parallel, its runs come and go while this test looks."""
    me, seen = os.getpid(), set()
    while pid > 1 and pid not in seen:
        if pid == me:
            return True
        seen.add(pid)
        parent, name = parents.get(pid, (0, b""))
        if pid not in sandboxed and name not in _LAUNCHERS:
            # A process that is neither sandboxed nor a launcher: ours only if it descends from us.
            return _descends_from(pid, me, parents)
        pid = parent
    return True  # up to init through sandbox processes and launchers only: an orphan


def _descends_from(pid: int, ancestor: int, parents: dict[int, tuple[int, bytes]]) -> bool:
    seen = set()
    while pid > 1 and pid not in seen:
        if pid == ancestor:
            return True
        seen.add(pid)
        pid = parents.get(pid, (0, b""))[0]
    return False


def assert_no_sandbox_processes(within: float = 2.0) -> None:
    """Nothing of any run is left (polls briefly: a reply can overtake the kernel's last cleanup)."""
    deadline = time.monotonic() + within
    while (left := sandbox_processes()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes outlived their run: {left}"


@contextlib.contextmanager
def host_listener() -> Iterator[socket.socket]:
    """A TCP socket listening on the host's 127.0.0.1 for the network case to try."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        s.setblocking(False)
        yield s


def _nothing_connected(listener: socket.socket) -> bool:
    try:
        conn, _ = listener.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


# --- checks ------------------------------------------------------------------------------------------------


def _stdout_is(expected: str) -> Callable[[Any], None]:
    def check(r: Any) -> None:
        assert r.stdout == expected, r.stdout

    return check


def _located(exception_type: str, line: int, source_line: str) -> Callable[[Any], None]:
    def check(r: Any) -> None:
        d = r.diagnosis
        assert (d.exception_type, d.line, d.source_line) == (exception_type, line, source_line), d

    return check


def _all_blocked(r: Any) -> None:
    lines = r.stdout.splitlines()
    assert lines and all(line.startswith("blocked ") for line in lines), r.stdout


def _check_fork_bomb(r: Any) -> None:
    assert r.duration_ms < DEFAULT.wall_ms, r.duration_ms
    assert r.diagnosis.exception_type == "BlockingIOError", r.diagnosis
    assert_no_sandbox_processes()


def _check_memory(r: Any) -> None:
    assert r.diagnosis.exception_type in ("MemoryError", "OSError"), r.diagnosis


# The forked-allocation case: each child holds this much, touched (b"x" * n, not a lazy bytearray).
_CHILD_MIB = 45
_CHILDREN = 15


def _check_forked_allocations(r: Any) -> None:
    # Each child's 45 MB is within the per-process limit (50 MB); together they are 675 MB. The whole
    # run gets memory_mb + tmpfs_bytes + 16 MiB (engine._run_memory_bytes): at most one child fits.
    run_mib = DEFAULT.memory_mb + (DEFAULT.tmpfs_bytes >> 20) + 16
    held = int(r.stdout.split()[-1]) if r.stdout.startswith("held ") else -1
    assert held >= 0 and held * _CHILD_MIB < run_mib, (
        f"{held} children held {_CHILD_MIB} MB each: {r.stdout!r}"
    )
    assert r.diagnosis.exception_type == "MemoryError", r.diagnosis
    assert_no_sandbox_processes()


def _check_threads_and_forks(r: Any) -> None:
    tasks = int(r.stdout.split()[-1])
    # Every task (process or thread) of the run counts: never more than `processes` at once.
    assert 5 <= tasks <= DEFAULT.processes, r.stdout
    assert_no_sandbox_processes()


def _check_infinite_loop(r: Any) -> None:
    assert DEFAULT.wall_ms <= r.duration_ms < DEFAULT.wall_ms + 300, r.duration_ms
    assert r.exit_code == -9
    assert_no_sandbox_processes()


def _check_detached(r: Any) -> None:
    assert r.stdout == "parent done\n", r.stdout
    assert_no_sandbox_processes()


def _check_environment(r: Any) -> None:
    assert SECRET_VALUE not in r.stdout and SECRET_ENV not in r.stdout, "a host secret reached the sandbox"
    lines = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    keys = set(lines["environ"].split(","))
    assert keys <= SANDBOX_ENV_NAMES, keys
    assert lines["pids"] in ("1", "absent"), "the sandbox sees processes other than its own"


def _check_write_outside(r: Any) -> None:
    _all_blocked(r)
    assert not os.path.exists("/tmp/learnflow-escape-check"), "the sandbox wrote to the host's /tmp"
    assert not (REPO / "escape.txt").exists(), "the sandbox wrote into the repository"


def _check_fill_disk(r: Any) -> None:
    assert "big EFBIG" in r.stdout and "many ENOSPC" in r.stdout, r.stdout


def _check_huge_output(r: Any) -> None:
    assert r.duration_ms < 2000, r.duration_ms
    assert r.stdout_truncated and len(r.stdout.encode()) == DEFAULT.output_bytes


CONTAINER_MODE = False  # set by the engine tests while they run the table in container mode


def _check_isolation_of_self(r: Any) -> None:
    facts = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    assert facts["CapEff"] == "0000000000000000" and facts["CapBnd"] == "0000000000000000", facts
    assert facts["NoNewPrivs"] == "1", facts
    # Full mode blocks nested user namespaces (--disable-userns); container mode cannot (see engine.py)
    # and relies on the program having no capabilities in them, checked above.
    assert facts["unshare"] == "refused" or CONTAINER_MODE, "the program could create a user namespace"
    assert facts["fds"] == "0,1,2", f"file descriptors leaked into the sandbox: {facts['fds']}"


def _check_segfault(r: Any) -> None:
    assert r.exit_code == -11, r.exit_code


# --- programs ----------------------------------------------------------------------------------------------

_NAME_ERROR = "total = 0\nfor n in range(3):\n    total += nn\nprint(total)\n"

_FORK_BOMB = "import os\nwhile True:\n    os.fork()\n"

# The case: children that each stay under the per-process memory limit, together far over it.
# Each child reports once it holds its memory, then keeps it until the parent has heard from every
# child (reported, or killed), and exits 0: the children that exit 0 held their memory at the same time
# (one that reported can still be killed later, when another child's allocation needs the memory).
_FORKED_ALLOCATIONS = f"""\
import os
report_r, report_w = os.pipe()
done_r, done_w = os.pipe()
kids = []
for _ in range({_CHILDREN}):
    pid = os.fork()
    if pid == 0:
        os.close(report_r)
        os.close(done_w)
        block = b"x" * ({_CHILD_MIB} << 20)  # filled, so every page is really used
        os.write(report_w, b"+")
        os.close(report_w)
        os.read(done_r, 1)  # hold it until the parent is done counting
        os._exit(0)
    kids.append(pid)
os.close(report_w)
while os.read(report_r, 1):  # end of file: every child has reported or died
    pass
os.close(done_w)
held = sum(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0 for pid in kids)
print("held", held)
"""

# Processes and threads together: four children each start threads until refused, and all hold them
# until every child has reported.
_THREADS_AND_FORKS = """\
import os, threading
report_r, report_w = os.pipe()
done_r, done_w = os.pipe()
kids = []
for _ in range(4):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        os.close(report_r)
        os.close(done_w)
        started = 0
        try:
            while started < 100:
                threading.Thread(target=os.read, args=(done_r, 1), daemon=True).start()
                started += 1
        except RuntimeError:  # can't start new thread
            pass
        os.write(report_w, b"+" * started)
        os.close(report_w)
        os.read(done_r, 1)  # hold them until every child has reported
        os._exit(0)
    kids.append(pid)
os.close(report_w)
threads = 0
while chunk := os.read(report_r, 4096):
    threads += len(chunk)
os.close(done_w)  # end of file releases every child and thread
for pid in kids:
    os.waitpid(pid, 0)
print("tasks", 1 + len(kids) + threads)
"""

_DETACHED = """\
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:  # daemonized grandchild, in its own session, trying to outlive the run
        with open("/work/marker", "w") as f:
            f.write("alive")
        time.sleep(30)
    os._exit(0)
print("parent done")
"""

_NETWORK = """\
import socket
for host, port in (("127.0.0.1", {port}), ("8.8.8.8", 53)):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect((host, port))
        print("CONNECTED", host, port)
    except OSError as e:
        print("blocked", host, type(e).__name__)
    finally:
        s.close()
"""

_READ_HOST = """\
import os
for path in {paths!r}:
    try:
        if os.path.isdir(path):
            found = os.listdir(path)
        else:
            with open(path, "rb") as f:
                found = f.read(100)
        print(("READ " if found else "blocked (empty) ") + path)
    except OSError as e:
        print("blocked", path, type(e).__name__)
"""

_ENVIRONMENT = """\
import os
print("environ", ",".join(sorted(os.environ)))
for path in ("/proc/1/environ", "/proc/self/environ"):
    try:
        print("file", path, open(path, "rb").read().decode(errors="replace").replace(chr(0), ";"))
    except FileNotFoundError:
        print("file", path, "absent")  # container mode: no /proc at all
try:
    print("pids", ",".join(sorted(p for p in os.listdir("/proc") if p.isdigit())))
except FileNotFoundError:
    print("pids", "absent")
"""

_WRITE_OUTSIDE = """\
paths = ["/usr/x", "/tmp/learnflow-escape-check", "/x", "/etc/x", "/dev/shm/x", "/dev/x", "/home/x",
         "/proc/x", "/usr/local/x", {repo!r}]
for path in paths:
    try:
        with open(path, "w") as f:
            f.write("escaped")
        print("WROTE", path)
    except OSError as e:
        print("blocked", path, type(e).__name__)
"""

_FILL_DISK = """\
import errno
chunk = b"x" * (1 << 20)
try:
    with open("/work/big.bin", "wb") as f:
        for _ in range(64):
            f.write(chunk)
            f.flush()
    print("big wrote 64 MB")
except OSError as e:
    print("big", errno.errorcode[e.errno])
try:
    for i in range(64):
        with open(f"/work/part{i}.bin", "wb") as f:
            f.write(chunk[:-1])
    print("many wrote 64 MB")
except OSError as e:
    print("many", errno.errorcode[e.errno])
"""

_HUGE_OUTPUT = (
    "import sys\nchunk = 'x' * 999_999 + '\\n'\nfor _ in range(100):\n    sys.stdout.write(chunk)\n"
)

_SIGNALS = """\
import os
for target in (os.getppid(), 1, -1):
    try:
        os.kill(target, 9)
        print("sent", target)
    except OSError as e:
        print("refused", target, type(e).__name__)
print("still here")
"""

_SELF = """\
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
# capget(2) and prctl(2) directly: they work with or without a /proc in the sandbox
header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
data = (ctypes.c_uint32 * 6)()  # two {effective, permitted, inheritable} words
assert libc.capget(header, data) == 0
print("CapEff", format(data[3] << 32 | data[0], "016x"))
bounding = sum(1 << c for c in range(64) if libc.prctl(23, c, 0, 0, 0) == 1)  # PR_CAPBSET_READ
print("CapBnd", format(bounding, "016x"))
print("NoNewPrivs", libc.prctl(39, 0, 0, 0, 0))  # PR_GET_NO_NEW_PRIVS
print("Uid", os.getuid())
print("unshare", "refused" if libc.unshare(0x10000000) != 0 else "ALLOWED")  # CLONE_NEWUSER


def is_open(fd):
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


print("fds", ",".join(str(fd) for fd in range(1024) if is_open(fd)))
"""


def abuse_cases(listener: socket.socket | None = None) -> list[AbuseCase]:
    """The table. `listener` is a socket from host_listener(); without one (to list the names, say) the
    network case aims at port 9 and does not check the host side."""
    port = listener.getsockname()[1] if listener is not None else 9

    def check_network(r: Any) -> None:
        _all_blocked(r)
        assert listener is None or _nothing_connected(listener), "the sandbox reached the host's loopback"

    secret_paths = [
        "/etc/shadow",
        "/etc/passwd",
        "/root",
        "/root/.pyenv",
        "/home",
        "/tmp",
        "/var",
        "/usr/local/bin",
        str(REPO / "pyproject.toml"),
        os.path.realpath(sys.executable),  # the service's own interpreter
        "/proc/1/root/etc/passwd",
    ]
    return [
        # happy paths
        AbuseCase("print", "print('hello')", Verdict.OK, _stdout_is("hello\n")),
        AbuseCase(
            "stdin", "name = input()\nprint(f'hello {name}')", Verdict.OK, _stdout_is("hello Ada\n"), "Ada\n"
        ),
        AbuseCase("zero_division", "1/0", Verdict.RUNTIME_ERROR, _located("ZeroDivisionError", 1, "1/0")),
        AbuseCase("name_error", _NAME_ERROR, Verdict.RUNTIME_ERROR, _located("NameError", 3, "total += nn")),
        AbuseCase(
            "syntax_error",
            "x = 1\nif x = 2:\n    pass\n",
            Verdict.SYNTAX_ERROR,
            _located("SyntaxError", 2, "if x = 2:"),
        ),
        AbuseCase(
            "exit_code", "import sys\nsys.exit(3)", Verdict.RUNTIME_ERROR, lambda r: _expect(r.exit_code == 3)
        ),
        # resources
        AbuseCase("fork_bomb", _FORK_BOMB, Verdict.RUNTIME_ERROR, _check_fork_bomb),
        AbuseCase(
            "memory_bomb",
            "x = ' ' * 100_000_000",
            Verdict.MEMORY_EXCEEDED,
            _located("MemoryError", 1, "x = ' ' * 100_000_000"),
        ),
        AbuseCase(
            "memory_growth",
            "keep = []\nwhile True:\n    keep.append(bytearray(1 << 20))\n",
            Verdict.MEMORY_EXCEEDED,
            _check_memory,
        ),
        AbuseCase(
            "shared_mmap",
            "import mmap\nm = mmap.mmap(-1, 300_000_000)\nm[::4096] = b'x' * len(m[::4096])\n",
            Verdict.MEMORY_EXCEEDED,
            _check_memory,
        ),
        AbuseCase(
            "forked_allocations",
            _FORKED_ALLOCATIONS,
            Verdict.MEMORY_EXCEEDED,
            _check_forked_allocations,
            needs_whole_run_limits=True,
        ),
        AbuseCase("threads_and_forks", _THREADS_AND_FORKS, Verdict.OK, _check_threads_and_forks),
        AbuseCase("infinite_loop", "while True:\n    pass\n", Verdict.TIMED_OUT, _check_infinite_loop),
        AbuseCase("huge_output", _HUGE_OUTPUT, Verdict.OUTPUT_EXCEEDED, _check_huge_output),
        AbuseCase("fill_disk", _FILL_DISK, Verdict.OK, _check_fill_disk),
        # escape
        AbuseCase("detached_child", _DETACHED, Verdict.OK, _check_detached),
        AbuseCase("network", _NETWORK.format(port=port), Verdict.OK, check_network),
        AbuseCase("read_host_files", _READ_HOST.format(paths=secret_paths), Verdict.OK, _all_blocked),
        AbuseCase("environment", _ENVIRONMENT, Verdict.OK, _check_environment),
        AbuseCase(
            "write_outside",
            _WRITE_OUTSIDE.format(repo=str(REPO / "escape.txt")),
            Verdict.OK,
            _check_write_outside,
        ),
        AbuseCase(
            "persist_write",
            "open('/work/secret.txt', 'w').write('run A')\nprint('written')",
            Verdict.OK,
            _stdout_is("written\n"),
        ),
        AbuseCase(
            "persist_read",
            "import os\nprint(sorted(os.listdir('/work')))",
            Verdict.OK,
            _stdout_is("['main.py']\n"),
        ),
        AbuseCase(
            "signals", _SIGNALS, Verdict.OK, lambda r: _expect(r.stdout.endswith("still here\n"), r.stdout)
        ),
        AbuseCase(
            "ctypes_segfault", "import ctypes\nctypes.string_at(0)", Verdict.RUNTIME_ERROR, _check_segfault
        ),
        AbuseCase("privileges", _SELF, Verdict.OK, _check_isolation_of_self),
    ]


def _expect(condition: bool, detail: object = "") -> None:
    assert condition, detail
