"""progress: event intake throughput, struggle detection latency, and a class summary query.

    .venv/bin/python -m bench.progress [--events 30000 --struggle-seconds 10]

Starts its own mesh (identity, sandbox, progress). Targets (issue #4):
- intake: >= 2,000 activity events/s sustained through JetStream into PostgreSQL;
- an error event published -> StruggleAlert stored and struggle.detected published: p95 <= 50 ms at
  200 events/s;
- ListClassSummaries for a class of 200 students x 30 topics: p95 <= 30 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import sys
import time
import uuid

import grpc
import nats
import psycopg
from learnflow.auth.v1 import auth_pb2
from learnflow.identity.v1 import identity_service_pb2 as id_pb
from learnflow.identity.v1 import identity_service_pb2_grpc as id_grpc
from learnflow.identity.v1 import resources_pb2 as id_resources
from learnflow.progress.v1 import events_pb2, resources_pb2
from learnflow.progress.v1 import progress_service_pb2 as pb
from learnflow.progress.v1 import progress_service_pb2_grpc as pb_grpc

from bench.common import Figures, check, closed_loop, figures, percentile, report, with_bare
from bench.common import run as bench_run
from services.runtime.testing import bearer, login, mesh_dir, new_mesh

STUDENTS, TOPICS = 200, 30


def _headers(tenant: str) -> dict[str, str]:
    return {
        "ce-id": uuid.uuid4().hex,
        "ce-type": "learnflow.progress.v1.ActivityRecorded",
        "learnflow-tenant": tenant,
    }


async def intake(mesh, tenant: str, count: int, students: list[str]) -> Figures:
    nc = await nats.connect(mesh.nats_url)
    js = nc.jetstream()
    payloads = []
    for i in range(count):
        a = resources_pb2.Activity(
            id=f"bench-{i}",
            student_id=students[i % STUDENTS],
            topic=f"topic-{(i // STUDENTS) % TOPICS:02d}",
            kind=resources_pb2.ACTIVITY_KIND_EXERCISE_ATTEMPT,
            score=(i % 10) / 10,
        )
        payloads.append(events_pb2.ActivityRecorded(activity=a).SerializeToString())
    began = time.monotonic()
    for start in range(0, count, 256):  # pipelined publishing, 256 acks in flight
        await asyncio.gather(
            *(
                js.publish("progress.events", p, headers=_headers(tenant))
                for p in payloads[start : start + 256]
            )
        )
    published = time.monotonic() - began
    while True:
        info = await js.consumer_info("PROGRESS", "progress-activities")
        if info.num_pending == 0 and info.num_ack_pending == 0:
            break
        await asyncio.sleep(0.05)
    elapsed = time.monotonic() - began
    await nc.close()
    applied = await asyncio.to_thread(_count_activities, mesh, "bench-%")
    sys.stderr.write(
        f"intake: published {count} in {published:.2f}s, {applied} applied after {elapsed:.2f}s\n"
    )
    return Figures(
        "intake progress.events -> Postgres",
        1,
        count,
        count - applied,
        elapsed,
        float("nan"),
        float("nan"),
        count / elapsed,
    )


async def struggle(mesh, tenant: str, seconds: float, rate: float) -> Figures:
    nc = await nats.connect(mesh.nats_url)
    js = nc.jetstream()
    sent_third: dict[str, float] = {}
    latencies: list[float] = []
    done = asyncio.Event()
    interval = 1 / rate
    n = int(seconds * rate)
    expected = n // 3  # every third error of a student opens an alert

    async def on_alert(msg) -> None:
        alert = events_pb2.StruggleDetected.FromString(msg.data).alert
        if alert.student_id in sent_third:
            latencies.append(time.monotonic() - sent_third.pop(alert.student_id))
            # Done when ALL the alerts came, not when the ones published so far did: a service that
            # keeps up is caught up between two thirds, and stopping then lost the last alert
            # (the "1 of 666 not observed" of an earlier run).
            if len(latencies) >= expected:
                done.set()

    await nc.subscribe("struggle.detected", cb=on_alert)
    run_id = uuid.uuid4().hex[:6]
    began = time.monotonic()
    for i in range(n):
        student, nth = f"struggler-{run_id}-{i // 3}", i % 3
        a = resources_pb2.Activity(
            id=f"err-{run_id}-{i}",
            student_id=student,
            kind=resources_pb2.ACTIVITY_KIND_CODE_RUN,
            verdict="RUNTIME_ERROR",
            exception_type="NameError",
        )
        if nth == 2:  # the clock starts when the third error is published (before its ack returns)
            sent_third[student] = time.monotonic()
        await js.publish(
            "progress.events",
            events_pb2.ActivityRecorded(activity=a).SerializeToString(),
            headers=_headers(tenant),
        )
        await asyncio.sleep(max(0.0, began + (i + 1) * interval - time.monotonic()))
    with contextlib.suppress(TimeoutError):  # what has not arrived by then counts as an error
        await asyncio.wait_for(done.wait(), 30)
    await nc.close()
    if sent_third:
        await asyncio.to_thread(_explain_missing, mesh, sorted(sent_third))
    return _p95(
        figures(
            f"error -> struggle.detected @{rate:.0f}/s",
            1,
            latencies,
            expected - len(latencies),
            time.monotonic() - began,
        ),
        latencies,
    )


def _superuser(mesh) -> psycopg.Connection:
    """The bench checks what reached the database as the superuser (no row-level security)."""
    return psycopg.connect(mesh.migration_url.replace("postgresql+psycopg://", "postgresql://"))


def _count_activities(mesh, id_pattern: str) -> int:
    with _superuser(mesh) as db:
        row = db.execute(
            "SELECT count(*) FROM progress.activities WHERE id LIKE %s", (id_pattern,)
        ).fetchone()
    return int(row[0])


def _explain_missing(mesh, students: list[str]) -> None:
    """What the database says about the students whose alert was not observed (superuser: no RLS)."""
    with _superuser(mesh) as db:
        for student in students:
            activities = db.execute(
                "SELECT id, occurred_at, created_at FROM progress.activities WHERE student_id = %s "
                "ORDER BY occurred_at",
                (student,),
            ).fetchall()
            alerts = db.execute(
                "SELECT id, state, created_at, resolution FROM progress.struggle_alerts "
                "WHERE student_id = %s",
                (student,),
            ).fetchall()
            state = db.execute(
                "SELECT struggle FROM progress.students WHERE student_id = %s", (student,)
            ).fetchall()
            sys.stderr.write(
                f"not observed: {student}\n  activities {activities}\n  alerts {alerts}\n  state {state}\n"
            )


def _p95(result: Figures, latencies: list[float]) -> Figures:
    """These targets are p95s: report the p95 in the p99 column, and say so in the name."""
    result.p99_ms = percentile(latencies, 0.95) * 1000
    result.name += " (p95)"
    return result


async def _students(mesh, admin: str) -> list[str]:
    """STUDENTS real students of the tenant: a class holds only users identity knows as students
    (docs/progress-model.md, "Classes"). Made by the admin, a few at a time (each hashes a password)."""
    gate = asyncio.Semaphore(8)
    async with grpc.aio.insecure_channel(mesh.grpc_addr) as channel:
        stub = id_grpc.IdentityServiceStub(channel)

        async def make(i: int) -> str:
            async with gate:
                user = await stub.CreateUser(
                    id_pb.CreateUserRequest(
                        user=id_resources.User(
                            email=f"bench-{i:03d}-{uuid.uuid4().hex[:6]}@demo.test",
                            roles=[auth_pb2.ROLE_STUDENT],
                        ),
                        password=uuid.uuid4().hex,
                    ),
                    metadata=bearer(admin),
                    timeout=30,
                )
                return str(user.id)

        return list(await asyncio.gather(*(make(i) for i in range(STUDENTS))))


async def summaries(mesh, duration: float, students: list[str]) -> Figures:
    teacher = login(mesh, "teacher@demo.test")
    admin = login(mesh, "admin@demo.test")
    async with grpc.aio.insecure_channel(mesh.grpc_addr) as channel:
        stub = pb_grpc.ProgressServiceStub(channel)
        teacher_id = json.loads(base64.urlsafe_b64decode(teacher.split(".")[1] + "=="))["sub"]
        # The admin gives the teacher the class; teachers do not put students in classes themselves.
        klass = await stub.CreateClass(
            pb.CreateClassRequest(
                **{
                    "class": resources_pb2.StudentClass(
                        name="bench", teacher_ids=[teacher_id], student_ids=students
                    )
                }
            ),
            metadata=bearer(admin),
        )
        request = pb.ListClassSummariesRequest(class_id=klass.id, page_size=200)

        def make(_: int):
            async def call() -> bool:
                reply = await stub.ListClassSummaries(request, metadata=bearer(teacher), timeout=10)
                return len(reply.summaries) == STUDENTS

            return call

        lat, err, secs = await closed_loop(make, 1, duration)
    return _p95(figures("ListClassSummaries 200 students", 1, lat, err, secs), lat)


async def measure(mesh, events: int, struggle_seconds: float) -> list[Figures]:
    token = login(mesh, "student@demo.test")
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    tenant = claims["tid"]
    students = await _students(mesh, login(mesh, "admin@demo.test"))
    results = [check(await intake(mesh, tenant, events, students), throughput=2000)]
    paced = await struggle(mesh, tenant, struggle_seconds, 200)
    paced.paced = True  # 200 errors/s, set by the benchmark
    results.append(check(paced, p99_ms=50))
    results.append(check(await summaries(mesh, 5.0, students), p99_ms=30))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    # 5 activities per (student, topic): long enough to be sustained (~10 s), and most update a row.
    parser.add_argument("--events", type=int, default=5 * STUDENTS * TOPICS)
    parser.add_argument("--struggle-seconds", type=float, default=10.0)
    args = parser.parse_args()
    mesh = new_mesh(mesh_dir("learnflow-bench-"), LOG_LEVEL="WARNING")
    sys.stderr.write("starting the mesh...\n")
    try:  # a failed start still stops what it started
        mesh.start_infra()
        mesh.start_server(contexts="identity,sandbox,progress")
        results = bench_run(with_bare(measure(mesh, args.events, args.struggle_seconds)))
    finally:
        mesh.stop()
    report("progress", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
