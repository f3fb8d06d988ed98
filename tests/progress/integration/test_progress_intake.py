"""The set-based intake on the real mesh: a batch applied at once gives exactly the rows that the same
activities give one event at a time, and a consumer's batch with a bad event still applies the rest
(the bad one is dead-lettered)."""

import asyncio
import time
import types
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import nats
from learnflow.ops.v1 import operations_service_pb2 as ops_pb
from learnflow.ops.v1 import operations_service_pb2_grpc as ops_grpc
from learnflow.progress.v1 import events_pb2
from learnflow.progress.v1 import resources_pb2 as pb
from sqlalchemy import text

from services.progress.app import build
from services.runtime.contexts import Dependencies
from services.runtime.db import Database
from services.runtime.events.envelope import Event
from services.runtime.events.outbox import Outbox
from services.runtime.testing import bearer, login, rest

RUN_ERROR = {"kind": pb.ACTIVITY_KIND_CODE_RUN, "verdict": "RUNTIME_ERROR", "exception_type": "NameError"}


def _sequence(student: str, start: datetime) -> list[pb.Activity]:
    """Two days of a student's work that exercises every model: mastery of three topics, a streak
    over three local days (and one activity arriving late), and every rule but activity_drop —
    detected, kept to one alert per episode, cleared by the student's own progress and detected again."""
    steps: list[tuple[float, dict]] = [
        *((m, RUN_ERROR | {"exercise_id": "e1"}) for m in (0, 1, 2)),  # repeated_error opens
        (3, {"kind": pb.ACTIVITY_KIND_CODE_RUN, "verdict": "OK", "exercise_id": "e1"}),  # ...and clears
        *((m, RUN_ERROR) for m in (4, 5, 6, 6.5)),  # opens again; the fourth is the same episode
        (7, {"kind": pb.ACTIVITY_KIND_CODE_RUN, "verdict": "TIMED_OUT", "exercise_id": "e2"}),
        (8, {"kind": pb.ACTIVITY_KIND_EXERCISE_ATTEMPT, "exercise_id": "e2", "topic": "loops", "score": 0.4}),
        (9, {"kind": pb.ACTIVITY_KIND_QUIZ_SUBMISSION, "quiz_id": "q1", "topic": "loops", "score": 0.3}),
        *(
            (10 + m, {"kind": pb.ACTIVITY_KIND_EXERCISE_ATTEMPT, "topic": "loops", "score": 0.5})
            for m in range(9)
        ),
        (1440, {"kind": pb.ACTIVITY_KIND_QUIZ_SUBMISSION, "quiz_id": "q1", "topic": "loops", "score": 1.0}),
        (1441, {"kind": pb.ACTIVITY_KIND_HINT_REQUEST, "topic": "recursion"}),
        (1442, {"kind": pb.ACTIVITY_KIND_CODE_REVIEW, "topic": "recursion", "score": 0.8}),
        (1443, {"kind": pb.ACTIVITY_KIND_TIME_ON_TASK, "duration_seconds": 600}),
        (1444, {"kind": pb.ACTIVITY_KIND_CONTENT_VIEW}),
        *(
            (2870 + m, {"kind": pb.ACTIVITY_KIND_QUIZ_SUBMISSION, "topic": "functions", "score": 1.0})
            for m in (0, 1)
        ),
        (2872, {"kind": pb.ACTIVITY_KIND_EXERCISE_ATTEMPT, "topic": "functions", "score": 1.0}),
        (30, {"kind": pb.ACTIVITY_KIND_QUIZ_SUBMISSION, "topic": "functions", "score": 0.9}),  # late
    ]
    activities = []
    for n, (minutes, fields) in enumerate(steps):
        a = pb.Activity(id=f"{student}-{n}", student_id=student, **fields)
        a.occur_time.FromDatetime(start + timedelta(minutes=minutes))
        activities.append(a)
    return [*activities, activities[5]]  # and one activity delivered twice


def _events(activities: list[pb.Activity], tenant: str) -> list[Event]:
    return [
        Event(
            id=uuid.uuid4().hex,
            type="learnflow.progress.v1.ActivityRecorded",
            subject="progress.events",
            source="test",
            time="",
            tenant_id=tenant,
            correlation_id="",
            message=events_pb2.ActivityRecorded(activity=a),
        )
        for a in activities
    ]


_ROWS = {
    "mastery": "SELECT topic, score, evidence, level, attempts, state, updated_at FROM progress.mastery "
    "WHERE student_id = :s ORDER BY topic",
    "student": "SELECT time_zone, streak, struggle, topics, mastery_sum, mean_mastery, topics_mastered, "
    "open_alerts, risk, last_active_at FROM progress.students WHERE student_id = :s",
    "alerts": "SELECT rule, key, explanation, severity, state, resolution FROM progress.struggle_alerts "
    "WHERE student_id = :s ORDER BY rule, key, state",
    "activities": "SELECT count(*) FROM progress.activities WHERE student_id = :s",
}


async def _rows(db: Database, tenant: str, student: str) -> dict[str, list[dict]]:
    async with db.transaction(tenant) as session:
        return {
            name: [dict(r._mapping) for r in await session.execute(text(sql), {"s": student})]
            for name, sql in _ROWS.items()
        }


def test_a_batch_gives_the_same_rows_as_one_event_at_a_time(mesh):
    tenant = rest(mesh, "GET", "/v1/users/me", token=login(mesh, "student@demo.test")).body["tenantId"]
    one_by_one, batched = f"single-{uuid.uuid4().hex[:6]}", f"batch-{uuid.uuid4().hex[:6]}"
    # Noon three days ago: every activity is in the past and the three active days are whole UTC days.
    start = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=3)

    async def main():
        db = Database(mesh.database_url, pool_size=2)
        try:
            deps = Dependencies(
                settings=types.SimpleNamespace(env={}), db=db, outbox=Outbox("progress", "progress")
            )
            spec = next(c for c in (await build(deps)).consumers if c.name == "progress-activities")
            assert spec.batch_handler is not None
            for event in _events(_sequence(one_by_one, start), tenant):  # the per-event path
                async with db.transaction(tenant) as session:
                    await spec.handler(event, session)
            async with db.transaction(tenant) as session:  # the set-based path: one batch
                await spec.batch_handler(_events(_sequence(batched, start), tenant), session)
            return await _rows(db, tenant, one_by_one), await _rows(db, tenant, batched)
        finally:
            await db.dispose()

    single, batch = asyncio.run(main())
    floats = ("mastery_sum", "mean_mastery", "risk")  # sums kept per event vs per batch: rounding only
    for row in (*single["student"], *batch["student"]):
        for name in floats:
            row[name] = round(row[name], 9)
    assert single == batch

    # And the rows are what the sequence should give.
    assert single["activities"] == [{"count": 29}]
    assert [(m["topic"], m["level"], m["attempts"]) for m in single["mastery"]] == [
        ("functions", "PROFICIENT", 4),
        ("loops", "ATTEMPTED", 12),
        ("recursion", "FAMILIAR", 0),
    ]
    assert single["student"][0]["streak"]["current"] == 3
    assert [(a["rule"], a["key"], a["state"], a["resolution"]) for a in single["alerts"]] == [
        ("exercise_timeout", "e2", "resolved", "student_progress"),
        ("failed_quiz", "q1", "resolved", "student_progress"),
        ("repeated_error", "NameError", "open", None),
        ("repeated_error", "NameError", "resolved", "student_progress"),
        ("wheel_spinning", "loops", "open", None),
    ]
    assert single["student"][0]["open_alerts"] == 2


def test_a_bad_event_in_a_batch_is_dead_lettered_and_the_rest_applied(mesh):
    student = login(mesh, "student@demo.test")
    me = rest(mesh, "GET", "/v1/users/me", token=student).body
    topic = f"batch-{uuid.uuid4().hex[:6]}"
    good = [
        pb.Activity(
            id=f"{topic}-{n}",
            student_id=me["id"],
            topic=topic,
            kind=pb.ACTIVITY_KIND_EXERCISE_ATTEMPT,
            score=0.5,
        )
        for n in range(20)
    ]
    bad = pb.Activity(id=f"{topic}-bad", student_id=me["id"], topic=topic)  # no kind: deterministic error

    async def publish():
        nc = await nats.connect(mesh.nats_url)
        js = nc.jetstream()
        await asyncio.gather(
            *(
                js.publish(
                    "progress.events",
                    events_pb2.ActivityRecorded(activity=a).SerializeToString(),
                    headers={
                        "ce-id": f"ev-{a.id}",
                        "ce-type": "learnflow.progress.v1.ActivityRecorded",
                        "learnflow-tenant": me["tenantId"],
                    },
                )
                for a in [*good[:10], bad, *good[10:]]
            )
        )
        await nc.close()

    asyncio.run(publish())
    operator = login(mesh, "operator@demo.test")
    deadline = time.monotonic() + 20
    attempts, dead = 0, []
    with grpc.insecure_channel(mesh.grpc_addr) as ch:
        ops = ops_grpc.OperationsServiceStub(ch)
        while time.monotonic() < deadline and (attempts < 20 or not dead):
            topics = rest(mesh, "GET", "/v1/students/me/progress", token=student).body.get("topics", [])
            attempts = next((t["attempts"] for t in topics if t["topic"] == topic), 0)
            letters = ops.ListDeadLetters(
                ops_pb.ListDeadLettersRequest(context="progress", page_size=200), metadata=bearer(operator)
            ).dead_letters
            dead = [d for d in letters if d.event_id == f"ev-{bad.id}"]
            time.sleep(0.1)
    assert attempts == 20
    assert len(dead) == 1 and "has no kind" in dead[0].reason and dead[0].deliveries == 1
