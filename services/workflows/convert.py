"""The one place where workflows's domain objects and its protobuf messages meet: resources out, and the
events the service layer stages."""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2
from learnflow.workflows.v1 import events_pb2, resources_pb2

from services.runtime.registry import Registration
from services.workflows.domain.runs import RUN_STATUSES, STEP_STATUSES, Run, StepRun, UsageRow
from services.workflows.domain.templates import Template

_RUN_STATUS = {s: getattr(resources_pb2, f"RUN_STATUS_{s.upper()}") for s in RUN_STATUSES}
_STEP_STATUS = {s: getattr(resources_pb2, f"STEP_STATUS_{s.upper()}") for s in STEP_STATUSES}


def run_status_of(value: int) -> str:
    """A ListWorkflowRuns filter: "" for unspecified."""
    return next((k for k, v in _RUN_STATUS.items() if v == value), "")


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(value)
    return out


def step_to_proto(step: StepRun) -> resources_pb2.StepRun:
    msg = resources_pb2.StepRun(
        id=step.id, type=step.type, status=_STEP_STATUS[step.status], error=step.error, attempts=step.attempts
    )
    if step.output is not None:
        msg.output.CopyFrom(_struct(step.output))
    if step.started_at:
        msg.start_time.FromDatetime(step.started_at)
    if step.finished_at:
        msg.finish_time.FromDatetime(step.finished_at)
    return msg


def run_to_proto(run: Run) -> resources_pb2.WorkflowRun:
    msg = resources_pb2.WorkflowRun(
        run_id=run.id,
        template=run.template,
        template_version=run.template_version,
        status=_RUN_STATUS[run.status],
        input=run.input,
        steps=[step_to_proto(s) for s in run.steps],
        status_url=f"/v1/workflows/runs/{run.id}",
        error=run.error,
        created_by=run.created_by,
        correlation_id=run.correlation_id,
    )
    if run.created_at:
        msg.create_time.FromDatetime(run.created_at)
    if run.finished_at:
        msg.finish_time.FromDatetime(run.finished_at)
    return msg


def template_to_proto(t: Template) -> resources_pb2.Template:
    return resources_pb2.Template(
        name=t.name,
        version=t.version,
        description=t.description,
        step_ids=[s.id for s in t.steps],
        required_inputs=[i.name for i in t.inputs if i.required],
    )


def capability_to_proto(r: Registration) -> resources_pb2.Capability:
    msg = resources_pb2.Capability(
        name=r.capability,
        version=r.version,
        context=r.context,
        address=r.address,
        instance=r.instance,
        limits=r.limits,
        ttl_seconds=round(r.ttl_seconds),
    )
    msg.heartbeat_time.FromNanoseconds(round(r.heartbeat_at * 1e9))
    return msg


def usage_to_proto(u: UsageRow) -> resources_pb2.UsageRow:
    return resources_pb2.UsageRow(
        day=u.day,
        user_id=u.user_id,
        kind=u.kind,
        subject=u.subject,
        outcome=u.outcome,
        count=u.count,
        units=u.units,
    )


# --- events out ------------------------------------------------------------------------------------


def run_finished_event(run: Run) -> events_pb2.WorkflowRunFinished:
    return events_pb2.WorkflowRunFinished(run=run_to_proto(run))
