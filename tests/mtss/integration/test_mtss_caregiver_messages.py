"""Caregiver messages, the service in-process against the real PostgreSQL (`context_pg`): the log
entry, its audit record and its delivery job commit together; the job hands the message to notify
(a stand-in for notify's SendMessage here), is retried while notify is away and logs the message
failed after its last attempt or at notify's refusal; and the log only moves forward, whichever of
the job and notify's delivery events comes last. Delivery through the real notify, its events and
the audit trail on the mesh are in test_mtss_done_when.py."""

import pytest
import sqlalchemy as sa

from services.mtss import store
from services.mtss.service import DELIVER, NO_CHANNEL
from services.runtime.errors import FailedPrecondition, InvalidArgument, Unavailable
from services.runtime.jobs import JobRunner
from tests.mtss.integration.test_mtss_service import MONDAY, World, run


class Notify:
    """notify's SendMessage as mtss's channel sees it: each call takes the next answer (the last one
    stays), an exception is raised; `meanwhile` runs while notify holds the call."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.keys: list[str] = []
        self.variables: list[dict[str, str]] = []
        self.meanwhile = None

    async def send(self, tenant_id, caregiver_id, template, variables, key):
        self.keys.append(key)
        self.variables.append(variables)
        if self.meanwhile is not None:
            await self.meanwhile(key)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


PENDING = ("pending", "notify delivery d-1: pending")


async def family(w: World, caregivers: int = 1):
    """An intervention and an enrolled student with `caregivers` linked caregivers."""
    made, _ = await w.service.create_intervention(w.teacher, w.new())
    s = w.students[0]
    await w.service.enroll_students(w.teacher, made.id, [s], "", MONDAY)
    for _ in range(caregivers):
        await w.service.link_caregiver(w.admin, w.directory.add("caregiver"), s)
    return made, s


async def run_due(w: World) -> list[str]:
    """The tenant's due delivery jobs, run once each, as a runner would (claim, then execute)."""
    await make_due(w)
    runner = JobRunner("mtss", w.service.db, [w.service.deliver_kind()])
    return sorted([await runner.execute(job) for job in await runner.claim(100)])


async def make_due(w: World) -> None:
    """Time passes for the job queue: the tenant's queued jobs (their backoff) are due now."""
    async with w.service.db.transaction("") as s:
        await s.execute(
            sa.text("UPDATE mtss.jobs SET run_at = now() WHERE state = 'queued' AND tenant_id = :t"),
            {"t": w.people.tenant_id},
        )


async def jobs_of(w: World) -> list[dict]:
    async with w.service.db.transaction("") as s:
        rows = await s.execute(
            sa.text(
                "SELECT kind, key, payload, state, attempts, last_error FROM mtss.jobs "
                "WHERE tenant_id = :t ORDER BY key"
            ),
            {"t": w.people.tenant_id},
        )
        return [dict(r._mapping) for r in rows]


async def audited(w: World) -> list[str]:
    """The tenant's communication audit actions, in the order they were staged."""
    async with w.service.db.transaction(w.people.tenant_id) as s:
        rows = await s.execute(
            sa.text(
                "SELECT subject FROM mtss.outbox WHERE subject LIKE 'audit.mtss.communication.%' "
                "AND headers->>'learnflow-tenant' = :t ORDER BY seq"
            ),
            {"t": w.people.tenant_id},
        )
        return [r[0].removeprefix("audit.mtss.") for r in rows]


async def statuses(w: World, student: str) -> dict[str, tuple[str, str]]:
    return {c.id: (c.status, c.detail) for c in await w.service.list_communications(w.teacher, student)}


async def notify_says(w: World, comm_id: str, status: str, detail: str = "") -> None:
    """notify's delivery event as mtss's consumer applies it (app.py: in the consumer's transaction)."""
    async with w.service.db.transaction(w.people.tenant_id) as s:
        await w.service.apply_delivery(s, comm_id, status, detail or f"notify delivery d-1: {status}")


async def cleanup(w: World) -> None:
    """No job of this test left for the next test's runner."""
    async with w.service.db.transaction("") as s:
        await s.execute(sa.text("DELETE FROM mtss.jobs WHERE tenant_id = :t"), {"t": w.people.tenant_id})


def test_the_messages_commit_with_a_delivery_job_each_and_go_out_once_notify_is_back(context_pg):
    async def scenario(w: World):
        notify = w.service.channel = Notify(Unavailable("notify SendMessage: UNAVAILABLE"), PENDING)
        made, s = await family(w, caregivers=2)
        sent = await w.service.send_caregiver_message(w.teacher, made.id, s, "progress_summary")
        # Returned as committed: on its way, with one delivery job per caregiver beside the rows.
        assert sent.status == "queued"
        log = await statuses(w, s)
        assert set(log.values()) == {("queued", "")} and sent.id in log
        jobs = await jobs_of(w)
        assert [(j["kind"], j["key"], j["state"]) for j in jobs] == [
            (DELIVER, c, "queued") for c in sorted(log)
        ]
        assert jobs[0]["payload"]["variables"]["intervention"] == made.name
        assert await audited(w) == ["communication.queued"] * 2

        # notify is away for the first call: that job is retried after its backoff, the other is done.
        assert await run_due(w) == ["done", "retried"]
        assert sorted(s for s, _ in (await statuses(w, s)).values()) == ["pending", "queued"]
        assert await run_due(w) == ["done"]
        assert set((await statuses(w, s)).values()) == {PENDING}
        # Three calls for two messages, each with its communication's key: notify dedupes the retry.
        assert len(notify.keys) == 3 and set(notify.keys) == set(log)
        assert all(v == notify.variables[0] for v in notify.variables)  # as of the request

        # notify's delivery events: the log ends sent, and each step is audited once.
        for comm_id in log:
            await notify_says(w, comm_id, "sent")
        assert {st for st, _ in (await statuses(w, s)).values()} == {"sent"}
        assert sorted(await audited(w)) == sorted(
            ["communication.queued", "communication.pending", "communication.sent"] * 2
        )
        assert {j["state"] for j in await jobs_of(w)} == {"done"}  # kept while keyed
        await cleanup(w)

    run(context_pg, scenario)


def test_a_message_notify_never_takes_or_refuses_is_logged_failed_with_why(context_pg):
    async def scenario(w: World):
        w.service.channel = Notify(Unavailable("notify SendMessage: UNAVAILABLE connection refused"))
        made, s = await family(w)
        sent = await w.service.send_caregiver_message(w.teacher, made.id, s, "progress_summary")
        async with w.service.db.transaction("") as session:  # its last attempts, without the hours
            await session.execute(
                sa.text("UPDATE mtss.jobs SET max_attempts = 2 WHERE key = :k"), {"k": sent.id}
            )
        assert await run_due(w) == ["retried"]
        assert (await statuses(w, s))[sent.id] == ("queued", "")
        assert await run_due(w) == ["done"]  # the job is done: the message is failed, not left queued
        status, detail = (await statuses(w, s))[sent.id]
        assert status == "failed" and detail.startswith("gave up after 2 attempts: Unavailable")
        assert await audited(w) == ["communication.queued", "communication.failed"]
        await cleanup(w)

        # A refusal (the tenant has no such template in notify) is not retried.
        w.service.channel = Notify(FailedPrecondition("notify SendMessage: FAILED_PRECONDITION no template"))
        again = await w.service.send_caregiver_message(w.teacher, made.id, s, "exit_notice")
        assert await run_due(w) == ["done"]
        status, detail = (await statuses(w, s))[again.id]
        assert status == "failed" and "no template" in detail
        await cleanup(w)

    run(context_pg, scenario)


def test_a_caregiver_message_that_cannot_be_delivered_is_logged_failed_with_why(context_pg):
    """No channel (notify not wired): the log entry and its audit record are written first, and the
    entry ends failed with the reason, never lost."""

    async def scenario(w: World):
        made, _ = await w.service.create_intervention(w.teacher, w.new())
        s = w.students[0]
        await w.service.enroll_students(w.teacher, made.id, [s], "", MONDAY)
        with pytest.raises(FailedPrecondition):  # nobody to write to yet
            await w.service.send_caregiver_message(w.teacher, made.id, s, "progress_summary")
        with pytest.raises(InvalidArgument):  # not an approved template
            await w.service.send_caregiver_message(w.teacher, made.id, s, "anything goes")
        parent = w.directory.add("caregiver")
        with pytest.raises(InvalidArgument):  # a student is no caregiver
            await w.service.link_caregiver(w.admin, w.students[1], s)
        await w.service.link_caregiver(w.admin, parent, s)
        assert await jobs_of(w) == []  # the refusals enqueued nothing
        sent = await w.service.send_caregiver_message(w.teacher, made.id, s, "attendance_concern")
        assert (sent.status, sent.caregiver_id, sent.template) == ("queued", parent, "attendance_concern")
        assert await run_due(w) == ["done"]
        (logged,) = await w.service.list_communications(w.teacher, s)
        assert (logged.id, logged.status, logged.detail) == (sent.id, "failed", NO_CHANNEL)
        assert await audited(w) == ["communication.queued", "communication.failed"]
        await cleanup(w)

    run(context_pg, scenario)


def test_the_log_only_moves_forward_whichever_word_comes_last(context_pg):
    async def scenario(w: World):
        # notify's delivery job and mtss's consumer of notify.delivery.sent finish while the send
        # call is still on its way back: the job's "pending" must not overwrite "sent".
        notify = w.service.channel = Notify(PENDING)

        async def delivered_meanwhile(key: str) -> None:
            await notify_says(w, key, "sent")

        notify.meanwhile = delivered_meanwhile
        made, s = await family(w)
        sent = await w.service.send_caregiver_message(w.teacher, made.id, s, "progress_summary")
        assert await run_due(w) == ["done"]
        assert (await statuses(w, s))[sent.id] == ("sent", "notify delivery d-1: sent")
        assert await audited(w) == ["communication.queued", "communication.sent"]

        # A job retried or taken over after notify's word sends nothing again.
        notify.meanwhile = None
        async with w.service.db.transaction("") as session:
            await session.execute(
                sa.text("UPDATE mtss.jobs SET state = 'queued', run_at = now() WHERE key = :k"),
                {"k": sent.id},
            )
        assert await run_due(w) == ["done"] and notify.keys == [sent.id]
        await cleanup(w)

        # Out of order, one step at a time (store.set_communication_status is the one guard).
        c = await w.service.send_caregiver_message(w.teacher, made.id, s, "exit_notice")

        async def moves(status: str) -> bool:
            async with w.service.db.transaction(w.people.tenant_id) as session:
                return await store.set_communication_status(session, c.id, status, status) is not None

        assert not await moves("queued")  # the same status is no move
        assert await moves("failed")
        assert not await moves("queued") and not await moves("pending")  # failed → queued/pending
        assert await moves("sent")  # a later sent from notify wins over the failure
        assert not await moves("failed") and not await moves("pending")  # sent → failed/pending
        assert not await moves("sent")
        assert (await statuses(w, s))[c.id] == ("sent", "sent")

        # notify's events out of order through the consumer's path: nothing moves back, nothing is
        # audited twice.
        before = await audited(w)
        await notify_says(w, c.id, "failed")
        await notify_says(w, c.id, "sent")
        assert await audited(w) == before
        await notify_says(w, "not-a-uuid", "sent")  # another context's key: ignored
        await cleanup(w)

    run(context_pg, scenario)
