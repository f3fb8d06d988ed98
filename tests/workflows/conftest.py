"""One mesh for the workflows tests: every context, a Temporal dev server (started by LocalMesh
because workflows is served), a local Notion server in this process whose record the tests read, and
a local OpenAI-compatible model server (tutoring's research and analysis go through it) that answers
research prompts with a brief built from the prompt's own sources, analysis prompts with a headline,
and notes the tokens it reported."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from services.runtime.local.mesh import LocalMesh
from services.runtime.testing import running_mesh
from services.tutoring.testing.openai_server import FakeOpenAI, Reply
from services.workflows.catalog import BUILT_IN
from services.workflows.testing.notion_server import LocalNotion
from services.workflows.testing.otlp_receiver import OtlpReceiver

USER_LIMIT = 8
# Tests that restart the mesh's serve process run after the other workflows tests, so those do not pay
# what a fresh process pays on its first research (tutoring builds its documentation index, seconds
# on a loaded machine).
# Killing the Temporal server, too: every later test would wait for the worker to reconnect.
RUN_LAST = (
    "test_durability.py::test_a_run_triggered_while_temporal_is_down_starts_when_it_is_back",
    "test_durability.py::test_temporal_killed_mid_run_loses_nothing",
    "test_durability.py::test_worker_killed_after_the_page_was_created",
)
MODEL = "research-model"
# A topic with this word costs more tokens than one user may spend a day (test_usage_limits.py).
COSTLY = "costly"
USER_DAILY_TOKENS = 20_000


@dataclass(frozen=True)
class Reported:
    topic: str
    prompt_tokens: int
    completion_tokens: int


class ResearchModel:
    """The model server and what it reported: one `Reported` per answer, by the prompt's topic."""

    def __init__(self) -> None:
        self.server = FakeOpenAI(default=self.answer)
        self.reported: list[Reported] = []
        self._lock = threading.Lock()

    def answer(self, body: Mapping[str, Any]) -> Reply:
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        prompt = "\n".join(str(m.get("content", "")) for m in messages)
        topic = prompt.partition("Topic: ")[2].partition("\n")[0].strip()
        if "Headline:" in prompt:  # the pipeline's analysis (tutoring's AnalyseResearch)
            content = f"Headline: {topic}, analysed by the model\nTakeaways:\n- Read the summary.\n- Try it."
        else:  # research (ResearchTopic): a brief from the sources the prompt quotes
            excerpts = [line.partition("]")[2] for line in prompt.splitlines() if line.startswith("[")]
            points = "\n".join(f"- {e.strip()[:200]}" for e in excerpts[:3]) or "- (no sources)"
            content = f"Summary: A brief on {topic}, from the sources given.\nKey points:\n{points}"
        prompt_tokens = len(prompt.split())
        completion_tokens = len(content.split()) + (50_000 if COSTLY in topic else 0)
        with self._lock:
            self.reported.append(Reported(topic, prompt_tokens, completion_tokens))
        return Reply(content, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)

    def reported_for(self, topic: str) -> list[Reported]:
        with self._lock:
            return [r for r in self.reported if r.topic == topic]


@pytest.fixture(scope="session")
def model() -> Iterator[ResearchModel]:
    found = ResearchModel()
    with found.server:
        yield found


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    last = [item for item in items if item.nodeid.endswith(RUN_LAST)]
    if last:
        items[:] = [item for item in items if item not in last] + last


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
def wf_mesh(
    notion: LocalNotion, templates_dir: Path, otlp: OtlpReceiver, fakes: Any, model: ResearchModel
) -> Iterator[LocalMesh]:
    with running_mesh(
        **fakes.channel_env(),
        # tutoring's research (and its agents) through the local model server.
        OPENAI_BASE_URL=model.server.base_url,
        OPENAI_API_KEY="test-key",
        TUTORING_MODEL=MODEL,
        WORKFLOWS_MODEL_TOKENS_PER_USER_PER_DAY=str(USER_DAILY_TOKENS),
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
        # The worker-kill test: the run's next workflow task leaves the dead worker's queue after 1 s.
        WORKFLOWS_STICKY_TIMEOUT_SECONDS="1",
        WORKFLOWS_RETRY_INITIAL_SECONDS="0.1",
        WORKFLOWS_RETRY_MAXIMUM_SECONDS="1",
        LEARNFLOW_REGISTRY_TTL_SECONDS="2",
    ) as m:
        yield m
