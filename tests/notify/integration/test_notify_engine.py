"""The delivery engine in-process on a real PostgreSQL (notify's own schema, its job table and rate
limits), with the clock and every provider answer under the test's control: the retry schedule,
Retry-After, terminal errors, redrive, the fallback channel, shared limits, quiet hours and their
digest, escalation on unread, and a delivery claimed once when its worker is killed.

The channels here are scripted implementations of channels/base.py's Channel (notify_engine_kit.py):
they drive the engine's logic; the provider clients are covered in tests/notify/channels/. One test
runs the real Moodle, Zulip and Slack channels against the local provider servers (services/notify/
fakes) to show what a lost answer does: the provider has the message, the engine records it once as
an unknown outcome."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from notify_engine_kit import (
    Clock,
    ScriptedChannel,
    Users,
    events,
    make_all_due,
    migrated_postgres,
    queued_in,
    run_due,
)
from sqlalchemy import text

from services.notify.channels.registry import build_channels
from services.notify.channels.settings import ChannelSettings
from services.notify.domain import DeliveryFilter, Escalation, MessageRequest
from services.notify.fakes import FakeProviders, FakesConfig
from services.notify.fakes.client import FakesClient
from services.notify.service import DELIVER, DIGEST, ESCALATE, READ_POLL, NotifyService
from services.notify.settings import NotifyConfig
from services.runtime.db import Database
from services.runtime.errors import InvalidArgument, NotFound, PermissionDenied
from services.runtime.events.outbox import Outbox
from services.runtime.jobs import JobRunner
from services.runtime.outbound import RetryableResponse, TerminalResponse
from services.runtime.ratelimit import SharedRateLimiter
from services.runtime.request_context import Principal
from services.runtime.settings import read


@pytest.fixture(scope="module")
def pg():
    with migrated_postgres() as server:
        yield server


class Engine:
    def __init__(self, pg, channels, clock, env, service_kw=None):
        self.tenant = str(uuid.uuid4())
        self.users = Users()
        self.teacher = Principal(
            subject=self.users.add(self.tenant, roles=("teacher",)),
            tenant_id=self.tenant,
            roles=frozenset({"teacher"}),
        )
        self.db = Database(pg.app_url, pool_size=4)
        self.clock = clock
        self.service = NotifyService(
            self.db,
            Outbox("notify", "notify"),
            read(
                NotifyConfig,
                # Buckets big enough not to get in the way, except where a test is about the limit.
                {
                    "NOTIFY_RETRY_BASE_SECONDS": "10",
                    "NOTIFY_READ_POLL_SECONDS": "30",
                    "NOTIFY_LIMIT_BURST": "100",
                    **env,
                },
            ),
            channels={c.name: c for c in channels},
            directory=self.users,
            limiter=SharedRateLimiter(self.db, "notify"),
            clock=clock,
            rng=lambda: 0.5,  # the jitter's draw, fixed so the schedule can be checked
            **(service_kw or {}),
        )
        self.runner = JobRunner("notify", self.db, self.service.kinds, lease_seconds=1.0)

    async def template(self, body="Hello {{ name }}", subject="For {{ name }}", name="hello"):
        return await self.service.put_template(self.teacher, name, subject, body)

    async def send(self, channel, recipient, **kw):
        request = MessageRequest(
            channel=channel,
            recipient_id=recipient,
            template=kw.pop("template", "hello"),
            variables=kw.pop("variables", {"name": "Ada"}),
            **kw,
        )
        return await self.service.send_message(self.teacher, request)

    async def get(self, delivery_id):
        admin = Principal(subject="admin", tenant_id=self.tenant, roles=frozenset({"admin"}))
        return await self.service.get_delivery(admin, str(delivery_id))

    async def run(self):
        return await run_due(self.runner)

    async def later(self, **delta):
        self.clock.advance(**delta)
        async with self.db.transaction("") as s:
            await s.execute(
                text("UPDATE notify.jobs SET run_at = now() WHERE state = 'queued' AND tenant_id = :t"),
                {"t": self.tenant},
            )
        return await self.run()

    async def close(self):
        async with self.db.transaction("") as s:  # leave no job of ours for the next test's runner
            await s.execute(text("DELETE FROM notify.jobs WHERE tenant_id = :t"), {"t": self.tenant})
            # Channel buckets are per deployment, not per tenant: the next test starts with full ones.
            await s.execute(text("DELETE FROM notify.rate_limits"))
        await self.db.dispose()


@contextlib.asynccontextmanager
async def engine(pg, *channels, clock=None, service_kw=None, **env):
    e = Engine(pg, channels, clock or Clock(), env, service_kw)
    try:
        yield e
    finally:
        await e.close()


def _retryable(status=503, after=None):
    return RetryableResponse(f"provider said {status}", destination="test", status=status, retry_after=after)


def test_transient_failures_are_retried_on_an_exponential_schedule_then_sent_once(pg):
    chat = ScriptedChannel("zulip")
    chat.script = [_retryable(), _retryable(502)]

    async def main():
        async with engine(pg, chat) as e:
            await e.template()
            student = e.users.add(e.tenant, email="ada@school.test")
            d = await e.send("zulip", student)
            assert d.status == "pending"
            await e.run()
            first = await e.get(d.id)
            assert (first.status, first.attempts) == ("retrying", 1)
            assert "503" in first.last_error and first.notes[-1].kind == "retry"
            # rng 0.5 of a 10 s window: due in 5 s, then 0.5 of 20 s: 10 s.
            assert await queued_in(e.db, DELIVER) == pytest.approx([5.0], abs=1.0)
            await make_all_due(e.db)
            await e.run()
            second = await e.get(d.id)
            assert (second.status, second.attempts) == ("retrying", 2)
            assert await queued_in(e.db, DELIVER) == pytest.approx([10.0], abs=1.0)
            await make_all_due(e.db)
            await e.run()
            sent = await e.get(d.id)
            assert (sent.status, sent.attempts, sent.last_error) == ("sent", 3, "")
            assert sent.provider_message_id == f"zulip-{d.id}" and sent.address == "ada@school.test"
            assert len(chat.calls) == 3 and all(c.delivery_id == d.id for c in chat.calls)
            assert await events(e.db, "notify.delivery.sent", d.id) == 1
            assert await events(e.db, "notify.delivery.failed", d.id) == 0

    asyncio.run(main())


def test_retry_after_is_respected_and_a_429_slows_every_replica(pg):
    moodle = ScriptedChannel("moodle", body_format="html")
    moodle.script = [_retryable(429, after=120.0)]

    async def main():
        async with engine(pg, moodle) as e:
            await e.template()
            d = await e.send("moodle", e.users.add(e.tenant, email="x@school.test"))
            await e.run()
            assert (await e.get(d.id)).status == "retrying"
            [due] = await queued_in(e.db, DELIVER)
            assert due >= 119  # never before the provider's Retry-After, although backoff said 5 s
            async with e.db.transaction("") as s:
                blocked = (
                    await s.execute(
                        text(
                            "SELECT extract(epoch FROM blocked_until - now()) FROM notify.rate_limits "
                            "WHERE key = 'moodle'"
                        )
                    )
                ).scalar_one()
            assert blocked > 100  # the shared bucket is blocked for every replica

    asyncio.run(main())


def test_retries_are_bounded_terminal_errors_fail_at_once_and_dead_deliveries_can_be_redriven(pg):
    chat = ScriptedChannel("zulip")
    slack = ScriptedChannel("slack")
    chat.script = [_retryable()] * 4
    slack.script = [
        TerminalResponse("channel_not_found", destination="hooks", status=404, body="channel_not_found")
    ]

    async def main():
        async with engine(pg, chat, slack) as e:
            await e.template()
            student = e.users.add(e.tenant, email="s@school.test")
            d = await e.send("zulip", student)
            await e.run()
            for _ in range(3):
                await make_all_due(e.db)
                await e.run()
            dead = await e.get(d.id)
            assert (dead.status, dead.attempts) == ("failed", 4)  # the first attempt and 3 retries
            assert dead.last_error.startswith("gave up after 4 attempts")
            assert await queued_in(e.db, DELIVER) == []
            assert await events(e.db, "notify.delivery.failed", d.id) == 1

            t = await e.send("slack", student)
            await e.run()
            refused = await e.get(t.id)
            assert (refused.status, refused.attempts) == ("failed", 1)
            assert "channel_not_found" in refused.last_error and len(slack.calls) == 1

            admin = Principal(subject="admin", tenant_id=e.tenant, roles=frozenset({"admin"}))
            again = await e.service.redrive(admin, str(d.id))
            assert (again.status, again.attempts, again.notes[-1].kind) == ("pending", 0, "redriven")
            await e.run()
            assert (await e.get(d.id)).status == "sent"
            with pytest.raises(Exception, match="only failed"):
                await e.service.redrive(admin, str(d.id))

    asyncio.run(main())


def test_a_recipient_without_an_account_gets_the_fallback_channel_and_the_mapping_is_cached(pg):
    moodle = ScriptedChannel("moodle", body_format="html", accounts={"known@school.test": "42"})

    async def main():
        async with engine(pg, moodle) as e:
            await e.template(body="<p>{{ name }}</p>")
            known = e.users.add(e.tenant, email="known@school.test")
            stranger = e.users.add(e.tenant, email="stranger@school.test")
            a = await e.send("moodle", known, variables={"name": "<b>Ada</b>"})
            b = await e.send("moodle", stranger)
            await e.run()
            to_moodle, fell_back = await e.get(a.id), await e.get(b.id)
            assert (to_moodle.status, to_moodle.address) == ("sent", "42")
            assert moodle.delivered[a.id].body == "<p>&lt;b&gt;Ada&lt;/b&gt;</p>"
            assert (fell_back.status, fell_back.channel, fell_back.requested_channel) == (
                "sent",
                "in_app",
                "moodle",
            )
            assert fell_back.notes[0].kind == "fallback" and "no moodle account" in fell_back.notes[0].reason
            assert fell_back.body == "<p>Ada</p>"  # rendered again for in_app's plain text
            student = Principal(subject=stranger, tenant_id=e.tenant, roles=frozenset({"student"}))
            inbox, _ = await e.service.list_inbox(student, 10, "", False)
            assert [m.id for m in inbox] == [b.id]
            # A second message: the addresses are known, the channel is not asked again.
            asked = len(moodle.resolved)
            await e.send("moodle", known)
            await e.send("moodle", stranger)
            await e.run()
            assert len(moodle.resolved) == asked

    asyncio.run(main())


def test_the_shared_limit_holds_messages_back_without_spending_attempts(pg):
    slack = ScriptedChannel("slack")

    async def main():
        async with engine(pg, slack, NOTIFY_SLACK_PER_MINUTE="60", NOTIFY_LIMIT_BURST="1") as e:
            await e.template()
            student = e.users.add(e.tenant, email="s@school.test")
            sent = [await e.send("slack", student) for _ in range(3)]
            await e.run()
            states = [await e.get(d.id) for d in sent]
            assert sorted(d.status for d in states) == ["pending", "pending", "sent"]
            held = [d for d in states if d.status == "pending"]
            assert all(d.attempts == 0 and d.notes[-1].kind == "rate_limited" for d in held)
            assert all(0 < s <= 2.1 for s in await queued_in(e.db, DELIVER))  # about a second apart
            assert len(slack.calls) == 1

    asyncio.run(main())


def test_quiet_hours_defer_non_critical_messages_into_one_digest_and_critical_ones_go_now(pg):
    email = ScriptedChannel("email")
    # 23:00 in Paris (UTC+1 in December). Years ahead: the digest job's run_at (the window's end by
    # this clock) must still be in the future for the database, whose clock the runner claims by, or
    # the first run would take it early (this test failed from 2026-12-07 06:00 UTC on, when it said
    # 2026-12-06).
    clock = Clock(datetime(2099, 12, 6, 22, 0, tzinfo=UTC))

    async def main():
        async with engine(pg, email, clock=clock) as e:
            await e.template()
            caregiver = e.users.add(e.tenant, email="parent@home.test", time_zone="Europe/Paris")
            me = Principal(subject=caregiver, tenant_id=e.tenant, roles=frozenset({"caregiver"}))
            await e.service.set_quiet_hours(me, "", "22:00", "07:00", "", True)
            held = [await e.send("email", caregiver, variables={"name": f"n{i}"}) for i in range(3)]
            urgent = await e.send("email", caregiver, urgency="critical")
            assert all(d.status == "deferred" and d.notes[0].kind == "deferred" for d in held)
            assert "07:00 Europe/Paris" in held[0].notes[0].reason
            await e.run()
            assert (await e.get(urgent.id)).status == "sent"
            assert (await e.get(urgent.id)).notes[0].kind == "quiet_hours_bypassed"
            assert list(email.delivered) == [urgent.id]
            # One digest job for the window, due at its end (07:00 Paris = 06:00 UTC, 8 h away).
            async with e.db.transaction("") as s:
                [run_at] = (
                    (
                        await s.execute(
                            text("SELECT run_at FROM notify.jobs WHERE kind = :k AND tenant_id = :t"),
                            {"k": DIGEST, "t": e.tenant},
                        )
                    )
                    .scalars()
                    .all()
                )
            assert run_at == datetime(2099, 12, 7, 6, 0, tzinfo=UTC)
            await e.later(hours=8)
            states = [await e.get(d.id) for d in held]
            assert {d.status for d in states} == {"digested"}
            [digest_id] = {d.digest_id for d in states}
            digest = await e.get(digest_id)
            assert digest.status == "sent" and digest.subject.startswith("3 messages")
            assert all(f"n{i}" in digest.body for i in range(3))
            assert len(email.delivered) == 2

    asyncio.run(main())


def test_an_unread_message_escalates_to_the_next_channel_and_a_read_one_does_not(pg):
    chat = ScriptedChannel("zulip", read_receipts=True)
    email = ScriptedChannel("email")

    async def main():
        async with engine(pg, chat, email) as e:
            await e.template()
            mentor = e.users.add(e.tenant, email="m@school.test")
            chain = Escalation(after_minutes=30, channels=("email",))
            unread = await e.send("zulip", mentor, escalation=chain)
            read = await e.send("zulip", mentor, escalation=chain)
            await e.run()
            assert sorted(await queued_in(e.db, READ_POLL)) == pytest.approx([30, 30], abs=1.5)
            chat.read[f"zulip-{read.id}"] = e.clock()
            # The read poll finds the read receipt of one of them.
            await e.later(minutes=1)
            assert (await e.get(read.id)).status == "read"
            assert await events(e.db, "notify.delivery.read", read.id) == 1
            await e.later(minutes=30)
            original = await e.get(unread.id)
            assert original.status == "sent" and original.notes[-1].kind == "escalated"
            assert "unread after 30 min on zulip" in original.notes[-1].reason
            escalated = [m for m in email.delivered.values()]
            assert len(escalated) == 1
            follow = await e.get(escalated[0].delivery_id)
            assert (follow.channel, follow.escalated_from, follow.status) == ("email", unread.id, "sent")
            assert (await e.get(read.id)).notes[-1].kind == "read"  # nothing escalated for the read one

    asyncio.run(main())


def test_bad_messages_are_refused_whole_and_nothing_is_stored(pg):
    chat = ScriptedChannel("zulip", max_length=20)

    async def main():
        async with engine(pg, chat) as e:
            await e.template(body="{{ name }} and {{ student_name }}", name="two")
            await e.template(body="{{ name }}")
            student = e.users.add(e.tenant, email="s@school.test")
            other_tenant_user = e.users.add(str(uuid.uuid4()), email="o@school.test")
            batch = [
                MessageRequest("zulip", student, "two", variables={"name": "a"}),
                MessageRequest("zulip", student, "hello", variables={"name": "x" * 30}),
                MessageRequest("fax", student, "hello", variables={"name": "a"}),
                MessageRequest("zulip", other_tenant_user, "hello", variables={"name": "a"}),
                MessageRequest("zulip", student, "nope", variables={"name": "a"}),
            ]
            with pytest.raises(InvalidArgument) as err:
                await e.service.send_messages(e.teacher, batch)
            fields = {v.field for v in err.value.violations}
            assert {"messages[2].channel", "messages[3].recipient_id"} <= fields
            with pytest.raises(InvalidArgument) as err:
                await e.service.send_messages(e.teacher, [batch[0], batch[1], batch[4]])
            violations = {v.field: v.description for v in err.value.violations}
            assert set(violations) == {
                "messages[0].variables",
                "messages[1].variables",
                "messages[2].template",
            }
            assert "'student_name'" in violations["messages[0].variables"]
            assert "30 characters" in violations["messages[1].variables"]
            found, _ = await e.service.list_deliveries(e.teacher, DeliveryFilter(), 10, "")
            assert found == [] and chat.calls == []

    asyncio.run(main())


async def _until(check, seconds=10.0):
    async with asyncio.timeout(seconds):
        while not check():
            await asyncio.sleep(0.01)


def test_one_batch_keeps_each_idempotency_key_to_one_delivery(pg):
    """A batch is one INSERT: a key used before gives the existing delivery, a key named twice in the
    batch gives its first message's delivery, and only the new ones get a delivery job."""

    async def main():
        async with engine(pg, ScriptedChannel("zulip")) as e:
            await e.template()
            student = e.users.add(e.tenant, email="s@school.test")
            first = await e.send("zulip", student, idempotency_key="once")
            [job] = await e.runner.claim(10)
            m = MessageRequest("zulip", student, "hello", variables={"name": "Ada"})
            batch = await e.service.send_messages(
                e.teacher, [replace(m, idempotency_key=k) for k in ("once", "twice", "twice", "fresh")]
            )
            jobs = await e.runner.claim(10)
            return first, batch, job, jobs

    first, batch, job, jobs = asyncio.run(main())
    assert batch[0].id == first.id and batch[1].id == batch[2].id
    assert len({d.id for d in batch}) == 3
    assert job.payload["delivery_id"] == str(first.id)
    assert sorted(j.payload["delivery_id"] for j in jobs) == sorted({str(batch[1].id), str(batch[3].id)})


def test_a_worker_killed_mid_send_leaves_a_claim_and_the_message_is_never_sent_again_blindly(pg):
    chat = ScriptedChannel("zulip")  # Zulip keeps no idempotency key: a repeat reaches the student twice

    async def main():
        async with engine(pg, chat, service_kw={"send_lease_seconds": 3.0}) as e:
            await e.template()
            student = e.users.add(e.tenant, email="s@school.test")
            d = await e.send("zulip", student, idempotency_key="once")
            assert (
                await e.send("zulip", student, idempotency_key="once")
            ).id == d.id  # same key: same delivery
            # Worker A claims the job and is killed in the middle of the provider call.
            chat.hang = asyncio.Event()
            [job] = await e.runner.claim(10)
            killed = asyncio.create_task(e.runner.execute(job))
            await _until(lambda: chat.calls)
            killed.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await killed
            # The claim committed before the provider call: the send is on record as in flight.
            claimed = await e.get(d.id)
            assert (claimed.status, claimed.attempts) == ("pending", 1) and claimed.claim_id is not None
            chat.hang = None
            # Worker B gets the job back from the reaper while A's claim still holds: it sends
            # nothing and looks again when the claim's lease ends.
            other = JobRunner("notify", e.db, e.service.kinds, lease_seconds=1.0)
            await asyncio.sleep(1.2)
            assert await other.reap() >= 1
            assert await run_due(other) == ["done"]
            held = await e.get(d.id)
            assert (held.status, held.notes[-1].kind) == ("pending", "in_flight")
            assert len(chat.calls) == 1
            # The lease is over and nobody holds A's outcome: it may or may not have reached Zulip,
            # so the delivery fails and says so instead of sending a second copy.
            await asyncio.sleep(2.0)
            await make_all_due(e.db)
            assert await run_due(other) == ["done"]
            failed = await e.get(d.id)
            assert failed.status == "failed" and failed.claim_id is None
            assert failed.last_error.startswith("UNKNOWN_OUTCOME") and "redrive" in failed.last_error
            assert len(chat.calls) == 1
            assert await events(e.db, "notify.delivery.failed", d.id) == 1
            assert await events(e.db, "notify.delivery.sent", d.id) == 0
            # The operator finds nothing in Zulip and redrives it: sent, once more, on purpose.
            admin = Principal(subject="admin", tenant_id=e.tenant, roles=frozenset({"admin"}))
            await e.service.redrive(admin, str(d.id))
            assert await run_due(other) == ["done"]
            assert (await e.get(d.id)).status == "sent"
            assert [c.delivery_id for c in chat.calls] == [d.id, d.id]
            assert await run_due(other) == []

    asyncio.run(main())


def test_an_unknown_outcome_is_sent_again_only_where_a_repeat_is_harmless(pg):
    pager = ScriptedChannel("pagerduty")
    pager.resend_safe = True  # type: ignore[attr-defined]  # like PagerDutyChannel: dedup_key
    chat = ScriptedChannel("zulip")

    async def main():
        async with engine(pg, pager, chat, service_kw={"send_lease_seconds": 1.0}) as e:
            await e.template()
            student = e.users.add(e.tenant, email="s@school.test")
            page = await e.service.send_system(
                channel="pagerduty", subject="down", body="b", idempotency_key="p1", tenant_id=e.tenant
            )
            critical = await e.send("zulip", student, urgency="critical")
            normal = await e.send("zulip", student)
            # One batch claims all three and sends them at once; the worker dies mid-send.
            pager.hang = chat.hang = asyncio.Event()
            jobs = await e.runner.claim(10)
            killed = asyncio.create_task(e.runner.execute_batch(jobs))
            await _until(lambda: len(pager.calls) + len(chat.calls) == 3)  # all in flight together
            killed.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await killed
            pager.hang = chat.hang = None
            await asyncio.sleep(1.2)  # past the jobs' and the claims' leases
            await e.runner.reap()
            await run_due(e.runner)
            # PagerDuty folds a repeat of the dedup key into the same incident: sent again.
            paged = await e.get(page.id)
            assert (paged.status, paged.attempts) == ("sent", 2)
            assert "unknown_outcome" in [n.kind for n in paged.notes]
            assert [c.delivery_id for c in pager.calls] == [page.id, page.id] and list(pager.delivered) == [
                page.id
            ]
            # Critical: a duplicate beats a missing message, and the note says it may be one.
            urgent = await e.get(critical.id)
            assert (urgent.status, urgent.attempts) == ("sent", 2)
            assert urgent.notes[-1].kind == "unknown_outcome"
            assert [c.delivery_id for c in chat.calls].count(critical.id) == 2
            # Anything else on a channel without a key: failed as unknown, never sent twice.
            dropped = await e.get(normal.id)
            assert dropped.status == "failed" and dropped.last_error.startswith("UNKNOWN_OUTCOME")
            assert [c.delivery_id for c in chat.calls].count(normal.id) == 1

    asyncio.run(main())


def test_a_message_taken_whose_answer_is_lost_is_delivered_once_and_failed_as_unknown_outcome(pg):
    """The real channels against the local provider servers, which store each message and then lose
    the answer: Moodle's connection dropped under a batch of three (one send_many call), Zulip's
    dropped, Slack's answer later than the channel's timeout. Each message is in the provider once
    (the outbound client repeats no POST whose answer was lost, in-line budget or not), and each
    delivery is failed as UNKNOWN_OUTCOME after one attempt, saying so in its notes and its failed
    event; the engine does not retry it either. A critical message is the exception, as for an
    expired claim: sent again, with a note that it may be a duplicate."""
    student = "student@demo.test"
    with FakeProviders.running(FakesConfig(users=(student,))) as fakes:
        inbox = FakesClient(fakes.http_url)
        settings = read(ChannelSettings, {**fakes.channel_env(), "NOTIFY_CHANNEL_TIMEOUT_SECONDS": "0.5"})
        assert settings.inline_attempts == 2  # the default: a budget the lost answers must not use
        built = build_channels(settings)
        real = [built["moodle"], built["zulip"], built["slack"]]
        inbox.fault(
            "moodle", count=1, after_serving="drop", operations=["core_message_send_instant_messages"]
        )
        inbox.fault("zulip", count=2, after_serving="drop", operations=["send_message"])
        inbox.fault("slack", count=1, after_serving="delay", delay_seconds=2)

        async def main():
            async with contextlib.AsyncExitStack() as stack:
                for channel in real:
                    stack.push_async_callback(channel.aclose)
                e = await stack.enter_async_context(engine(pg, *real))
                await e.template(body="Hello {{ name }}, about your {{ task }}")
                to = e.users.add(e.tenant, email=student)
                batch = [
                    await e.send("moodle", to, variables={"name": "Ada", "task": f"quiz {i}"})
                    for i in range(3)
                ]
                chat = await e.send("zulip", to, variables={"name": "Ada", "task": "essay"})
                urgent = await e.send(
                    "zulip", to, variables={"name": "Ada", "task": "exam"}, urgency="critical"
                )
                webhook = await e.send("slack", to, variables={"name": "Ada", "task": "lab"})
                await e.runner.execute_batch(await e.runner.claim(100))  # one batch, as a worker runs it
                await make_all_due(e.db)
                await e.run()  # anything the engine had scheduled again would go now
                got = {d.id: await e.get(d.id) for d in [*batch, chat, urgent, webhook]}
                failed_events = {d: await events(e.db, "notify.delivery.failed", d) for d in got}
                return batch, chat, urgent, webhook, got, failed_events

        batch, chat, urgent, webhook, got, failed_events = asyncio.run(main())
        state = inbox.state()["providers"]
        moodle = inbox.messages("moodle")
        zulip = inbox.messages("zulip")
        slack = inbox.messages("slack")

    # Delivered once: Moodle stored the three (one call), Slack posted once.
    assert state["moodle"]["calls"]["core_message_send_instant_messages"] == 1
    assert sorted(m["meta"]["clientmsgid"] for m in moodle) == sorted(str(d.id) for d in batch)
    assert len(slack) == 1 and state["slack"]["calls"]["webhook"] == 1
    assert [m["text"].count("essay") for m in zulip].count(1) == 1  # the normal Zulip message: once
    for d, lost in [
        *((b, "RemoteProtocolError") for b in batch),
        (chat, "RemoteProtocolError"),
        (webhook, "ReadTimeout"),
    ]:
        found = got[d.id]
        assert (found.status, found.attempts) == ("failed", 1), (found.status, found.last_error, found.notes)
        assert found.last_error.startswith("UNKNOWN_OUTCOME: attempt 1 may have reached"), found.last_error
        assert lost in found.last_error and "redrive if it did not arrive" in found.last_error
        assert [n.kind for n in found.notes] == ["failed"] and found.notes[0].reason == found.last_error
        assert failed_events[d.id] == 1
    # Critical: sent again (Zulip's first two answers were lost: the essay's and this one's), noted.
    sent_again = got[urgent.id]
    assert sent_again.status == "sent" and sent_again.attempts == 2, (sent_again.last_error, sent_again.notes)
    [noted] = [n.reason for n in sent_again.notes if n.kind == "unknown_outcome"]
    assert "may have reached zulip" in noted and "critical: a duplicate beats a missing message" in noted
    assert [m["text"].count("exam") for m in zulip].count(1) == 2  # the duplicate the note announces


@pytest.mark.parametrize("process", ["survives", "restarts"])
def test_postgres_down_between_the_sends_and_their_record_sends_nothing_twice_and_loses_nothing(pg, process):
    chat = ScriptedChannel("zulip")  # no idempotency key: a repeat would reach the student twice

    async def main():
        async with engine(pg, chat, service_kw={"send_lease_seconds": 1.0}) as e:
            await e.template()
            students = [e.users.add(e.tenant, email=f"s{i}@school.test") for i in range(5)]
            ds = [await e.send("zulip", s) for s in students]
            chat.hang = asyncio.Event()
            jobs = await e.runner.claim(100)
            assert len(jobs) == 5
            batch = asyncio.create_task(e.runner.execute_batch(jobs))
            await _until(lambda: len(chat.calls) == 5)  # the five sends are in flight together
            # PostgreSQL stops while Zulip answers: the batch's open transaction (its jobs'
            # completion) dies with it, and the runner's retry of each job alone fails too.
            await asyncio.to_thread(pg.stop)
            try:
                chat.hang.set()
                await batch
            finally:
                await asyncio.to_thread(pg.start)
            await e.db.engine.dispose()  # the pool's connections died with the server
            service, runner = e.service, e.runner
            if process == "restarts":
                # The process went down with the database: another one, which never saw the sends.
                service = NotifyService(
                    e.db,
                    Outbox("notify", "notify"),
                    e.service.config,
                    channels={"zulip": chat},
                    directory=e.users,
                    limiter=e.service.limiter,
                    clock=e.clock,
                    send_lease_seconds=1.0,
                )
                runner = JobRunner("notify", e.db, service.kinds, lease_seconds=1.0)
            for _ in range(10):  # the jobs' leases, the reaper and the retries, until each has run
                await asyncio.sleep(1.1)
                await runner.reap()
                await make_all_due(e.db)
                await run_due(runner)
                states = [await e.get(d.id) for d in ds]
                if all(d.status in ("sent", "failed") for d in states):
                    break
            assert len(chat.calls) == 5  # not one message sent twice
            for d in states:
                assert d.claim_id is None
                if process == "survives":
                    # This process held the outcomes: recorded when the jobs ran again.
                    assert (d.status, d.attempts) == ("sent", 1)
                    assert await events(e.db, "notify.delivery.sent", d.id) == 1
                else:
                    # Nobody knows whether Zulip got them: each fails, loudly, for an operator.
                    assert d.status == "failed" and d.last_error.startswith("UNKNOWN_OUTCOME")
                    assert await events(e.db, "notify.delivery.failed", d.id) == 1
                    assert await events(e.db, "notify.delivery.sent", d.id) == 0

    asyncio.run(main())


def test_a_batch_sends_concurrently_within_the_shared_limit_each_with_its_own_key(pg):
    moodle = ScriptedChannel("moodle")

    async def main():
        async with engine(pg, moodle, NOTIFY_MOODLE_PER_MINUTE="60", NOTIFY_LIMIT_BURST="3") as e:
            await e.template()
            ds = [await e.send("moodle", e.users.add(e.tenant, email=f"s{i}@school.test")) for i in range(10)]
            moodle.hang = asyncio.Event()
            jobs = await e.runner.claim(100)
            assert len(jobs) == 10
            batch = asyncio.create_task(e.runner.execute_batch(jobs))
            # The bucket holds 3: three claimed and in flight at once (one after another would never
            # have three outstanding), the other seven held back without an attempt.
            await _until(lambda: len(moodle.calls) == 3)
            moodle.hang.set()
            await batch
            states = {d.id: await e.get(d.id) for d in ds}
            sent = [d for d in states.values() if d.status == "sent"]
            held = [d for d in states.values() if d.status != "sent"]
            assert len(sent) == 3 and len(moodle.calls) == 3
            assert all(
                (d.status, d.attempts, d.notes[-1].kind) == ("pending", 0, "rate_limited") for d in held
            )
            assert all(d.claim_id is None for d in states.values())
            # Each send carried its own delivery's id (the provider's idempotency key), its own address.
            assert sorted(c.delivery_id for c in moodle.calls) == sorted(d.id for d in sent)
            for c in moodle.calls:
                assert c.address == states[c.delivery_id].address
                assert states[c.delivery_id].provider_message_id == f"moodle-{c.delivery_id}"
                assert await events(e.db, "notify.delivery.sent", c.delivery_id) == 1
            assert all(0 < s <= 7.1 for s in await queued_in(e.db, DELIVER))

    asyncio.run(main())


def test_an_in_app_message_read_in_time_is_not_escalated_and_an_unread_one_is(pg):
    email = ScriptedChannel("email")

    async def main():
        async with engine(pg, email) as e:
            await e.template()
            student = e.users.add(e.tenant, email="s@school.test")
            me = Principal(subject=student, tenant_id=e.tenant, roles=frozenset({"student"}))
            chain = Escalation(after_minutes=10, channels=("email",))
            read = await e.send("in_app", student, escalation=chain)
            unread = await e.send("in_app", student, escalation=chain)
            await e.run()
            assert await queued_in(e.db, ESCALATE) == pytest.approx([600, 600], abs=2)
            await e.service.mark_read(me, str(read.id))
            await e.later(minutes=10)
            assert (await e.get(read.id)).status == "read"
            [follow] = email.delivered.values()
            assert (await e.get(follow.delivery_id)).escalated_from == unread.id
            assert follow.address == "s@school.test"

    asyncio.run(main())


def test_a_platform_message_goes_through_the_same_log_limits_and_retries(pg):
    slack = ScriptedChannel("slack", body_format="html", max_length=200)
    slack.script = [_retryable(500)]

    async def main():
        async with engine(pg, slack) as e:
            alert = await e.service.send_system(
                channel="slack",
                subject="SLA below 90%",
                body="compliance 84% <tenant demo>",
                urgency="high",
                idempotency_key="alert:sla:1",
                extra={"alertname": "SlaBelowTarget"},
            )
            again = await e.service.send_system(
                channel="slack", subject="x", body="y", idempotency_key="alert:sla:1"
            )
            assert again.id == alert.id and alert.created_by == "system"
            assert alert.body == "compliance 84% &lt;tenant demo&gt;"  # text made safe for an HTML channel
            system = Principal(subject="ops", tenant_id=str(alert.tenant_id), roles=frozenset({"operator"}))
            await run_due(e.runner)
            first = await e.service.get_delivery(system, str(alert.id))
            assert (first.status, first.address) == ("retrying", "slack-default-target")
            async with e.db.transaction("") as s:
                await s.execute(
                    text(
                        "UPDATE notify.jobs SET run_at = now() WHERE kind = :k AND state = 'queued' "
                        "AND payload->>'delivery_id' = :id"
                    ),
                    {"k": DELIVER, "id": str(alert.id)},
                )
            await run_due(e.runner)
            done = await e.service.get_delivery(system, str(alert.id))
            assert (done.status, done.attempts) == ("sent", 2)
            assert slack.delivered[alert.id].extra == {"alertname": "SlaBelowTarget"}
            # Operators (of whatever tenant) read the platform's messages; nobody else does.
            operator = Principal(subject="op", tenant_id=e.tenant, roles=frozenset({"operator"}))
            listed, _ = await e.service.list_deliveries(operator, DeliveryFilter(platform=True), 200, "")
            assert alert.id in {m.id for m in listed}
            assert (await e.service.get_delivery(operator, str(alert.id))).status == "sent"
            with pytest.raises(PermissionDenied):
                await e.service.list_deliveries(e.teacher, DeliveryFilter(platform=True), 10, "")
            with pytest.raises(NotFound):
                await e.service.get_delivery(e.teacher, str(alert.id))
            with pytest.raises(InvalidArgument) as err:
                await e.service.send_system(
                    channel="slack", subject="s", body="x" * 201, idempotency_key="big"
                )
            assert err.value.violations[0].field == "body"
            with pytest.raises(InvalidArgument):
                await e.service.send_system(channel="telex", subject="s", body="b", idempotency_key="k")

    asyncio.run(main())


def test_an_open_breaker_delays_a_message_without_spending_its_retries(pg):
    from services.runtime.outbound import CircuitOpen

    chat = ScriptedChannel("zulip")
    # An outage: the breaker stays open for many checks (far more than the 3 retries), then closes.
    chat.script = [CircuitOpen("breaker open", destination="zulip", status=None, retry_after=30.0)] * 6

    async def main():
        async with engine(pg, chat) as e:
            await e.template()
            d = await e.send("zulip", e.users.add(e.tenant, email="s@school.test"))
            await e.run()
            for _ in range(5):
                held = await e.get(d.id)
                assert (held.status, held.attempts) == ("pending", 0)
                assert await queued_in(e.db, DELIVER) == pytest.approx([30.0], abs=1.0)
                await make_all_due(e.db)
                await e.run()
            await make_all_due(e.db)
            await e.run()
            sent = await e.get(d.id)
            assert (sent.status, sent.attempts) == ("sent", 1)
            assert [n.kind for n in sent.notes] == ["held"]  # one note for the whole spell

    asyncio.run(main())
