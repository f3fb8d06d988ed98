"""Exactly once under a killed worker, on a mesh of its own: `learnflow serve` is SIGKILLed while it
works through hundreds of in-app deliveries (and while more batches are still arriving); every
delivery still queued is then marked claimed by the dead process (as its runner would have left them:
running, an attempt counted, a lease), the server starts again, and every delivery it had accepted
arrives exactly once — sent with one attempt, one notify.delivery.sent event each, once in the
student's inbox."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed

import grpc
import nats
import psycopg
import pytest
from learnflow.notify.v1 import events_pb2, resources_pb2
from learnflow.notify.v1 import notify_service_pb2 as pb
from learnflow.notify.v1 import notify_service_pb2_grpc as pb_grpc

from services.runtime.testing import bearer, login, mesh_dir, new_mesh, new_student

# The server is killed as soon as KILL_AFTER batches were accepted, while the others are still arriving.
BATCHES, PER_BATCH, KILL_AFTER = 5, 100, 1


@pytest.fixture(scope="module")
def own_mesh():
    root = mesh_dir("learnflow-notify-crash-")
    m = new_mesh(root)
    try:
        m.start()
        yield m
    finally:
        m.stop()
        if not os.environ.get("LEARNFLOW_KEEP_TEST_DATA"):
            shutil.rmtree(root, ignore_errors=True)


def _sql(m, query: str, *params):
    url = m.postgres.superuser_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else cur.rowcount


def test_deliveries_claimed_by_a_killed_server_are_sent_exactly_once(own_mesh):
    m = own_mesh
    teacher = login(m, "teacher@demo.test")
    student = new_student(m, admin_token=login(m, "admin@demo.test"))
    name = f"crash-{uuid.uuid4().hex[:6]}"
    with grpc.insecure_channel(m.grpc_addr) as ch:
        stub = pb_grpc.NotifyServiceStub(ch)
        stub.PutTemplate(
            pb.PutTemplateRequest(template=resources_pb2.Template(name=name, body="message {{ n }}")),
            metadata=bearer(teacher),
            timeout=10,
        )

        def batch(b: int) -> list[str]:
            reply = stub.BatchSendMessages(
                pb.BatchSendMessagesRequest(
                    messages=[
                        pb.MessageSpec(
                            channel="in_app",
                            recipient_id=student["id"],
                            template=name,
                            variables=[pb.Variable(name="n", value=str(b * PER_BATCH + i))],
                        )
                        for i in range(PER_BATCH)
                    ]
                ),
                metadata=bearer(teacher),
                timeout=30,
            )
            return [d.id for d in reply.deliveries]

        # Killed mid-work, without a word, as soon as KILL_AFTER batches were accepted: the server
        # is then both delivering and accepting (on a fast machine, waiting for every batch left it
        # nothing to deliver). A batch cut off may or may not have committed; what counts is what the
        # database holds: each delivery it accepted must arrive exactly once.
        with ThreadPoolExecutor(BATCHES) as pool:
            futures = [pool.submit(batch, b) for b in range(BATCHES)]
            for done, _ in enumerate(as_completed(futures), start=1):
                if done == KILL_AFTER:
                    os.kill(m.server.pid, signal.SIGKILL)
                    break
    m.server.wait(10)
    m.server = None
    answered = [i for f in futures if f.exception() is None for i in f.result()]
    ids = [
        str(r[0]) for r in _sql(m, "SELECT id FROM notify.deliveries WHERE recipient_id = %s", student["id"])
    ]
    assert set(answered) <= set(ids) and len(ids) >= KILL_AFTER * PER_BATCH

    # What the dead runner had in hand stays 'running' until its lease expires; what it had not
    # claimed yet we mark claimed by it now, with a short lease, so the restart must take these over
    # through the reaper rather than by an ordinary claim.
    claimed = _sql(
        m,
        "UPDATE notify.jobs SET state = 'running', attempts = attempts + 1, "
        "lease_until = now() + interval '2 seconds' WHERE kind = 'notify-deliver' AND state = 'queued'",
    )
    # What it really held would be re-queued when its 60 s lease runs out; the process is dead, so
    # the lease ends now instead (what the reaper does with it is the same, a minute sooner).
    held = _sql(
        m,
        "UPDATE notify.jobs SET lease_until = now() + interval '2 seconds' "
        "WHERE kind = 'notify-deliver' AND state = 'running' AND lease_until > now() + interval '2 seconds'",
    )
    pending = _sql(
        m,
        "SELECT count(*) FROM notify.deliveries WHERE recipient_id = %s AND status = 'pending'",
        student["id"],
    )[0][0]
    # Jobs the dead process held, or left queued and now marked as held: either way only the reaper
    # gives them back.
    assert claimed + held > 0 and pending > 0, (
        f"the server finished everything before it was killed, nothing tested: {claimed=} {held=} {pending=}"
    )

    m.start_server()
    deadline = time.monotonic() + 60
    while True:
        rows = _sql(
            m,
            "SELECT status, attempts, count(*) FROM notify.deliveries WHERE recipient_id = %s "
            "GROUP BY status, attempts",
            student["id"],
        )
        if rows == [("sent", 1, len(ids))]:
            break
        assert time.monotonic() < deadline, rows
        time.sleep(0.5)

    async def sent_events() -> list[str]:
        nc = await nats.connect(m.nats_url)
        try:
            js = nc.jetstream()
            sub = await js.pull_subscribe("notify.delivery.sent", stream="NOTIFY")
            seen: list[str] = []
            while True:
                try:
                    msgs = await sub.fetch(500, timeout=2)
                except TimeoutError:  # nats.errors.TimeoutError, or asyncio's when the deadline ran out
                    return seen
                for msg in msgs:
                    seen.append(events_pb2.DeliverySent.FromString(msg.data).delivery.id)
                    await msg.ack()
        finally:
            await nc.close()

    ours = set(ids)
    deadline = time.monotonic() + 30
    while True:
        events = [e for e in asyncio.run(sent_events()) if e in ours]
        if len(set(events)) == len(ours) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert sorted(events) == sorted(ours)  # each once: none lost, none twice

    with grpc.insecure_channel(m.grpc_addr) as ch:
        stub = pb_grpc.NotifyServiceStub(ch)
        inbox: list[str] = []
        token = ""
        while True:
            page = stub.ListInAppMessages(
                pb.ListInAppMessagesRequest(page_size=200, page_token=token),
                metadata=bearer(student["token"]),
                timeout=10,
            )
            inbox += [msg.id for msg in page.messages]
            token = page.next_page_token
            if not token:
                break
    assert sorted(inbox) == sorted(ours)
