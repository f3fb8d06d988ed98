"""An agent in a process of its own: the mesh runs tutoring without the debug agent; a debug question
waits on debug.requests until a second `learnflow serve --contexts tutoring` process with
TUTORING_AGENTS=debug starts, which binds the same durable consumer and answers it. This is how each
agent runs in its own pods (docs/tutoring.md)."""

from __future__ import annotations

import sys
import time

import pytest

from services.runtime.local.procs import free_port, spawn, terminate
from services.runtime.testing import new_student, rest, running_mesh

LOOP = "i = 0\nwhile i < 10:\n    print(i)\n"


@pytest.fixture(scope="module")
def split_mesh():
    with running_mesh(TUTORING_AGENTS="triage,concepts,code_review,exercise") as m:
        yield m


def _messages(mesh, token: str, conversation_id: str) -> list[dict]:
    return rest(mesh, "GET", f"/v1/conversations/{conversation_id}", token=token).body["messages"]


def test_a_debug_agent_in_its_own_process_answers_what_the_mesh_left_waiting(split_mesh):
    mesh = split_mesh
    token = new_student(mesh)["token"]
    concept = rest(mesh, "POST", "/v1/questions", {"text": "What is a tuple in Python?"}, token=token).body
    asked = rest(
        mesh,
        "POST",
        "/v1/questions",
        {"text": "why does my loop never end?", "code": LOOP, "conversationId": concept["conversationId"]},
        token=token,
    ).body
    # The concepts agent runs in the mesh: once its answer is there, triage has routed both questions.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(_messages(mesh, token, asked["conversationId"])) < 3:
        time.sleep(0.1)
    assert [m["author"] for m in _messages(mesh, token, asked["conversationId"])] == [
        "AUTHOR_STUDENT",
        "AUTHOR_STUDENT",
        "AUTHOR_TUTOR",
    ], "only the concept question is answered: nobody consumes debug.requests yet"

    env = mesh.server_env(
        LEARNFLOW_GRPC_ADDR=f"127.0.0.1:{free_port()}",
        LEARNFLOW_METRICS_ADDR=f"127.0.0.1:{free_port()}",
        LEARNFLOW_SEED_DEMO="false",
        TUTORING_AGENTS="debug",
        # The other contexts live in the mesh's process.
        IDENTITY_SERVICE_ADDR=mesh.grpc_addr,
        SANDBOX_SERVICE_ADDR=mesh.grpc_addr,
        PROGRESS_SERVICE_ADDR=mesh.grpc_addr,
    )
    agent = spawn(
        [sys.executable, "-m", "services.runtime.cli", "serve", "--contexts", "tutoring"],
        mesh.data_dir / "debug-agent.log",
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            replies = [
                m
                for m in _messages(mesh, token, asked["conversationId"])
                if m.get("inReplyTo") == asked["id"]
            ]
            if replies:
                assert replies[0]["agent"] == "debug" and replies[0]["hint"]["rung"] == "HINT_RUNG_LOCATE"
                return
            assert agent.poll() is None, (mesh.data_dir / "debug-agent.log").read_text()[-3000:]
            time.sleep(0.2)
        pytest.fail("the debug agent's process never answered")
    finally:
        terminate(agent)
