"""Events through the outbox and JetStream to a durable consumer: applied exactly once when the
consumer is killed mid-message, when the relay republishes after a crash, and when a duplicate is
redelivered; poison messages end as dead letters an operator can list."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import grpc
import nats
import psycopg
import pytest
from learnflow.auth.v1 import auth_pb2
from learnflow.identity.v1 import events_pb2 as identity_events
from learnflow.identity.v1 import identity_service_pb2 as pb
from learnflow.identity.v1 import identity_service_pb2_grpc as pb_grpc
from learnflow.identity.v1 import resources_pb2
from learnflow.ops.v1 import operations_service_pb2 as ops_pb
from learnflow.ops.v1 import operations_service_pb2_grpc as ops_grpc

from services.runtime.events.envelope import build_headers
from services.runtime.testing import bearer, login

HERE = Path(__file__).parent


def _pg(mesh):
    return psycopg.connect(
        mesh.migration_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    )


@pytest.fixture(scope="module")
def applied_table(mesh):
    with _pg(mesh) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS public.applied_events "
            "(consumer text, event_id text, email text, event_tenant text, scoped_to text, tx text)"
        )
        conn.execute("GRANT SELECT, INSERT ON public.applied_events TO learnflow_app")


class Consumer:
    def __init__(self, mesh, name, tmp_path, **env):
        self.log = tmp_path / f"{name}-{uuid.uuid4().hex[:4]}.log"
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "event_consumer.py")],
            env={
                **os.environ,
                "DATABASE_URL": mesh.database_url,
                "NATS_URL": mesh.nats_url,
                "CONSUMER": name,
                "PYTHONPATH": str(HERE.parents[2]),
                **env,
            },
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_for("ready")

    def wait_for(self, text, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log.read_text():
                return
            assert self.proc.poll() is None, self.log.read_text()
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not seen in consumer log:\n{self.log.read_text()}")

    def kill(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def _applied(mesh, consumer, email):
    with _pg(mesh) as conn:
        return conn.execute(
            "SELECT event_id FROM public.applied_events WHERE consumer = %s AND email = %s", (consumer, email)
        ).fetchall()


def _wait_applied(mesh, consumer, email, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = _applied(mesh, consumer, email)
        if rows:
            return rows
        time.sleep(0.05)
    raise AssertionError(f"{email} never applied by {consumer}")


def _create_user(mesh, admin, email):
    with grpc.insecure_channel(mesh.grpc_addr) as ch:
        return pb_grpc.IdentityServiceStub(ch).CreateUser(
            pb.CreateUserRequest(
                user=resources_pb2.User(email=email, roles=[auth_pb2.ROLE_STUDENT]),
                password="a-long-password",
            ),
            metadata=bearer(admin),
        )


def _last_created_event(mesh):
    async def fetch():
        nc = await nats.connect(mesh.nats_url)
        try:
            msg = await nc.jetstream().get_last_msg("IDENTITY", "identity.user.created")
            return msg.data, dict(msg.headers)
        finally:
            await nc.close()

    return asyncio.run(fetch())


def test_killed_consumer_redelivery_and_duplicates_apply_once(mesh, applied_table, tmp_path):
    admin = login(mesh, "admin@demo.test")
    name = f"test-{uuid.uuid4().hex[:8]}"
    slow = f"slow-{uuid.uuid4().hex[:6]}@demo.test"
    first = Consumer(mesh, name, tmp_path, SLOW_EMAIL=slow)
    try:
        _create_user(mesh, admin, slow)
        first.wait_for(f"{slow}")  # the handler wrote its row and is sleeping inside the transaction
        first.kill()
    finally:
        first.stop()
    assert _applied(mesh, name, slow) == []  # the killed transaction never committed

    second = Consumer(mesh, name, tmp_path)
    try:
        rows = _wait_applied(mesh, name, slow, timeout=30)  # redelivered after ack_wait (2 s)
        assert len(rows) == 1
        event_id = rows[0][0]

        # 1. The relay crashed after publishing but before deleting its row: the row goes out again with
        #    the same Nats-Msg-Id, and JetStream drops it as a duplicate.
        data, headers = _last_created_event(mesh)
        assert headers["ce-id"] == event_id
        with _pg(mesh) as conn:
            conn.execute(
                "INSERT INTO identity.outbox (event_id, subject, event_type, payload, headers) "
                "VALUES (%s, 'identity.user.created', %s, %s, %s)",
                (event_id, headers["ce-type"], data, json.dumps(headers)),
            )

        # 2. A redelivery after the consumer committed but before it acked: same ce-id, new message.
        async def redeliver():
            nc = await nats.connect(mesh.nats_url)
            await nc.jetstream().publish(
                "identity.user.created", data, headers={**headers, "Nats-Msg-Id": uuid.uuid4().hex}
            )
            await nc.close()

        asyncio.run(redeliver())
        # A fresh event after both: once it is applied, everything before it was handled (in order).
        marker = f"marker-{uuid.uuid4().hex[:6]}@demo.test"
        _create_user(mesh, admin, marker)
        _wait_applied(mesh, name, marker)
        assert len(_applied(mesh, name, slow)) == 1
        with _pg(mesh) as conn:
            assert (
                conn.execute(
                    "SELECT count(*) FROM identity.inbox WHERE consumer = %s AND event_id = %s",
                    (name, event_id),
                ).fetchone()[0]
                == 1
            )
            assert conn.execute("SELECT count(*) FROM identity.outbox").fetchone()[0] == 0
    finally:
        second.stop()


def test_relay_restart_publishes_what_committed_while_it_was_down(mesh, applied_table, tmp_path):
    name = f"test-{uuid.uuid4().hex[:8]}"
    consumer = Consumer(mesh, name, tmp_path)
    try:
        email = f"during-outage-{uuid.uuid4().hex[:6]}@demo.test"
        # Stop the whole server hard, then commit an event row the way a transaction would have.
        os.kill(mesh.server.pid, signal.SIGKILL)
        mesh.server.wait(10)
        user_msg = resources_pb2.User(id=str(uuid.uuid4()), email=email)
        from learnflow.identity.v1 import events_pb2

        event_id = str(uuid.uuid4())
        headers = {
            "ce-id": event_id,
            "ce-type": "learnflow.identity.v1.UserCreated",
            "ce-source": "identity",
            "ce-specversion": "1.0",
            "Nats-Msg-Id": event_id,
        }
        with _pg(mesh) as conn:
            conn.execute(
                "INSERT INTO identity.outbox (event_id, subject, event_type, payload, headers) "
                "VALUES (%s, 'identity.user.created', 'learnflow.identity.v1.UserCreated', %s, %s)",
                (event_id, events_pb2.UserCreated(user=user_msg).SerializeToString(), json.dumps(headers)),
            )
        mesh.start_server()
        rows = _wait_applied(mesh, name, email)
        assert rows == [(event_id,)]
    finally:
        consumer.stop()


def test_poison_message_is_dead_lettered_and_listed(mesh, applied_table, tmp_path):
    name = f"test-{uuid.uuid4().hex[:8]}"
    consumer = Consumer(mesh, name, tmp_path)
    try:

        async def publish_poison():
            nc = await nats.connect(mesh.nats_url)
            await nc.jetstream().publish(
                "identity.user.created",
                b"\xff\xfe not protobuf",
                headers={"ce-id": "poison-1", "ce-type": "learnflow.identity.v1.UserCreated"},
            )
            await nc.jetstream().publish(
                "identity.user.created", b"", headers={"ce-id": "poison-2", "ce-type": "no.such.Type"}
            )
            await nc.close()

        asyncio.run(publish_poison())
        operator = login(mesh, "operator@demo.test")
        deadline = time.monotonic() + 20
        found = []
        with grpc.insecure_channel(mesh.grpc_addr) as ch:
            stub = ops_grpc.OperationsServiceStub(ch)
            while time.monotonic() < deadline and len(found) < 2:
                reply = stub.ListDeadLetters(
                    ops_pb.ListDeadLettersRequest(context="identity", page_size=200),
                    metadata=bearer(operator),
                )
                found = [d for d in reply.dead_letters if d.consumer == name]
                time.sleep(0.1)
            assert {d.event_id for d in found} == {"poison-1", "poison-2"}
            assert all("undecodable" in d.reason for d in found)
            student = login(mesh, "student@demo.test")
            with pytest.raises(grpc.RpcError) as err:
                stub.ListDeadLetters(ops_pb.ListDeadLettersRequest(), metadata=bearer(student))
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        consumer.stop()


def test_a_rejected_event_in_a_batch_is_dead_lettered_and_the_rest_still_apply(mesh, applied_table, tmp_path):
    admin = login(mesh, "admin@demo.test")
    name = f"test-{uuid.uuid4().hex[:8]}"
    tag = uuid.uuid4().hex[:6]
    emails = [f"batch{i}-{tag}@demo.test" for i in range(4)]
    rejected = emails[2]
    first = Consumer(mesh, name, tmp_path)  # creates the durable consumer
    first.stop()
    for email in emails:  # published while no consumer runs: the next one fetches them as a batch
        _create_user(mesh, admin, email)
    consumer = Consumer(mesh, name, tmp_path, REJECT_EMAIL=rejected)
    try:
        for email in emails[:2] + emails[3:]:
            assert len(_wait_applied(mesh, name, email)) == 1
        operator = login(mesh, "operator@demo.test")
        with grpc.insecure_channel(mesh.grpc_addr) as ch:
            stub = ops_grpc.OperationsServiceStub(ch)
            deadline = time.monotonic() + 20
            letters = []
            while time.monotonic() < deadline and not letters:
                reply = stub.ListDeadLetters(
                    ops_pb.ListDeadLettersRequest(page_size=200), metadata=bearer(operator)
                )
                # (a new durable consumer starts at the stream's beginning: other tests' poison too)
                letters = [d for d in reply.dead_letters if d.consumer == name and rejected in d.reason]
                time.sleep(0.1)
        assert len(letters) == 1
        assert "INVALID_ARGUMENT" in letters[0].reason
        assert letters[0].deliveries == 1  # deterministic errors are not retried
        assert _applied(mesh, name, rejected) == []  # its write was rolled back with its savepoint
    finally:
        consumer.stop()


def test_events_a_consumer_does_not_want_are_acked_without_a_transaction(mesh, applied_table, tmp_path):
    """ConsumerSpec.wants: events of the subject the consumer has no business with (notify's outcomes
    of another context's messages) are acked as they arrive: no handler call, no inbox row, and no
    redelivery; the others apply as before, in the same batch."""
    admin = login(mesh, "admin@demo.test")
    name = f"test-{uuid.uuid4().hex[:8]}"
    tag = uuid.uuid4().hex[:6]
    wanted = [f"want{i}-{tag}@demo.test" for i in range(2)]
    unwanted = [f"skip{i}-{tag}@demo.test" for i in range(2)]
    first = Consumer(mesh, name, tmp_path)  # creates the durable consumer
    first.stop()
    for email in [unwanted[0], wanted[0], unwanted[1], wanted[1]]:  # one batch for the next consumer
        _create_user(mesh, admin, email)
    consumer = Consumer(mesh, name, tmp_path, IGNORE_PREFIX="skip", ACK_WAIT="1")
    try:
        for email in wanted:
            assert len(_wait_applied(mesh, name, email)) == 1
        time.sleep(2.5)  # past ack_wait: an unacked message would have come back by now
        log = consumer.log.read_text()
        with _pg(mesh) as conn:
            inbox, applied = conn.execute(
                "SELECT (SELECT count(*) FROM identity.inbox WHERE consumer = %(c)s), "
                "(SELECT count(*) FROM public.applied_events WHERE consumer = %(c)s)",
                {"c": name},
            ).fetchone()
        info = _consumer_info(mesh, name)
    finally:
        consumer.stop()
    assert all(_applied(mesh, name, email) == [] for email in unwanted)
    assert not any(email in log for email in unwanted)  # the handler never saw them
    # Every event applied has its inbox row and no other event has one. (A new durable consumer
    # starts at the stream's beginning: both processes also apply other tests' users.)
    assert inbox == applied
    # Past ack_wait with every delivery acked: an unwanted message left unacked would still be
    # pending (it comes back every second, up to max_deliver).
    assert info.num_ack_pending == 0 and info.num_pending == 0


def test_each_event_is_applied_scoped_to_its_own_tenant(mesh, applied_table, tmp_path):
    """Row-level security in a consumer: the handler's transaction is scoped to the event's tenant,
    for a batch of one tenant's events (whose transaction opens scoped to it) and for a batch mixing
    two tenants (scoped to each tenant's events in turn). The events go on a subject of their own, so
    no other consumer of the mesh sees the made-up tenant."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    tag = uuid.uuid4().hex[:6]
    subject = f"identity.tenancy-test.{tag}"
    demo, other = str(uuid.uuid4()), str(uuid.uuid4())  # tenants of this test's events only
    consumer = Consumer(mesh, name, tmp_path, FILTER=subject)
    try:
        _publish(mesh, subject, [(demo, f"solo-{tag}@demo.test")])  # a batch of its own: one tenant
        _wait_applied(mesh, name, f"solo-{tag}@demo.test")
        consumer.stop()
        # Three events of two tenants while it is stopped: the next start takes them as one batch.
        _publish(
            mesh,
            subject,
            [
                (demo, f"mixed0-{tag}@demo.test"),
                (other, f"mixed1-{tag}@demo.test"),
                (demo, f"mixed2-{tag}@demo.test"),
            ],
        )
        consumer = Consumer(mesh, name, tmp_path, FILTER=subject)
        _wait_applied(mesh, name, f"mixed2-{tag}@demo.test")
    finally:
        consumer.stop()
    with _pg(mesh) as conn:
        rows = conn.execute(
            "SELECT event_id, email, event_tenant, scoped_to FROM public.applied_events "
            "WHERE consumer = %s AND email LIKE %s",
            (name, f"%-{tag}@demo.test"),
        ).fetchall()
    tenants = {event_tenant for _, _, event_tenant, _ in rows}
    assert len(rows) == 4 and tenants == {demo, other}, rows
    assert all(scoped_to == event_tenant for _, _, event_tenant, scoped_to in rows), rows


def test_a_lingering_batch_takes_the_events_that_arrive_while_it_waits(mesh, applied_table, tmp_path):
    """ConsumerSpec.linger: a batch that is not full waits that long for more events, and applies
    what arrived meanwhile in the same transaction."""
    admin = login(mesh, "admin@demo.test")
    name = f"test-{uuid.uuid4().hex[:8]}"
    tag = uuid.uuid4().hex[:6]
    consumer = Consumer(mesh, name, tmp_path, LINGER="2")
    try:
        # A new durable consumer starts at the stream's beginning: other tests' users first.
        deadline = time.monotonic() + 30
        while (info := _consumer_info(mesh, name)).num_pending or info.num_ack_pending:
            assert time.monotonic() < deadline, info
            time.sleep(0.1)
        _create_user(mesh, admin, f"early-{tag}@demo.test")  # starts a batch of its own
        time.sleep(0.5)  # well inside the linger
        _create_user(mesh, admin, f"late-{tag}@demo.test")
        _wait_applied(mesh, name, f"late-{tag}@demo.test")
    finally:
        consumer.stop()
    with _pg(mesh) as conn:
        rows = conn.execute(
            "SELECT email, tx FROM public.applied_events WHERE consumer = %s AND email LIKE %s",
            (name, f"%-{tag}@demo.test"),
        ).fetchall()
    assert len(rows) == 2 and rows[0][1] == rows[1][1], rows  # one transaction for both


def _publish(mesh, subject, users):
    """identity.user.created events (tenant, email) on `subject`, as identity's relay would publish."""

    async def publish():
        nc = await nats.connect(mesh.nats_url)
        try:
            for tenant, email in users:
                event = identity_events.UserCreated(
                    user=resources_pb2.User(id=str(uuid.uuid4()), email=email, roles=[auth_pb2.ROLE_STUDENT])
                )
                headers = build_headers(event, source="identity", tenant_id=tenant)
                await nc.jetstream().publish(subject, event.SerializeToString(), headers=headers)
        finally:
            await nc.close()

    asyncio.run(publish())


def _consumer_info(mesh, name):
    async def fetch():
        nc = await nats.connect(mesh.nats_url)
        try:
            return await nc.jetstream().consumer_info("IDENTITY", name)
        finally:
            await nc.close()

    return asyncio.run(fetch())
