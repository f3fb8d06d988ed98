"""OperationsService: the runtime's own API, hosted in every mesh process for the contexts it serves:
event dead letters and dead durable jobs, listed and redriven.

Operators see every tenant; a tenant's admin sees (and redrives) only that tenant's records, and
another tenant's record answers NOT_FOUND, like one that does not exist.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from learnflow.ops.v1 import operations_service_pb2 as pb
from learnflow.ops.v1 import operations_service_pb2_grpc as pb_grpc

from services.runtime import audit, pagination, request_context
from services.runtime.db import Database
from services.runtime.errors import FieldViolation, InvalidArgument, NotFound
from services.runtime.events.outbox import Outbox
from services.runtime.events.tables import event_tables
from services.runtime.migration_ops import jobs_channel
from services.runtime.work_tables import jobs_table

_JOB_STATES = {
    "queued": pb.JOB_STATE_QUEUED,
    "running": pb.JOB_STATE_RUNNING,
    "done": pb.JOB_STATE_DONE,
    "dead": pb.JOB_STATE_DEAD,
}
_EPOCH = "1970-01-01T00:00:00+00:00"
_NIL = "00000000-0000-0000-0000-000000000000"


def _only_tenant() -> str | None:
    """The tenant the caller is limited to; None for an operator (or an in-process call)."""
    principal = request_context.principal()
    return None if principal is None or principal.has_any("operator") else principal.tenant_id


def _record_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument("id is not valid", [FieldViolation("id", "must be a UUID")]) from None


def _job_message(context: str, row: Any) -> pb.Job:
    job = pb.Job(
        id=str(row.id),
        context=context,
        kind=row.kind,
        tenant_id=str(row.tenant_id) if row.tenant_id else "",
        state=_JOB_STATES.get(row.state, pb.JOB_STATE_UNSPECIFIED),
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        last_error=row.last_error or "",
    )
    job.run_time.FromDatetime(row.run_at)
    job.create_time.FromDatetime(row.created_at)
    job.update_time.FromDatetime(row.updated_at)
    return job


class OperationsServicer(pb_grpc.OperationsServiceServicer):
    def __init__(self, db: Database, contexts: list[str]):
        self.db = db
        self.contexts = contexts
        self._with_jobs: set[str] = set()  # contexts known to have a job table

    def _contexts(self, requested: str) -> list[str]:
        if requested and requested not in self.contexts:
            raise InvalidArgument(
                "unknown context",
                [FieldViolation("context", f"this process hosts: {', '.join(self.contexts)}")],
            )
        return [requested] if requested else list(self.contexts)

    async def _job_contexts(self, requested: str) -> list[str]:
        """The requested contexts that have a job table (not every context runs jobs)."""
        names = self._contexts(requested)
        unknown = [n for n in names if n not in self._with_jobs]
        if unknown:
            async with self.db.transaction(tenant_id="") as session:
                for name in unknown:
                    if await session.scalar(
                        sa.text("SELECT to_regclass(:t) IS NOT NULL"), {"t": f"{name}.jobs"}
                    ):
                        self._with_jobs.add(name)
        return [n for n in names if n in self._with_jobs]

    async def ListDeadLetters(
        self, request: pb.ListDeadLettersRequest, context: object
    ) -> pb.ListDeadLettersResponse:
        names = self._contexts(request.context)
        size = pagination.page_size(request.page_size)
        after = _after(request.page_token)
        only_tenant = _only_tenant()
        selects = []
        for name in names:
            dl = event_tables(name).dead_letters
            q = sa.select(sa.literal(name).label("context"), dl).where(
                sa.tuple_(dl.c.created_at, dl.c.id)
                > sa.tuple_(
                    sa.literal(after.get("t", "1970-01-01T00:00:00+00:00")).cast(sa.DateTime(timezone=True)),
                    sa.literal(after.get("id", "00000000-0000-0000-0000-000000000000")).cast(sa.Uuid),
                )
            )
            if only_tenant is not None:
                q = q.where(dl.c.tenant_id == only_tenant)
            selects.append(q)
        union = sa.union_all(*selects).subquery()
        query = sa.select(union).order_by(union.c.created_at, union.c.id).limit(size + 1)
        async with self.db.transaction(tenant_id="") as session:
            rows = (await session.execute(query)).all()
        response = pb.ListDeadLettersResponse()
        for row in rows[:size]:
            item = response.dead_letters.add(
                id=str(row.id),
                context=row.context,
                consumer=row.consumer,
                subject=row.subject,
                event_id=row.event_id,
                event_type=row.event_type,
                reason=row.reason,
                deliveries=row.deliveries,
            )
            item.create_time.FromDatetime(row.created_at)
        if len(rows) > size:
            last = rows[size - 1]
            response.next_page_token = pagination.encode_token(
                {"t": last.created_at.isoformat(), "id": str(last.id)}
            )
        return response

    async def RedriveDeadLetter(
        self, request: pb.RedriveDeadLetterRequest, context: object
    ) -> pb.RedriveDeadLetterResponse:
        """The dead letter's event goes back through its context's outbox with its own event id (so
        consumers that applied it skip it by their inbox) but a new NATS message id (so JetStream's
        duplicate window does not drop it); the dead letter is removed in the same transaction."""
        record = _record_id(request.id)
        only_tenant = _only_tenant()
        async with self.db.transaction(tenant_id="") as session:
            for name in self._contexts(request.context):
                tables = event_tables(name)
                dl = tables.dead_letters
                query = sa.delete(dl).where(dl.c.id == record)
                if only_tenant is not None:
                    query = query.where(dl.c.tenant_id == only_tenant)
                row = (await session.execute(query.returning(dl))).first()
                if row is None:
                    continue
                message_id = f"{row.event_id}:redrive:{uuid.uuid4().hex[:12]}"
                headers = {**row.headers, "Nats-Msg-Id": message_id}
                await session.execute(
                    sa.insert(tables.outbox).values(
                        event_id=message_id,
                        subject=row.subject,
                        event_type=row.event_type,
                        payload=row.payload,
                        headers=headers,
                    )
                )
                await audit.record(
                    Outbox(name, name),
                    session,
                    "dead_letter.redriven",
                    f"deadLetters/{record}",
                    after={"context": name, "consumer": row.consumer, "event_id": row.event_id},
                    context="ops",
                    tenant_id=str(row.tenant_id) if row.tenant_id else "",
                )
                return pb.RedriveDeadLetterResponse(event_id=row.event_id, consumer=row.consumer)
        raise NotFound(f"dead letter {request.id} not found")

    async def ListDeadJobs(self, request: pb.ListDeadJobsRequest, context: object) -> pb.ListDeadJobsResponse:
        names = await self._job_contexts(request.context)
        size = pagination.page_size(request.page_size)
        after = _after(request.page_token)
        only_tenant = _only_tenant()
        response = pb.ListDeadJobsResponse()
        if not names:
            return response
        selects = []
        for name in names:
            jobs = jobs_table(name)
            q = sa.select(sa.literal(name).label("context"), jobs).where(
                jobs.c.state == "dead",
                sa.tuple_(jobs.c.updated_at, jobs.c.id)
                > sa.tuple_(
                    sa.literal(after.get("t", _EPOCH)).cast(sa.DateTime(timezone=True)),
                    sa.literal(after.get("id", _NIL)).cast(sa.Uuid),
                ),
            )
            if only_tenant is not None:
                q = q.where(jobs.c.tenant_id == sa.literal(only_tenant).cast(sa.Uuid))
            selects.append(q)
        union = sa.union_all(*selects).subquery()
        query = sa.select(union).order_by(union.c.updated_at, union.c.id).limit(size + 1)
        async with self.db.transaction(tenant_id="") as session:
            rows = (await session.execute(query)).all()
        for row in rows[:size]:
            response.jobs.append(_job_message(row.context, row))
        if len(rows) > size:
            last = rows[size - 1]
            updated: datetime = last.updated_at
            response.next_page_token = pagination.encode_token({"t": updated.isoformat(), "id": str(last.id)})
        return response

    async def RedriveJob(self, request: pb.RedriveJobRequest, context: object) -> pb.RedriveJobResponse:
        """Dead -> queued, due now, attempts back to zero; the runners are woken like by an enqueue."""
        record = _record_id(request.id)
        only_tenant = _only_tenant()
        async with self.db.transaction(tenant_id="") as session:
            for name in await self._job_contexts(request.context):
                jobs = jobs_table(name)
                query = (
                    sa.update(jobs)
                    .where(jobs.c.id == record, jobs.c.state == "dead")
                    .values(state="queued", run_at=sa.func.now(), attempts=0, updated_at=sa.func.now())
                )
                if only_tenant is not None:
                    query = query.where(jobs.c.tenant_id == sa.literal(only_tenant).cast(sa.Uuid))
                row = (await session.execute(query.returning(jobs))).first()
                if row is None:
                    continue
                await session.execute(sa.select(sa.func.pg_notify(jobs_channel(name), "")))
                await audit.record(
                    Outbox(name, name),
                    session,
                    "job.redriven",
                    f"jobs/{record}",
                    after={"context": name, "kind": row.kind},
                    context="ops",
                    tenant_id=str(row.tenant_id) if row.tenant_id else "",
                )
                return pb.RedriveJobResponse(job=_job_message(name, row))
        raise NotFound(f"dead job {request.id} not found")


def _after(page_token: str) -> dict[str, str]:
    """The (time, id) a page starts after, checked: a forged token is a 400, never a failed cast."""
    position = pagination.decode_token(page_token, t=datetime, id=uuid.UUID)
    return {"t": position["t"].isoformat(), "id": str(position["id"])} if position else {}
