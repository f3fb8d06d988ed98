"""The one place where interventions's domain objects and its protobuf messages meet: requests and the
events consumed in, resources out, and the events the service layer stages (it calls the `*_event`
functions and hands the message to the outbox unopened)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from learnflow.interventions.v1 import events_pb2, interventions_service_pb2, resources_pb2

from services.interventions.clients import decision_of_key
from services.interventions.domain import DeliveryOutcome, PolicyVersion, StoredDecision
from services.interventions.domain.backtest import BacktestReport
from services.interventions.domain.diff import FieldChange
from services.interventions.domain.engine import Signal
from services.interventions.domain.policy import Policy, Problem

_VERDICTS = {
    1: "ok",
    2: "runtime_error",
    3: "timed_out",
    4: "memory_exceeded",
    5: "output_exceeded",
    6: "syntax_error",
    7: "rejected",
}

# --- in ----------------------------------------------------------------------------------------------


def _moment(ts: Timestamp, default: datetime) -> datetime:
    return ts.ToDatetime(tzinfo=UTC) if ts.seconds or ts.nanos else default


def signal_from_proto(msg: resources_pb2.Signal, tenant_id: str, now: datetime) -> tuple[Signal, str, str]:
    """(signal, time zone, student name) of an EvaluateSignal request."""
    signal = Signal(
        id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        student_id=msg.student_id.lower(),
        kind=msg.kind,
        occurred_at=_moment(msg.occur_time, now),
        topic=msg.topic,
        key=msg.key,
        rule=msg.rule,
        error=msg.error,
        severity=msg.severity,
        verdict=msg.verdict,
        minutes=msg.minutes,
        count=msg.count,
        explanation=msg.explanation,
        teacher_ids=tuple(t.lower() for t in msg.teacher_ids),
        source=f"api:{msg.source_id}" if msg.source_id else "",
    )
    return signal, msg.time_zone, msg.student_name


def signal_from_struggle(message: Any, event_id: str, tenant_id: str, now: datetime) -> Signal:
    """progress's StruggleDetected (read by field name: no context imports another's package)."""
    alert = message.alert
    created = _moment(alert.create_time, now)
    return Signal(
        id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        student_id=alert.student_id,
        kind="struggle.detected",
        occurred_at=created,
        topic=alert.key,
        key=alert.key,
        rule=alert.rule,
        error=alert.key if alert.rule == "repeated_error" else "",
        severity=alert.severity,
        explanation=alert.explanation,
        teacher_ids=tuple(message.teacher_ids),
        source=f"event:{event_id}",
    )


def signal_from_sandbox(message: Any, event_id: str, tenant_id: str, now: datetime) -> Signal:
    """The sandbox's SandboxExecuted: a run's verdict and the exception it raised."""
    return Signal(
        id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        student_id=message.user_id,
        kind="sandbox.executed",
        occurred_at=_moment(message.occur_time, now),
        topic=message.exercise_id,
        key=message.exercise_id,
        error=message.diagnosis.exception_type,
        verdict=_VERDICTS.get(int(message.verdict), ""),
        minutes=message.duration_ms / 60000,
        source=f"event:{event_id}",
    )


def signal_from_hint(message: Any, event_id: str, tenant_id: str, now: datetime) -> Signal:
    """tutoring's HintRequested: a hint given on a problem. The topic is what ask_teacher counts
    repeats of; count is the rung reached on the problem's ladder (how many hints on it so far)."""
    return Signal(
        id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        student_id=message.student_id,
        kind="hint.requested",
        occurred_at=_moment(message.occur_time, now),
        topic=message.topic,
        key=message.problem_key,
        error=message.exception_type,
        count=message.rung,
        source=f"event:{event_id}",
    )


def signal_from_unclear(message: Any, event_id: str, tenant_id: str, now: datetime) -> Signal:
    """tutoring's QuestionUnclear: a message triage could not make out. The key is the conversation
    (the problem the student is trying to put into words), the explanation triage's reason."""
    return Signal(
        id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        student_id=message.student_id,
        kind="question.unclear",
        occurred_at=_moment(message.occur_time, now),
        topic=message.topic,
        key=message.conversation_id,
        explanation=message.reason,
        source=f"event:{event_id}",
    )


def outcome_from_notify(subject: str, message: Any, now: datetime) -> DeliveryOutcome | None:
    """notify's DeliverySent / DeliveryFailed / DeliveryRead (read by field name) for one of this
    context's deliveries (its idempotency key names the decision); None for anyone else's."""
    d = message.delivery
    decision_id = decision_of_key(d.idempotency_key)
    if decision_id is None:
        return None
    try:
        uuid.UUID(decision_id)
    except ValueError:  # our prefix on a key that names no decision of ours: nobody's outcome here
        return None
    status = subject.rsplit(".", 1)[-1]
    moment = {"sent": d.sent_time, "read": d.read_time}.get(status, d.update_time)
    return DeliveryOutcome(
        decision_id=decision_id,
        status=status,
        attempts=d.attempts,
        at=_moment(moment, now),
        provider_message_id=d.provider_message_id,
        error=d.last_error,
    )


# --- out ---------------------------------------------------------------------------------------------


def _ts(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    out = Timestamp()
    out.FromDatetime(moment)
    return out


def version_to_proto(v: PolicyVersion) -> resources_pb2.PolicyVersion:
    return resources_pb2.PolicyVersion(
        policy_id=v.policy_id,
        version=v.version,
        file=v.file,
        sha256=v.sha256,
        content=v.content,
        rules_json=json.dumps(v.rules, sort_keys=True, default=str),
        author=v.author,
        source=v.source,
        reason=v.reason,
        activate_time=_ts(v.activated_at),
        deactivate_time=_ts(v.deactivated_at),
        mode=v.mode,
    )


def decision_to_proto(d: StoredDecision) -> resources_pb2.Decision:
    return resources_pb2.Decision(
        id=d.id,
        signal_id=d.signal_id,
        student_id=d.student_id,
        policy_id=d.policy_id,
        policy_version=d.policy_version,
        intervention=d.intervention,
        status=d.status,
        reason=d.reason,
        urgency=d.urgency,
        trace=[resources_pb2.TraceStep(condition=t.condition, held=t.held, value=t.value) for t in d.trace],
        message=d.message,
        delivery_status=d.delivery_status,
        delivery_attempts=d.delivery_attempts,
        moodle_message_id=d.moodle_message_id,
        create_time=_ts(d.created_at),
        deliver_time=_ts(d.delivered_at),
        local_day=d.local_day.isoformat(),
        recipient_ids=list(d.recipients),
        delivery_error=d.delivery_error,
    )


def problems_to_proto(problems: list[Problem]) -> list[resources_pb2.PolicyProblem]:
    return [
        resources_pb2.PolicyProblem(file=p.file, line=p.line, field=p.path, message=p.message)
        for p in problems
    ]


def check_to_proto(
    policy: Policy | None, problems: list[Problem]
) -> interventions_service_pb2.CheckPolicyResponse:
    return interventions_service_pb2.CheckPolicyResponse(
        valid=policy is not None,
        problems=problems_to_proto(problems),
        rules_json=json.dumps(policy.rules, sort_keys=True, default=str) if policy else "",
        policy_id=policy.id if policy else "",
    )


def diff_to_proto(
    text: str, changes: list[FieldChange]
) -> interventions_service_pb2.DiffPolicyVersionsResponse:
    return interventions_service_pb2.DiffPolicyVersionsResponse(
        text_diff=text,
        field_changes=[
            resources_pb2.FieldChange(path=c.path, before_json=c.before, after_json=c.after) for c in changes
        ],
    )


def backtest_to_proto(r: BacktestReport) -> interventions_service_pb2.BacktestPolicyResponse:
    return interventions_service_pb2.BacktestPolicyResponse(
        signals=r.signals,
        sent_before=r.sent_before,
        sent_after=r.sent_after,
        decisions_before=r.decisions_before,
        decisions_after=r.decisions_after,
        flips=[
            resources_pb2.BacktestFlip(
                signal_id=f.signal_id,
                student_id=f.student_id,
                occur_time=_ts(f.occurred_at),
                intervention=f.intervention,
                before=f.before,
                after=f.after,
                reason=f.reason,
            )
            for f in r.flips
        ],
        cap_hits=[
            resources_pb2.CapHit(student_id=c.student_id, day=c.day.isoformat(), count=c.count)
            for c in r.cap_hits
        ],
        urgency_mix=[resources_pb2.UrgencyCount(band=b, count=n) for b, n in r.urgency_mix],
        students_affected=list(r.students_affected),
    )


# --- events out --------------------------------------------------------------------------------------


def decided_event(d: StoredDecision) -> events_pb2.InterventionDecided:
    return events_pb2.InterventionDecided(decision=decision_to_proto(d))


def policy_activated_event(v: PolicyVersion) -> events_pb2.PolicyActivated:
    return events_pb2.PolicyActivated(version=version_to_proto(v))
