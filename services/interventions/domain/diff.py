"""The difference between two versions of a policy: the Markdown as a unified text diff, and the
front matter field by field (dotted paths, e.g. `when.all.0.at_least: 3 → 4`)."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldChange:
    path: str
    before: str  # JSON of the value, "" when the field is absent
    after: str


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            _flatten(v, f"{prefix}.{i}" if prefix else str(i), out)
    else:
        out[prefix] = value


def field_changes(before: dict[str, Any], after: dict[str, Any]) -> list[FieldChange]:
    a: dict[str, Any] = {}
    b: dict[str, Any] = {}
    _flatten(before, "", a)
    _flatten(after, "", b)
    changes = []
    for path in sorted(set(a) | set(b)):
        if path not in b:
            changes.append(FieldChange(path, json.dumps(a[path]), ""))
        elif path not in a:
            changes.append(FieldChange(path, "", json.dumps(b[path])))
        elif a[path] != b[path]:
            changes.append(FieldChange(path, json.dumps(a[path]), json.dumps(b[path])))
    return changes


def text_diff(before: str, after: str, before_name: str, after_name: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), before_name, after_name
        )
    )
