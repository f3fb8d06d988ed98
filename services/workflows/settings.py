"""workflows's settings, declared (services/runtime/settings.py): read at start with every other
context's, listed by `learnflow settings` and in docs/settings.md (`make gen`)."""

from __future__ import annotations

from dataclasses import dataclass

from services.runtime.settings import integer


@dataclass(frozen=True)
class WorkflowsConfig:
    default_page_size: int = integer(
        "WORKFLOWS_DEFAULT_PAGE_SIZE",
        50,
        "items ListItems returns when it asks for no page size",
        min=1,
        max=200,
    )
