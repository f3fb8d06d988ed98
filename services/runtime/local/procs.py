"""Starting and stopping the processes we own: their own session (setsid), PIDs kept, stopped by PID."""

from __future__ import annotations

import collections
import os
import random
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

# Ports are handed out BELOW the kernel's ephemeral range (/proc/sys/net/ipv4/ip_local_port_range,
# 32768-60999 by default), where every outgoing connection takes its local port: a port found free by
# bind(0) could be taken by some connection before its server bound it. Parallel test workers
# (pytest-xdist sets PYTEST_XDIST_WORKER=gw0, gw1, ...) each draw from a slice of their own, and a
# process does not hand out a port it handed out recently, so two meshes starting at once in
# parallel workers are never given the same port (seen: "Address already in use" in a 3-worker run).
_SOLO = (10_000, 20_000)  # a process that is not a test worker: `learnflow up`, a bench, a serial run
_WORKERS = (20_000, 32_000)  # split between up to 8 workers
_recent: collections.deque[int] = collections.deque(maxlen=500)


def _port_range() -> tuple[int, int]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not (worker.startswith("gw") and worker[2:].isdigit()):
        return _SOLO
    span = (_WORKERS[1] - _WORKERS[0]) // 8
    low = _WORKERS[0] + (int(worker[2:]) % 8) * span
    return low, low + span


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (see above for where it comes from)."""
    low, high = _port_range()
    for _ in range(200):
        port = random.randrange(low, high)  # noqa: S311 (not a secret)
        if port in _recent:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _recent.append(port)
        return port
    with socket.socket() as s:  # the range is crowded: let the kernel choose
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and proc.poll() is not None:
            tail = log.read_text()[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} exited with status {proc.returncode} while starting\n{tail}")
        time.sleep(0.02)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} was not ready within {timeout:.0f}s\n{tail}")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as response:  # noqa: S310 (our own loopback URL)
            return bool(200 <= response.status < 300)
    except OSError:
        return False


def spawn(
    argv: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )


def terminate(proc: subprocess.Popen[bytes] | None, timeout: float = 10.0, sig: int = signal.SIGTERM) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, sig)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    except ProcessLookupError:
        pass
