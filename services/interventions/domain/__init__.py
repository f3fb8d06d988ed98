"""interventions' rules, plain Python: policies (policy.py), the decision engine (engine.py), the
backtest (backtest.py), version diffs (diff.py) and the records the store returns (below)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from services.interventions.domain.engine import Signal, TraceStep


@dataclass(frozen=True)
class PolicyVersion:
    id: str
    tenant_id: str
    policy_id: str
    version: int
    file: str
    content: str
    sha256: str
    rules: dict[str, Any]
    mode: str
    source: str  # file | api | rollback
    author: str
    reason: str
    activated_at: datetime
    deactivated_at: datetime | None


@dataclass(frozen=True)
class StoredDecision:
    """A decision as stored: the engine's decision with its version, message and delivery."""

    id: str
    tenant_id: str
    signal_id: str
    student_id: str
    policy_id: str
    policy_version_id: str
    policy_version: int
    intervention: str
    status: str
    reason: str
    urgency: int
    trace: tuple[TraceStep, ...]
    local_day: date
    recipients: tuple[str, ...]
    subject: str
    message: str
    delivery_status: str
    delivery_attempts: int
    moodle_message_id: str
    delivery_error: str
    signal_occurred_at: datetime
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class DeliveryOutcome:
    """notify's word on one of a decision's messages (notify.delivery.sent | failed | read)."""

    decision_id: str
    status: str  # sent | failed | read
    attempts: int
    at: datetime
    provider_message_id: str = ""
    error: str = ""


@dataclass(frozen=True)
class Delivery:
    """What the delivery step hands to notify for one decision."""

    decision_id: str
    tenant_id: str
    intervention: str
    recipients: tuple[str, ...]
    subject: str
    message: str
    urgency: int
    # To the student's teachers (teacher_alert, ask_teacher's note) rather than the student: the
    # teachers' channels.
    to_teachers: bool = False


@dataclass(frozen=True)
class Receipt:
    """The delivery port's answer: notify's delivery id (the outcome follows on notify.delivery.*),
    or the provider's message id when the port knows it at once."""

    provider_message_id: str = ""
    notify_delivery_id: str = ""


class DeliveryRefused(Exception):
    """The message was refused for good (a recipient notify does not know, a channel not configured):
    retrying will not help."""


__all__ = ["Delivery", "DeliveryRefused", "PolicyVersion", "Receipt", "Signal", "StoredDecision", "TraceStep"]
