"""The determinism gate, part 1: a lint over the workflow module (services/workflows/workflow.py) that
keeps out what breaks Temporal's replay — I/O imports, clocks, randomness, the environment, and the
asyncio calls that schedule non-deterministically (sdk-python #429, #1578). Part 2 replays recorded
histories (tests/workflows/integration/test_replay.py)."""

from __future__ import annotations

import ast
from pathlib import Path

from services.workflows import workflow

WORKFLOW_MODULES = [Path(workflow.__file__)]
ALLOWED_IMPORTS = ("__future__", "asyncio", "datetime", "typing", "temporalio", "dataclasses")
BANNED_CALLS = {
    "asyncio.wait", "asyncio.gather", "asyncio.as_completed", "asyncio.sleep", "asyncio.create_task",
    "asyncio.wait_for", "datetime.now", "datetime.utcnow", "datetime.today", "date.today", "time.time",
    "time.monotonic", "uuid.uuid4", "random.random", "random.choice", "random.randint", "os.getenv",
}  # fmt: skip
BANNED_NAMES = {"environ", "open", "print", "input"}


def violations(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"imports {n}" for n in names if not n.startswith(ALLOWED_IMPORTS)]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            dotted = f"{node.value.id}.{node.attr}"
            if dotted in BANNED_CALLS or node.attr in BANNED_NAMES:
                found.append(f"uses {dotted} (line {node.lineno})")
        elif isinstance(node, ast.Name) and node.id in BANNED_NAMES:
            found.append(f"uses {node.id} (line {node.lineno})")
    return found


def test_workflow_modules_are_deterministic() -> None:
    for path in WORKFLOW_MODULES:
        assert violations(path.read_text()) == [], path


def test_the_lint_finds_what_it_bans() -> None:
    bad = (
        "import os\nimport asyncio\nfrom datetime import datetime\n"
        "async def run(a, b):\n"
        "    await asyncio.gather(a, b)\n"
        "    return datetime.now(), os.environ['X']\n"
    )
    found = violations(bad)
    assert "imports os" in found
    assert any("asyncio.gather" in f for f in found)
    assert any("datetime.now" in f for f in found)
    assert any("os.environ" in f for f in found)
