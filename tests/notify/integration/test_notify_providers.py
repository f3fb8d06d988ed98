"""Issue #11's "Done when", end to end on the session mesh: notify's real channels deliver to the local
provider servers the mesh runs (services/notify/fakes: Moodle, Zulip, Slack, PagerDuty, SMTP), driven
through the API as its users drive it (REST through Envoy, gRPC), and what each provider received is
read back from the servers' own JSON API (FakesClient).

- An intervention-style message from a template lands in Moodle rendered and HTML-escaped, is read
  there, and the delivery log shows it read (GetDelivery, ListDeliveries) with notify.delivery.read on
  NATS; the same with Zulip (read receipts) and email (no read receipts: it stays sent).
- A provider outage (503s, then a 429 with Retry-After) delays the message and never loses or repeats
  it; a terminal error (an unknown Moodle user, a Slack 404) fails it at once with the reason; a
  recipient with no Zulip account gets the fallback channel, recorded.
- Every send leaves one `message.sent` audit record for its delivery.

The session's fake providers are shared with other tests: nothing here resets them; a test finds its
own messages by the provider message id the delivery log holds, and clears any fault it injects.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc
import jwt
import nats
import pytest
from learnflow.notify.v1 import events_pb2, resources_pb2
from learnflow.notify.v1 import notify_service_pb2 as pb
from learnflow.notify.v1 import notify_service_pb2_grpc as pb_grpc

from services.notify.fakes.client import FakesClient
from services.runtime.testing import bearer, login, new_student, rest

STATUS = resources_pb2.DeliveryStatus
SENT = resources_pb2.DELIVERY_STATUS_SENT
READ = resources_pb2.DELIVERY_STATUS_READ
FAILED = resources_pb2.DELIVERY_STATUS_FAILED
MOODLE_SEND = "core_message_send_instant_messages"
SCRIPT = "<script>alert('x')</script>"

T = TypeVar("T")


def until(predicate: Callable[[], T | None], timeout: float = 20.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached within {timeout} s")


@pytest.fixture(scope="module")
def stub(mesh) -> Iterator[pb_grpc.NotifyServiceStub]:
    with grpc.insecure_channel(mesh.grpc_addr) as channel:
        yield pb_grpc.NotifyServiceStub(channel)


@pytest.fixture(scope="module")
def teacher(mesh) -> str:
    return login(mesh, "teacher@demo.test")


@pytest.fixture(scope="module")
def admin(mesh) -> str:
    return login(mesh, "admin@demo.test")


@pytest.fixture(scope="module")
def providers(mesh) -> FakesClient:
    assert mesh.providers is not None, "the session mesh runs the local provider servers"
    return FakesClient(mesh.providers.url)


@pytest.fixture(scope="module")
def demo_student(mesh) -> str:
    """The demo tenant's student (who has an account on the local Moodle and Zulip from the start):
    their user id, the subject of their own access token."""
    token = login(mesh, "student@demo.test")
    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


@pytest.fixture(scope="module")
def intervention(stub, admin) -> str:
    """An intervention-style template of the demo tenant, put by its admin."""
    name = f"intervention-{uuid.uuid4().hex[:6]}"
    saved = stub.PutTemplate(
        pb.PutTemplateRequest(
            template=resources_pb2.Template(
                name=name,
                subject="Checking in about {{ course }}",
                body=(
                    "Hi {{ student_name }}, we noticed {{ task }} in {{ course }} is not submitted yet. "
                    "Reply here if you would like help."
                ),
            )
        ),
        metadata=bearer(admin),
        timeout=10,
    )
    assert saved.version == 1
    return name


class Events:
    """notify.delivery.* as published on NATS, collected by a thread of its own from before the test
    sends anything: (subject, delivery id) pairs."""

    def __init__(self, url: str):
        self.url = url
        self.seen: list[tuple[str, str]] = []
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        nc = await nats.connect(self.url)
        try:

            async def on(msg: Any) -> None:
                kind = msg.subject.rsplit(".", 1)[-1]
                event = {
                    "sent": events_pb2.DeliverySent,
                    "failed": events_pb2.DeliveryFailed,
                    "read": events_pb2.DeliveryRead,
                }[kind].FromString(msg.data)
                self.seen.append((msg.subject, event.delivery.id))

            await nc.subscribe("notify.delivery.*", cb=on)
            await nc.flush()
            self._ready.set()
            await self._stop.wait()
        finally:
            await nc.close()

    def __enter__(self) -> Events:
        self._thread.start()
        assert self._ready.wait(10), "could not subscribe to NATS"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def wait_for(self, subject: str, delivery_id: str) -> None:
        until(lambda: (subject, delivery_id) in self.seen, what=f"{subject} for {delivery_id}")


@contextlib.contextmanager
def fault(providers: FakesClient, provider: str, **spec: Any) -> Iterator[None]:
    providers.fault(provider, **spec)
    try:
        yield
    finally:
        providers.clear_fault(provider)


def send_rest(mesh, token: str, **message: Any) -> dict[str, Any]:
    sent = rest(mesh, "POST", "/v1/notify/messages:send", message, token=token)
    assert sent.status == 200, sent.body
    return dict(sent.body)


def variables(**values: str) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in values.items()]


def get(stub, token: str, delivery_id: str) -> resources_pb2.Delivery:
    return stub.GetDelivery(
        pb.GetDeliveryRequest(delivery_id=delivery_id), metadata=bearer(token), timeout=10
    )


def reaches(
    stub, token: str, delivery_id: str, *statuses: int, timeout: float = 20.0
) -> resources_pb2.Delivery:
    def check() -> resources_pb2.Delivery | None:
        d = get(stub, token, delivery_id)
        return d if d.status in statuses else None

    try:
        return until(check, timeout, what=f"delivery {delivery_id} in {[STATUS.Name(s) for s in statuses]}")
    except AssertionError:
        d = get(stub, token, delivery_id)
        raise AssertionError(
            f"delivery {delivery_id} is {STATUS.Name(d.status)} after {timeout} s: {d.last_error!r} {d.notes}"
        ) from None


def received(providers: FakesClient, provider: str, message_id: str) -> list[dict[str, Any]]:
    """What the provider received under this id (email: the Message-ID), and anything it received as a
    duplicate of it."""
    if provider == "email":
        return [m for m in providers.messages(provider) if m["meta"].get("message_id") == message_id]
    return [m for m in providers.messages(provider) if message_id in (m["id"], m["duplicate_of"])]


def provider_user(providers: FakesClient, provider: str, email: str) -> int:
    users = providers.state()["providers"][provider]["users"]
    return int(next(u["id"] for u in users if u["email"] == email))


def moodle_failures(providers: FakesClient) -> int:
    return int(providers.state()["providers"]["moodle"]["failed"].get(MOODLE_SEND, 0))


def audited_once(mesh, admin: str, delivery_id: str) -> dict[str, Any]:
    """The one `message.sent` record of the delivery in the tenant's audit trail (recorded in the
    send's transaction, consumed by audit from NATS: it may take a moment to show)."""

    def records() -> list[dict[str, Any]] | None:
        got = rest(mesh, "GET", f"/v1/audit/records?resource=deliveries/{delivery_id}", token=admin)
        assert got.status == 200, got.body
        return got.body.get("records") or None

    found = until(records, what=f"the audit record of {delivery_id}")
    time.sleep(0.3)  # a second record would have been staged with the first: give it the same chance
    found = records() or []
    assert [r["action"] for r in found] == ["message.sent"], found
    return found[0]


def test_a_message_to_the_student_lands_in_moodle_escaped_is_read_and_the_log_shows_it_read(
    mesh, stub, admin, teacher, providers, demo_student, intervention
):
    with Events(mesh.nats_url) as events:
        sent = send_rest(
            mesh,
            teacher,
            channel="moodle",
            recipientId=demo_student,
            template=intervention,
            variables=variables(student_name=f"Ada {SCRIPT}", task="Loops & lists", course="Python 1"),
            urgency="URGENCY_HIGH",
            idempotencyKey=f"moodle-{uuid.uuid4()}",
        )
        delivery_id = sent["id"]
        d = reaches(stub, teacher, delivery_id, SENT, READ)
        assert d.attempts == 1 and d.provider_message_id and d.channel == "moodle"
        assert d.address == str(provider_user(providers, "moodle", "student@demo.test"))

        [message] = received(providers, "moodle", d.provider_message_id)
        assert message["to"] == d.address and message["duplicate_of"] is None
        assert message["meta"].get("clientmsgid"), message  # the delivery's idempotency key went along
        text = message["text"]
        # Rendered from the template, every variable in place, and HTML-escaped for Moodle.
        assert "we noticed Loops &amp; lists in Python 1 is not submitted yet" in text, text
        assert "&lt;script&gt;" in text and "<script>" not in text, text
        events.wait_for("notify.delivery.sent", delivery_id)

        providers.mark_read("moodle", d.provider_message_id)
        d = reaches(stub, teacher, delivery_id, READ)
        assert d.read_time.seconds > 0 and "read" in [n.kind for n in d.notes]
        listed = stub.ListDeliveries(
            pb.ListDeliveriesRequest(recipient_id=demo_student, channel="moodle", status=READ, page_size=200),
            metadata=bearer(admin),
            timeout=10,
        ).deliveries
        assert delivery_id in [x.id for x in listed]
        events.wait_for("notify.delivery.read", delivery_id)
    record = audited_once(mesh, admin, delivery_id)
    assert record["after"]["channel"] == "moodle" and record["after"]["template"] == intervention
    assert record["after"]["recipient_id"] == demo_student and "body" not in record["after"]


def test_the_same_with_zulip_and_its_read_receipts(
    mesh, stub, admin, teacher, providers, demo_student, intervention
):
    with Events(mesh.nats_url) as events:
        reply = stub.SendMessage(
            pb.SendMessageRequest(
                message=pb.MessageSpec(
                    channel="zulip",
                    recipient_id=demo_student,
                    template=intervention,
                    variables=[
                        pb.Variable(name="student_name", value="Ada"),
                        pb.Variable(name="task", value="Recursion"),
                        pb.Variable(name="course", value="Python 2"),
                    ],
                    idempotency_key=f"zulip-{uuid.uuid4()}",
                )
            ),
            metadata=bearer(teacher),
            timeout=10,
        )
        d = reaches(stub, teacher, reply.id, SENT, READ)
        assert d.attempts == 1 and d.channel == "zulip"
        assert d.address == str(provider_user(providers, "zulip", "student@demo.test"))
        [message] = received(providers, "zulip", d.provider_message_id)
        assert message["to"] == d.address
        assert "we noticed Recursion in Python 2 is not submitted yet" in message["text"], message

        providers.mark_read("zulip", d.provider_message_id)
        d = reaches(stub, teacher, reply.id, READ)
        assert d.read_time.seconds > 0
        events.wait_for("notify.delivery.read", reply.id)
    audited_once(mesh, admin, reply.id)


def test_the_same_by_email_which_has_no_read_receipts(
    mesh, stub, admin, teacher, providers, demo_student, intervention
):
    sent = send_rest(
        mesh,
        teacher,
        channel="email",
        recipientId=demo_student,
        template=intervention,
        variables=variables(student_name="Ada", task="Sorting", course="Python 3"),
    )
    d = reaches(stub, teacher, sent["id"], SENT)
    assert d.address == "student@demo.test" and d.attempts == 1
    [message] = received(providers, "email", d.provider_message_id)
    assert message["to"] == "student@demo.test" and message["subject"] == "Checking in about Python 3"
    assert "we noticed Sorting in Python 3 is not submitted yet" in message["text"], message
    assert message["meta"]["tls"] is True  # the local relay offers STARTTLS and notify takes it
    # Read polls come every 0.3 s under test: none may turn an email "read" (SMTP tells nobody).
    time.sleep(1.5)
    d = get(stub, teacher, sent["id"])
    assert d.status == SENT and not d.read_time.seconds
    audited_once(mesh, admin, sent["id"])


def test_a_moodle_outage_delays_the_message_and_never_loses_or_repeats_it(
    mesh, stub, admin, teacher, providers, demo_student, intervention
):
    failed_before = moodle_failures(providers)
    # Two 503s with Retry-After (Moodle's maintenance answer: not taken, so the channel's in-line
    # retry spends both: the engine's attempt 1 fails and is retried after its backoff), then a 429
    # asking for 1 s (waited in-line by attempt 2), then Moodle is back. (A 503 without Retry-After
    # may follow the work: an unknown outcome, tests/notify/channels and test_notify_engine.py.)
    outage = {
        "status": 503,
        "count": 2,
        "retry_after": 0.2,
        "operations": [MOODLE_SEND],
        "then": {"status": 429, "count": 1, "retry_after": 1, "operations": [MOODLE_SEND]},
    }
    with fault(providers, "moodle", **outage):
        started = time.monotonic()
        sent = send_rest(
            mesh,
            teacher,
            channel="moodle",
            recipientId=demo_student,
            template=intervention,
            variables=variables(student_name="Ada", task="Graphs", course="Python 4"),
            idempotencyKey=f"outage-{uuid.uuid4()}",
        )
        d = reaches(stub, teacher, sent["id"], SENT, READ, timeout=20)
    assert time.monotonic() - started >= 0.9  # the 429's Retry-After was waited for
    state = providers.state()["providers"]["moodle"]
    assert state["failed"][MOODLE_SEND] - failed_before == 3, state  # two 503s and the 429 answered
    assert 2 <= d.attempts <= 3, d.attempts  # the engine's attempts (each may call twice in-line)
    retries = [n.reason for n in d.notes if n.kind == "retry"]
    assert retries and "HTTP 503" in retries[0], d.notes
    assert d.attempts == len(retries) + 1  # every failed attempt recorded, then the one that sent
    # One message in Moodle, no duplicate of it.
    [message] = received(providers, "moodle", d.provider_message_id)
    assert message["duplicate_of"] is None and "we noticed Graphs" in message["text"]
    audited_once(mesh, admin, sent["id"])


@pytest.mark.parametrize("case", ["moodle-unknown-user", "slack-404"])
def test_a_terminal_error_fails_the_delivery_at_once_with_the_reason(
    mesh, stub, teacher, providers, demo_student, intervention, case
):
    provider, spec, reason = {
        # Moodle answers 200 with msgid -1 and the reason for that message.
        "moodle-unknown-user": (
            "moodle",
            {"count": 1, "errormessage": "The user does not exist"},
            "does not exist",
        ),
        "slack-404": ("slack", {"status": 404, "count": 1}, "404"),
    }[case]
    with Events(mesh.nats_url) as events, fault(providers, provider, **spec):
        sent = send_rest(
            mesh,
            teacher,
            channel=provider,
            recipientId=demo_student,
            template=intervention,
            variables=variables(student_name="Ada", task="Trees", course="Python 5"),
        )
        d = reaches(stub, teacher, sent["id"], FAILED)
        events.wait_for("notify.delivery.failed", sent["id"])
    assert d.attempts == 1 and reason in d.last_error, (d.attempts, d.last_error)
    assert "failed" in [n.kind for n in d.notes] or reason in str(d.notes), d.notes
    assert not d.provider_message_id


def test_a_student_without_a_zulip_account_gets_the_fallback_channel_recorded(
    mesh, stub, admin, teacher, providers, intervention
):
    student = new_student(mesh)  # on Moodle and Zulip nobody made them an account
    sent = send_rest(
        mesh,
        teacher,
        channel="zulip",
        recipientId=student["id"],
        template=intervention,
        variables=variables(student_name="Bo", task="Sets", course="Python 6"),
    )
    d = reaches(stub, teacher, sent["id"], SENT)
    assert (d.requested_channel, d.channel, d.address) == ("zulip", "in_app", student["id"])
    [note] = [n for n in d.notes if n.kind == "fallback"]
    assert "no zulip account" in note.reason, note
    inbox = rest(mesh, "GET", "/v1/notify/inbox", token=student["token"]).body["messages"]
    assert [m["id"] for m in inbox] == [sent["id"]] and "we noticed Sets" in inbox[0]["body"]
    assert not [m for m in providers.messages("zulip") if "we noticed Sets" in m["text"]]
    audited_once(mesh, admin, sent["id"])
