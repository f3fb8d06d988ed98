"""The per-run cgroup module's pure parts and its launcher, with the real /bin/sh. The cgroups themselves
are exercised by tests/sandbox/integration/test_engine.py on this host's hierarchy."""

import subprocess
from pathlib import Path

import pytest

from services.sandbox import cgroups
from services.sandbox.cgroups import LAUNCHER, SH, RunCgroup, _inside, _Mount, _read_keyed


def launch(targets: list[str], *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SH, "-c", LAUNCHER, "sh", *targets, "--", *command], capture_output=True, text=True, timeout=10
    )


def test_the_launcher_writes_0_to_each_target_then_execs_the_command(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.touch()
    b.touch()
    done = launch([str(a), str(b)], "/bin/echo", "ran", "--", "with its own arguments")
    assert done.returncode == 0 and done.stdout == "ran -- with its own arguments\n", done
    assert a.read_text() == b.read_text() == "0\n"  # "0": the shell moves itself


def test_the_launcher_never_runs_the_command_when_a_move_fails(tmp_path):
    marker = tmp_path / "ran"
    done = launch([str(tmp_path / "missing" / "tasks")], "/usr/bin/touch", str(marker))
    assert done.returncode == 125 and not marker.exists(), done
    assert "missing" in done.stderr  # the shell's error reaches the engine's SandboxError


def test_v1_runs_move_through_tasks_and_v2_through_cgroup_procs():
    v1 = RunCgroup(1, Path("/m/run"), Path("/p/run")).launcher()
    v2 = RunCgroup(2, Path("/u/run"), Path("/u/run")).launcher()
    assert v1[4:] == ["/m/run/tasks", "/p/run/tasks", "--"]
    assert v2[4:] == ["/u/run/cgroup.procs", "--"]


V2 = _Mount(2, Path("/sys/fs/cgroup"), "/", frozenset())
# a container given only its own subtree of a v1 hierarchy, without a cgroup namespace
SUBTREE = _Mount(1, Path("/sys/fs/cgroup/memory"), "/kubepods/pod1", frozenset({"memory"}))


@pytest.mark.parametrize(
    ("mount", "cgroup", "expected"),
    [
        (V2, "/", Path("/sys/fs/cgroup")),
        (V2, "/a/b", Path("/sys/fs/cgroup/a/b")),
        (SUBTREE, "/kubepods/pod1/c", Path("/sys/fs/cgroup/memory/c")),
        (SUBTREE, "/kubepods/pod1", Path("/sys/fs/cgroup/memory")),
        (SUBTREE, "/kubepods/pod10", None),  # a prefix of the name is not the subtree
        (SUBTREE, "/other", None),
    ],
)
def test_where_a_cgroup_is_in_a_mount(mount, cgroup, expected):
    assert _inside(mount, cgroup) == expected


def test_keyed_files_are_read_as_numbers(tmp_path):
    events = tmp_path / "memory.events"
    events.write_text("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n")
    assert _read_keyed(events)["oom_kill"] == 1
    assert _read_keyed(tmp_path / "absent") == {}


def test_the_probe_either_gives_run_cgroups_or_says_why_not():
    found, reason = cgroups.probe()
    assert (found is None) != (reason is None)
    assert found is not None or reason  # never silent about falling back
    assert cgroups.probe() == (found, reason)  # probed once per process
