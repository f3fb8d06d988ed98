"""workflows's domain: its items and the rules about them. Pure logic: no gRPC, SQLAlchemy or NATS here
(tests/contracts/test_architecture.py holds it to that). Item is the example resource
`learnflow new-context` wrote: rename it and give it its real fields and rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.runtime.errors import Violations

MAX_DISPLAY_NAME = 200


@dataclass(frozen=True)
class Item:
    id: str
    tenant_id: str
    display_name: str
    # The subject (user id) that created it.
    created_by: str = ""
    created_at: datetime | None = None


def clean_display_name(name: str) -> str:
    """Surrounding and repeated whitespace dropped, so "  a   b " and "a b" are the same name."""
    return " ".join(name.split())


def check_display_name(v: Violations, name: str, path: str) -> None:
    if not name:
        v.add(path, "is required")
    elif len(name) > MAX_DISPLAY_NAME:
        v.add(path, f"must be at most {MAX_DISPLAY_NAME} characters")
    elif not name.isprintable():
        v.add(path, "must not contain control characters")
