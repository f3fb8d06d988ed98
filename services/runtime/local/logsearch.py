"""`learnflow logs --correlation-id ID`: every line of one request across the local mesh's processes —
serve's JSON logs (every line of a request carries its correlation_id: the RPC, the workflow's
activities, the calls they make to other contexts), Envoy's, Temporal's, NATS's and PostgreSQL's logs
under the data directory — in time order where a line says its time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path


def _lines(root: Path) -> Iterator[tuple[str, str]]:
    for path in sorted(root.rglob("*.log")):
        try:
            with path.open(errors="replace") as f:
                for line in f:
                    yield str(path.relative_to(root)), line.rstrip("\n")
        except OSError:
            continue


def _when(line: str) -> str:
    try:
        found = json.loads(line)
    except ValueError:
        return ""
    return str(found.get("ts", "")) if isinstance(found, dict) else ""


def search(root: Path, correlation_id: str) -> list[str]:
    """`file: line` for each line naming the id, JSON lines sorted by their `ts`."""
    hits = [(_when(line), f"{name}: {line}") for name, line in _lines(root) if correlation_id in line]
    hits.sort(key=lambda h: h[0])
    return [text for _, text in hits]
