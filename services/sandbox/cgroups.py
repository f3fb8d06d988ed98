"""Whole-run limits for the sandbox: one memory + pids cgroup per run, so a program's limits hold for all
of its processes together, not for each one.

Why: rlimits are per process. With RLIMIT_DATA at 50 MB, fifteen forked children of one run could each
hold 45 MB (716 MiB for the run, measured). A cgroup charges every page and every task of the run to one
counter: `memory.max` / `memory.limit_in_bytes` and `pids.max` then bound the run, whatever it forks.

Where the cgroup comes from (`probe`, once per process; the first usable wins):

* cgroup v2 with the memory and pids controllers (pure-v2 hosts, Kubernetes nodes since 1.25): per-run
  leaves under `<own cgroup>/learnflow-sandbox`. The "no internal processes" rule forbids enabling
  controllers for the children of a cgroup that holds processes, and the service sits in its own cgroup;
  when that cgroup is the root of a cgroup namespace (a container: the pod's own cgroup), the service's
  processes are first moved into a `learnflow-service` leaf next to it, as docker:dind's entrypoint does.
  A cgroup that is neither the hierarchy's root nor a namespace root is used only when its owner marked
  it delegated (systemd's `Delegate=yes` sets the `trusted.delegate` xattr): otherwise it belongs to
  systemd, which moves processes back and removes cgroups it does not know.
* cgroup v1 memory and pids hierarchies (hybrid hosts, such as the machines we develop on, where memory
  and pids are on v1 and the v2 mount has neither): per-run leaves `learnflow-run-<pid>-<n>` directly in
  the service's own memory and pids cgroups (v1 has no internal-process rule), removed after the run.
* neither (not root, read-only /sys/fs/cgroup, no controller): None and the reason. The engine keeps its
  per-process rlimits and says so once in the log, in `learnflow_sandbox_whole_run_limits` and in
  `BubblewrapSandbox.whole_run_limits`.

Both nest under the service's own cgroup, so the run's memory also counts against whatever limit the
operator put on the service (the pod's limit): a run can never escape it.

How a run is placed, race-free and cheaply: the run's command is prefixed with a tiny launcher,
`/bin/sh -c 'echo 0 > <leaf>/tasks ...; exec setpriv ... bwrap ...'`. The shell moves *itself* into the
leaf before it execs anything, so setpriv, bwrap and every process of the program are born inside it:
nothing runs outside, nothing has to be stopped and moved afterwards. Writing "0" to a v1 `tasks` file
(one thread moving itself) is also the only migration the kernel does without taking the global
cgroup_threadgroup_rwsem for writing, whose RCU grace period cost 10-15 ms per run when runs came 30 ms
apart (measured here: 13 ms median moving another process's pid through cgroup.procs, 0.1 ms when moving
oneself through `tasks`, on top of ~1 ms for the shell). cgroup v2 has no per-thread file for domain
cgroups, so there the launcher writes cgroup.procs and pays that grace period (12 ms median on this
host's v2 mount, runs 30 ms apart) unless the hierarchy is mounted with `favordynmods` (Linux >= 6.0) or
runs come back to back. (clone3's CLONE_INTO_CGROUP would avoid it, but Python's subprocess cannot pass
it; a launcher placed before the request arrives, bwrap waiting on `--args FD`, would.)

After the run: the peak (`memory.peak` / `memory.max_usage_in_bytes`) and the number of OOM kills
(`oom_kill` in `memory.events` / `memory.oom_control`) are read, then the leaf is removed (retried on a
later run if a dying process still holds it).
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import Gauge

log = logging.getLogger(__name__)

SH = "/bin/sh"
# The launcher: move this shell into each listed cgroup (v1 `tasks` / v2 `cgroup.procs`), then exec the
# command after `--`. A failed move ends the run before anything of the program starts (exit 125, the
# shell's error on stderr), never a run without its cgroup.
LAUNCHER = 'while [ "$1" != -- ]; do echo 0 > "$1" || exit 125; shift; done; shift; exec "$@"'
PARENT_V2 = "learnflow-sandbox"
SERVICE_LEAF_V2 = "learnflow-service"
RUN_PREFIX_V1 = "learnflow-run-"

WHOLE_RUN_LIMITS = Gauge(
    "learnflow_sandbox_whole_run_limits",
    "1 when each sandbox run gets its own memory+pids cgroup (limits for the whole run), 0 when only "
    "per-process rlimits apply",
    ["cgroup"],
)


@dataclass(frozen=True)
class Usage:
    """What the cgroup saw of one run."""

    memory_peak_bytes: int | None
    oom_kills: int
    pids_refused: int  # forks refused by pids.max


class RunCgroup:
    """One run's leaf (v2) or pair of leaves (v1: memory and pids hierarchies)."""

    def __init__(self, version: int, memory: Path, pids: Path):
        self.version = version
        self.memory = memory
        self.pids = pids
        self.dirs = [memory] if memory == pids else [memory, pids]

    def launcher(self) -> list[str]:
        """Prefix for the run's command: the shell that moves itself in, then execs the rest."""
        member = "tasks" if self.version == 1 else "cgroup.procs"
        return [SH, "-c", LAUNCHER, "sh", *(str(d / member) for d in self.dirs), "--"]

    def usage(self) -> Usage:
        if self.version == 2:
            peak = _read_int(self.memory / "memory.peak")  # Linux >= 5.19
            oom = _read_keyed(self.memory / "memory.events").get("oom_kill", 0)
        else:
            peak = _read_int(self.memory / "memory.max_usage_in_bytes")
            oom = _read_keyed(self.memory / "memory.oom_control").get("oom_kill", 0)
        refused = _read_keyed(self.pids / "pids.events").get("max", 0)
        return Usage(peak, oom, refused)

    def kill(self) -> None:
        """SIGKILL everything in the run's cgroup: the last resort when killing the program's pid 1 did
        not end the run. v2 has cgroup.kill (Linux >= 5.14); in v1 each member gets a signal through
        a pidfd (the pid cannot be recycled while it is a member of a cgroup we read it from and then
        opened)."""
        if self.version == 2 and (self.memory / "cgroup.kill").exists():
            with contextlib.suppress(OSError):
                _write(self.memory / "cgroup.kill", "1")
                return
        for d in self.dirs:
            for pid in _pids(d):
                try:
                    pidfd = os.pidfd_open(pid)
                except OSError:
                    continue
                try:
                    if pid in _pids(d):
                        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                except OSError:
                    pass
                finally:
                    os.close(pidfd)

    def remove(self) -> bool:
        """rmdir the leaves; False when one is still busy (a process of the run not yet released)."""
        done = True
        for d in self.dirs:
            try:
                d.rmdir()
            except FileNotFoundError:
                pass
            except OSError as e:
                if e.errno != errno.EBUSY:
                    log.warning(
                        "cannot remove a sandbox run's cgroup", extra={"path": str(d), "error": str(e)}
                    )
                done = False
        return done


class RunCgroups:
    """Creates the per-run cgroups of one service process. `memory_root` / `pids_root` are the
    directories the leaves go into (the same directory on cgroup v2)."""

    def __init__(self, version: int, memory_root: Path, pids_root: Path):
        self.version = version
        self.memory_root = memory_root
        self.pids_root = pids_root
        self._names = itertools.count()
        self._busy: list[RunCgroup] = []  # leaves whose removal must be retried

    def describe(self) -> str:
        where = str(self.memory_root) if self.version == 2 else f"{self.memory_root} and {self.pids_root}"
        return f"cgroup v{self.version} per run under {where}"

    def create(self, memory_bytes: int, pids: int) -> RunCgroup:
        """A fresh leaf with the run's limits. Raises OSError if the hierarchy refuses."""
        self._retry_removals()
        name = f"{RUN_PREFIX_V1 if self.version == 1 else 'run-'}{os.getpid()}-{next(self._names)}"
        run = RunCgroup(self.version, self.memory_root / name, self.pids_root / name)
        made: list[Path] = []
        try:
            for d in run.dirs:
                d.mkdir()
                made.append(d)
            if self.version == 2:
                _write(run.memory / "memory.max", str(memory_bytes))
                swap = run.memory / "memory.swap.max"  # absent when swap is not accounted
                if swap.exists():
                    _write(swap, "0")
                _write(run.pids / "pids.max", str(pids))
            else:
                _write(run.memory / "memory.limit_in_bytes", str(memory_bytes))
                memsw = run.memory / "memory.memsw.limit_in_bytes"  # present when swap is accounted
                if memsw.exists():
                    _write(memsw, str(memory_bytes))  # memory + swap = memory: no swap
                _write(run.pids / "pids.max", str(pids))
        except OSError:
            for d in reversed(made):
                with contextlib.suppress(OSError):
                    d.rmdir()
            raise
        return run

    def release(self, run: RunCgroup) -> None:
        """Remove the run's leaves now, or on a later run if a process of it is still being released."""
        if not run.remove():
            self._busy.append(run)

    def _retry_removals(self) -> None:
        if self._busy:
            self._busy = [run for run in self._busy if not run.remove()]

    def close(self) -> None:
        self._retry_removals()


# --- probing -------------------------------------------------------------------------------------------


_probed: tuple[RunCgroups | None, str | None] | None = None


def probe() -> tuple[RunCgroups | None, str | None]:
    """The per-run cgroup factory for this process, or None and why there is none (in words for an
    operator). Probed once per process: the v2 set-up moves the service's own processes, which must
    happen once. Logged once."""
    global _probed
    if _probed is None:
        _probed = _probe()
        cgroups, reason = _probed
        if cgroups is not None:
            log.info("sandbox runs get their own cgroup", extra={"cgroup": cgroups.describe()})
            WHOLE_RUN_LIMITS.labels(f"v{cgroups.version}").set(1)
        else:
            log.warning(
                "sandbox limits are per process only: no cgroup per run (a forking program can use "
                "processes x memory)",
                extra={"reason": reason},
            )
            WHOLE_RUN_LIMITS.labels("none").set(0)
    return _probed


def _probe() -> tuple[RunCgroups | None, str | None]:
    if not os.access(SH, os.X_OK):
        return None, f"{SH} is missing (the per-run cgroup launcher)"
    try:
        mounts = _cgroup_mounts()
        own = _own_cgroups()
    except OSError as e:
        return None, f"cannot read this process's cgroups: {e}"
    reasons = []
    v2 = next((m for m in mounts if m.version == 2), None)
    if v2 is not None:
        cgroups, reason = _probe_v2(v2, own.get("", "/"))
        if cgroups is not None:
            return cgroups, None
        reasons.append(reason)
    else:
        reasons.append("no cgroup v2 mount")
    cgroups, reason = _probe_v1(mounts, own)
    if cgroups is not None:
        return cgroups, None
    reasons.append(reason)
    return None, "; ".join(r for r in reasons if r)


@dataclass(frozen=True)
class _Mount:
    version: int
    path: Path
    root: str  # the cgroup the mount shows at `path` (not "/" when a container got a subtree)
    controllers: frozenset[str]  # v1: the hierarchy's controllers; v2: empty (read cgroup.controllers)


def _cgroup_mounts() -> list[_Mount]:
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            before, _, after = line.partition(" - ")
            fstype, _, options = after.split()[:3]
            fields = before.split()
            root, path = fields[3], fields[4].replace("\\040", " ")
            if fstype == "cgroup2":
                found.append(_Mount(2, Path(path), root, frozenset()))
            elif fstype == "cgroup":
                found.append(_Mount(1, Path(path), root, frozenset(options.split(","))))
    return found


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup per v1 controller, and under "" its v2 cgroup."""
    own = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                own[controller] = path
    return own


def _inside(mount: _Mount, cgroup: str) -> Path | None:
    """Where `cgroup` (as /proc/self/cgroup names it) is in `mount`, or None if the mount does not show
    it."""
    if mount.root == "/":
        return mount.path / cgroup.lstrip("/")
    if cgroup == mount.root or cgroup.startswith(mount.root + "/"):
        return mount.path / cgroup[len(mount.root) :].lstrip("/")
    return None


def _probe_v2(mount: _Mount, own: str) -> tuple[RunCgroups | None, str]:
    here = _inside(mount, own)
    if here is None or not here.is_dir():
        return None, f"cgroup v2 at {mount.path} does not show this process's cgroup {own}"
    offered = set(_read_words(here / "cgroup.controllers"))
    if not {"memory", "pids"} <= offered:
        return None, (
            f"cgroup v2 at {mount.path} offers no {'/'.join(sorted({'memory', 'pids'} - offered))} "
            f"controller to {own} (offered: {' '.join(sorted(offered)) or 'none'})"
        )
    if not os.access(here / "cgroup.subtree_control", os.W_OK):
        return None, f"cgroup v2 {here} is not writable by this process (read-only mount, or not root)"
    parent = here / PARENT_V2
    try:
        if not _has_controllers(here):
            # "/" is the hierarchy's root, or the root of a container's cgroup namespace (its own cgroup).
            if own != "/" and not _delegated(here):
                return None, (
                    f"cgroup v2 {own} is not delegated to this service (under systemd, set Delegate=yes "
                    "on its unit)"
                )
            try:
                _write(here / "cgroup.subtree_control", "+memory +pids")
            except OSError as e:
                if e.errno != errno.EBUSY:
                    raise
                # No internal processes: move ours into a leaf beside the sandbox's parent, then retry.
                leaf = here / SERVICE_LEAF_V2
                leaf.mkdir(exist_ok=True)
                for pid in _pids(here):
                    with contextlib.suppress(ProcessLookupError):
                        _write(leaf / "cgroup.procs", str(pid))
                _write(here / "cgroup.subtree_control", "+memory +pids")
        parent.mkdir(exist_ok=True)
        if not _has_controllers(parent):
            _write(parent / "cgroup.subtree_control", "+memory +pids")
        _sweep(parent, "run-")
        cgroups = RunCgroups(2, parent, parent)
        cgroups.release(cgroups.create(64 << 20, 8))  # proves mkdir and the limit files work here
        return cgroups, ""
    except OSError as e:
        return None, f"cannot set up cgroup v2 {parent}: {e}"


def _probe_v1(mounts: list[_Mount], own: dict[str, str]) -> tuple[RunCgroups | None, str]:
    roots = {}
    for controller in ("memory", "pids"):
        mount = next((m for m in mounts if m.version == 1 and controller in m.controllers), None)
        if mount is None:
            return None, f"no cgroup v1 {controller} hierarchy"
        here = _inside(mount, own.get(controller, "/"))
        if here is None or not here.is_dir():
            return None, f"cgroup v1 {controller} at {mount.path} does not show this process's cgroup"
        if not os.access(here, os.W_OK):
            return None, f"cgroup v1 {controller} {here} is not writable by this process (not root?)"
        roots[controller] = here
    if _read_int(roots["memory"] / "memory.use_hierarchy") == 0:
        # Without it a child's memory would not count against the service's own limit.
        return None, f"cgroup v1 memory {roots['memory']} has use_hierarchy=0"
    cgroups = RunCgroups(1, roots["memory"], roots["pids"])
    try:
        probe_run = cgroups.create(64 << 20, 8)  # proves mkdir and limit writes work here
        cgroups.release(probe_run)
    except OSError as e:
        return None, f"cannot create a cgroup v1 leaf under {roots['memory']}: {e}"
    for root in roots.values():
        _sweep(root, RUN_PREFIX_V1)
    return cgroups, ""


def _sweep(root: Path, prefix: str) -> None:
    """Remove leaves a previous service process left (it died mid-run): named <prefix><pid>-<n> with a
    pid that is gone. rmdir refuses a cgroup that still has processes, so nothing live is touched."""
    try:
        entries = list(root.iterdir())
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if not name.startswith(prefix):
            continue
        pid = name[len(prefix) :].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
            with contextlib.suppress(OSError):
                entry.rmdir()


def _has_controllers(cgroup: Path) -> bool:
    return {"memory", "pids"} <= set(_read_words(cgroup / "cgroup.subtree_control"))


def _delegated(cgroup: Path) -> bool:
    for attribute in ("trusted.delegate", "user.delegate"):
        with contextlib.suppress(OSError):
            if os.getxattr(cgroup, attribute) == b"1":
                return True
    return False


# --- small file helpers ------------------------------------------------------------------------------------


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read_words(path: Path) -> list[str]:
    try:
        return path.read_text().split()
    except OSError:
        return []


def _read_int(path: Path) -> int | None:
    words = _read_words(path)
    return int(words[0]) if words and words[0].isdigit() else None


def _read_keyed(path: Path) -> dict[str, int]:
    words = _read_words(path)
    return {k: int(v) for k, v in zip(words[::2], words[1::2], strict=False) if v.isdigit()}


def _pids(cgroup: Path) -> list[int]:
    return [int(w) for w in _read_words(cgroup / "cgroup.procs")]
