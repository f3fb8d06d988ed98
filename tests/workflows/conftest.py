"""One mesh for the workflows tests: every context, a Temporal dev server (started by LocalMesh
because workflows is served), and a local Notion server in this process whose record the tests read."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.runtime.local.mesh import LocalMesh
from services.runtime.testing import running_mesh
from services.workflows.catalog import BUILT_IN
from services.workflows.testing.notion_server import LocalNotion
from services.workflows.testing.otlp_receiver import OtlpReceiver

USER_LIMIT = 8


@pytest.fixture(scope="session")
def notion() -> Iterator[LocalNotion]:
    with LocalNotion.running() as server:
        yield server


@pytest.fixture(scope="session")
def fakes() -> Iterator[Any]:
    """notify's local provider servers (Slack's incoming webhook among them)."""
    from services.notify.fakes import FakeProviders

    with FakeProviders.running() as servers:
        yield servers


@pytest.fixture(scope="session")
def otlp() -> Iterator[OtlpReceiver]:
    with OtlpReceiver.running() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def templates_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in templates, copied where a test may edit them while the mesh runs."""
    folder = tmp_path_factory.mktemp("templates")
    for path in BUILT_IN.glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture(scope="session")
def wf_mesh(notion: LocalNotion, templates_dir: Path, otlp: OtlpReceiver, fakes: Any) -> Iterator[LocalMesh]:
    with running_mesh(
        **fakes.channel_env(),
        # Traces to the local OTLP receiver, exported every 200 ms (test_observability.py).
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp.endpoint,
        OTEL_EXPORTER_OTLP_INSECURE="true",
        OTEL_BSP_SCHEDULE_DELAY="200",
        WORKFLOWS_TEMPLATES_DIR=str(templates_dir),
        WORKFLOWS_NOTION_URL=notion.url,
        WORKFLOWS_RUNS_PER_USER_PER_HOUR=str(USER_LIMIT),
        WORKFLOWS_STEP_TIMEOUT_SECONDS="20",
        WORKFLOWS_HEARTBEAT_SECONDS="2",
        WORKFLOWS_RETRY_INITIAL_SECONDS="0.1",
        WORKFLOWS_RETRY_MAXIMUM_SECONDS="1",
        LEARNFLOW_REGISTRY_TTL_SECONDS="2",
    ) as m:
        yield m
