"""Runs and their steps as the API shows them. Temporal holds the durable state; these are what the
activities write down as they go (tables runs and steps) and GetWorkflowRun reads back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

RUNNING, SUCCEEDED, FAILED, CANCELLED = "running", "succeeded", "failed", "cancelled"
RUN_STATUSES = (RUNNING, SUCCEEDED, FAILED, CANCELLED)
FINISHED = frozenset({SUCCEEDED, FAILED, CANCELLED})
PENDING, STEP_RUNNING, RETRYING = "pending", "running", "retrying"
STEP_STATUSES = (PENDING, STEP_RUNNING, RETRYING, SUCCEEDED, FAILED, CANCELLED)


@dataclass(frozen=True)
class StepRun:
    id: str
    type: str
    position: int
    status: str = PENDING
    output: dict[str, Any] | None = None
    error: str = ""
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class Run:
    id: str
    tenant_id: str
    template: str
    template_version: str
    status: str
    input: dict[str, str]
    plan: dict[str, Any]
    idempotency_key: str | None = None
    created_by: str = ""
    correlation_id: str = ""
    error: str = ""
    created_at: datetime | None = None
    finished_at: datetime | None = None
    steps: tuple[StepRun, ...] = field(default_factory=tuple)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


@dataclass(frozen=True)
class UsageRow:
    day: str
    user_id: str
    kind: str
    subject: str
    outcome: str
    count: int
    units: int
