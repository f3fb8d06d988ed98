"""OperationsService on a real PostgreSQL: dead jobs listed (paginated, a tenant's admin sees only
that tenant's) and redriven to run again; an event dead letter redriven into its context's outbox
with its event id kept and a new NATS message id."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from learnflow.ops.v1 import operations_service_pb2 as pb
from runtime_pg import migrated_postgres, superuser
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime import request_context
from services.runtime.db import Database
from services.runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from services.runtime.jobs import Job, JobKind, JobQueue, JobRunner
from services.runtime.ops import OperationsServicer
from services.runtime.request_context import Principal, RequestContext

TENANT_A, TENANT_B = str(uuid.uuid4()), str(uuid.uuid4())


@pytest.fixture(scope="module")
def pg():
    with migrated_postgres("progress", "sandbox") as server:  # sandbox has no job table
        yield server


def _as(tenant: str | None, *roles: str):
    principal = Principal("someone", tenant or "", frozenset(roles)) if tenant or roles else None
    return request_context.bind(RequestContext("test", principal=principal, tenant_id=tenant))


def test_dead_jobs_are_listed_per_tenant_and_redriven(pg):
    kind = f"test-{uuid.uuid4().hex[:8]}"
    ran: list[Job] = []

    async def handle(job: Job, session: AsyncConnection) -> None:
        ran.append(job)
        if not job.payload.get("fixed"):
            raise FailedPrecondition("the recipient has no address")

    async def main():
        db = Database(pg.app_url, pool_size=4)
        ops = OperationsServicer(db, ["progress", "sandbox"])
        try:
            queue = JobQueue("progress")
            ids = {}
            for tenant in (TENANT_A, TENANT_A, TENANT_B):
                async with db.transaction(tenant) as s:
                    ids.setdefault(tenant, []).append(await queue.enqueue(s, kind))
            runner = JobRunner("progress", db, [JobKind(kind, handle)], poll_interval=0.02)
            for _ in range(3):
                await runner.execute((await runner.claim(1))[0])

            everything = await ops.ListDeadJobs(pb.ListDeadJobsRequest(), None)
            first = await ops.ListDeadJobs(pb.ListDeadJobsRequest(context="progress", page_size=2), None)
            rest = await ops.ListDeadJobs(
                pb.ListDeadJobsRequest(page_size=2, page_token=first.next_page_token), None
            )
            with _as(TENANT_A, "admin"):
                seen_by_a = await ops.ListDeadJobs(pb.ListDeadJobsRequest(), None)
            with _as(TENANT_B, "admin"), pytest.raises(NotFound):
                await ops.RedriveJob(pb.RedriveJobRequest(id=ids[TENANT_A][0]), None)
            with pytest.raises(InvalidArgument):
                await ops.RedriveJob(pb.RedriveJobRequest(id="not-a-uuid"), None)
            with pytest.raises(InvalidArgument):
                await ops.ListDeadJobs(pb.ListDeadJobsRequest(context="nowhere"), None)

            async with db.transaction(tenant_id="") as s:  # the operator fixed the cause
                await s.exec_driver_sql(
                    "UPDATE progress.jobs SET payload = '{\"fixed\": true}' WHERE id = %(id)s",
                    {"id": ids[TENANT_A][0]},
                )
            with _as(TENANT_A, "admin"):
                redriven = await ops.RedriveJob(pb.RedriveJobRequest(id=ids[TENANT_A][0]), None)
            with pytest.raises(NotFound):  # no longer dead
                await ops.RedriveJob(pb.RedriveJobRequest(id=ids[TENANT_A][0], context="progress"), None)
            again = await runner.claim(5)
            outcome = await runner.execute(again[0])
            left = await ops.ListDeadJobs(pb.ListDeadJobsRequest(), None)
            return ids, everything, first, rest, seen_by_a, redriven, [j.id for j in again], outcome, left
        finally:
            await db.dispose()

    ids, everything, first, rest, seen_by_a, redriven, again, outcome, left = asyncio.run(main())
    mine = [j for j in everything.jobs if j.kind == kind]
    assert len(mine) == 3 and all(j.state == pb.JOB_STATE_DEAD and j.context == "progress" for j in mine)
    assert mine[0].last_error == "FAILED_PRECONDITION: the recipient has no address"
    assert len(first.jobs) == 2 and first.next_page_token
    assert [j.id for j in first.jobs] + [j.id for j in rest.jobs] == [j.id for j in everything.jobs]
    assert sorted(j.id for j in seen_by_a.jobs) == sorted(ids[TENANT_A])
    assert redriven.job.state == pb.JOB_STATE_QUEUED and redriven.job.attempts == 0
    assert again == [ids[TENANT_A][0]] and outcome == "done"
    assert ids[TENANT_A][0] not in [j.id for j in left.jobs] and len(left.jobs) == len(everything.jobs) - 1


def test_a_dead_letter_is_redriven_through_the_outbox_with_a_new_message_id(pg):
    letter, event_id = uuid.uuid4(), uuid.uuid4().hex
    headers = {"ce-id": event_id, "ce-type": "learnflow.x.v1.Thing", "Nats-Msg-Id": event_id}
    with superuser(pg) as conn:
        conn.execute(
            "INSERT INTO progress.dead_letters (id, consumer, subject, event_id, event_type, tenant_id, "
            "reason, deliveries, payload, headers) VALUES (%s, 'progress-things', 'things.done', %s, "
            "'learnflow.x.v1.Thing', %s, 'boom', 5, %s, %s)",
            (letter, event_id, TENANT_A, b"\x08\x01", json.dumps(headers)),
        )

    async def main():
        db = Database(pg.app_url, pool_size=2)
        ops = OperationsServicer(db, ["progress", "sandbox"])
        try:
            with _as(TENANT_B, "admin"), pytest.raises(NotFound):
                await ops.RedriveDeadLetter(pb.RedriveDeadLetterRequest(id=str(letter)), None)
            reply = await ops.RedriveDeadLetter(pb.RedriveDeadLetterRequest(id=str(letter)), None)
            with pytest.raises(NotFound):
                await ops.RedriveDeadLetter(pb.RedriveDeadLetterRequest(id=str(letter)), None)
            return reply
        finally:
            await db.dispose()

    reply = asyncio.run(main())
    assert reply.event_id == event_id and reply.consumer == "progress-things"
    with superuser(pg) as conn:
        rows = conn.execute(
            "SELECT subject, payload, headers FROM progress.outbox WHERE headers->>'ce-id' = %s", (event_id,)
        ).fetchall()
        left = conn.execute("SELECT count(*) FROM progress.dead_letters WHERE id = %s", (letter,)).fetchone()
    assert len(rows) == 1
    subject, payload, sent = rows[0]
    assert subject == "things.done" and bytes(payload) == b"\x08\x01"
    assert sent["ce-id"] == event_id and sent["Nats-Msg-Id"].startswith(f"{event_id}:redrive:")
    assert left == (0,)


def test_the_new_operations_through_rest_with_their_roles(mesh):
    """Routes, roles and answers on the whole mesh, through Envoy."""
    from services.runtime.testing import login, rest

    operator = login(mesh, "operator@demo.test")
    student = login(mesh, "student@demo.test")
    missing = str(uuid.uuid4())
    listed = rest(mesh, "GET", "/v1/ops/deadJobs?pageSize=5", token=operator)
    assert listed.status == 200 and isinstance(listed.body.get("jobs", []), list)
    assert rest(mesh, "GET", "/v1/ops/deadJobs", token=student).status == 403
    assert rest(mesh, "POST", f"/v1/ops/deadJobs/{missing}:redrive", {}, token=operator).status == 404
    assert rest(mesh, "POST", f"/v1/ops/deadLetters/{missing}:redrive", {}, token=operator).status == 404
    assert rest(mesh, "POST", "/v1/ops/deadJobs/not-a-uuid:redrive", {}, token=operator).status == 400
    assert rest(mesh, "POST", f"/v1/ops/deadLetters/{missing}:redrive", {}, token=student).status == 403
    assert rest(mesh, "GET", "/v1/ops/deadJobs?context=nowhere", token=operator).status == 400
