"""progress on the real mesh: activity intake (RPC and events), mastery, classes, and struggle
alerts that reach the teacher through REST — once per episode."""

import asyncio
import time
import uuid

import grpc
import nats
import pytest
from learnflow.progress.v1 import events_pb2, resources_pb2
from learnflow.progress.v1 import progress_service_pb2 as pb
from learnflow.progress.v1 import progress_service_pb2_grpc as pb_grpc

from services.runtime.testing import bearer, login, new_student, rest
from services.sandbox.engine import BubblewrapSandbox


def _me(mesh, token):
    return rest(mesh, "GET", "/v1/users/me", token=token).body["id"]


@pytest.fixture(scope="module")
def people(mesh):
    """A fresh student (so earlier tests' runs do not count) in a class of the demo teacher, which the
    tenant's admin creates (teachers do not put students in classes: docs/progress-model.md)."""
    made = new_student(mesh)
    teacher = login(mesh, "teacher@demo.test")
    teacher_id = _me(mesh, teacher)
    klass = rest(
        mesh,
        "POST",
        "/v1/classes",
        {"name": "Python 1", "teacherIds": [teacher_id], "studentIds": [made["id"]]},
        token=login(mesh, "admin@demo.test"),
    )
    assert klass.status == 200, klass.body
    return {
        "student": made["token"],
        "student_id": made["id"],
        "teacher": teacher,
        "class_id": klass.body["id"],
        "teacher_id": teacher_id,
    }


def _alerts(mesh, token, student_id):
    reply = rest(mesh, "GET", f"/v1/struggleAlerts?studentId={student_id}", token=token)
    assert reply.status == 200, reply.body
    return reply.body.get("alerts", [])


def _wait(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached")


@pytest.mark.skipif(
    BubblewrapSandbox.unavailable_reason() is not None, reason="sandbox isolation unavailable"
)
def test_three_name_errors_in_ten_minutes_make_exactly_one_alert_the_teacher_lists(mesh, people):
    async def watch():
        nc = await nats.connect(mesh.nats_url)
        sub = await nc.subscribe("struggle.detected")
        try:
            return await sub.next_msg(timeout=30)
        finally:
            await nc.close()

    async def main():
        watcher = asyncio.create_task(watch())
        await asyncio.sleep(0.2)
        for program in ("print(x)", "total = 1\nprint(totl)", "print(undefined_name)"):
            run = await asyncio.to_thread(
                rest, mesh, "POST", "/v1/executions", {"code": program}, people["student"]
            )
            assert run.body["diagnosis"]["exceptionType"] == "NameError"
        return await watcher

    msg = asyncio.run(main())
    event = events_pb2.StruggleDetected.FromString(msg.data)
    assert event.alert.rule == "repeated_error" and event.alert.key == "NameError"
    assert event.alert.student_id == people["student_id"]
    assert list(event.teacher_ids) == [people["teacher_id"]]

    alerts = _wait(lambda: _alerts(mesh, people["teacher"], people["student_id"]))
    assert len(alerts) == 1
    assert alerts[0]["rule"] == "repeated_error" and alerts[0]["key"] == "NameError"
    assert "NameError" in alerts[0]["explanation"] and alerts[0]["state"] == "ALERT_STATE_OPEN"

    # A fourth NameError while the episode is open: still one alert.
    rest(mesh, "POST", "/v1/executions", {"code": "print(nope)"}, token=people["student"])
    progress = _wait(
        lambda: (
            (
                p := rest(
                    mesh, "GET", f"/v1/students/{people['student_id']}/progress", token=people["teacher"]
                ).body
            )
            and len(p.get("recentActivity", [])) >= 4
            and p
        )
    )
    assert progress["openAlerts"] == 1
    assert len(_alerts(mesh, people["teacher"], people["student_id"])) == 1

    # The teacher acknowledges, then resolves; the class summary follows.
    alert_id = alerts[0]["id"]
    acked = rest(mesh, "POST", f"/v1/struggleAlerts/{alert_id}:acknowledge", {}, token=people["teacher"])
    assert acked.status == 200 and acked.body["state"] == "ALERT_STATE_ACKNOWLEDGED"
    summary = rest(mesh, "GET", f"/v1/classes/{people['class_id']}/summaries", token=people["teacher"]).body
    assert summary["summaries"][0]["studentId"] == people["student_id"]
    assert summary["summaries"][0]["openAlerts"] == 1
    resolved = rest(mesh, "POST", f"/v1/struggleAlerts/{alert_id}:resolve", {}, token=people["teacher"])
    assert resolved.status == 200 and resolved.body["state"] == "ALERT_STATE_RESOLVED"
    assert _alerts(mesh, people["teacher"], people["student_id"]) == []
    again = rest(mesh, "POST", f"/v1/struggleAlerts/{alert_id}:resolve", {}, token=people["teacher"])
    assert again.status == 400  # FAILED_PRECONDITION: already resolved


def test_record_activity_is_idempotent_and_updates_mastery(mesh, people):
    with grpc.insecure_channel(mesh.grpc_addr) as ch:
        stub = pb_grpc.ProgressServiceStub(ch)
        activity = resources_pb2.Activity(
            id=f"quiz-{uuid.uuid4().hex[:8]}",
            topic="loops",
            kind=resources_pb2.ACTIVITY_KIND_QUIZ_SUBMISSION,
            score=1.0,
        )
        first = stub.RecordActivity(
            pb.RecordActivityRequest(activity=activity), metadata=bearer(people["student"])
        )
        again = stub.RecordActivity(
            pb.RecordActivityRequest(activity=activity), metadata=bearer(people["student"])
        )
        assert first.applied and not again.applied
        assert first.mastery.topic == "loops" and first.mastery.score == pytest.approx(1.0)
        mine = stub.GetProgress(pb.GetProgressRequest(student_id="me"), metadata=bearer(people["student"]))
        loops = next(t for t in mine.topics if t.topic == "loops")
        assert loops.score == pytest.approx(1.0) and loops.attempts == 1
        assert mine.streak.current_days == 1


def test_bad_activities_and_other_peoples_progress_are_refused(mesh, people):
    with grpc.insecure_channel(mesh.grpc_addr) as ch:
        stub = pb_grpc.ProgressServiceStub(ch)
        with pytest.raises(grpc.RpcError) as err:
            stub.RecordActivity(
                pb.RecordActivityRequest(
                    activity=resources_pb2.Activity(
                        id="x", kind=resources_pb2.ACTIVITY_KIND_QUIZ_SUBMISSION, score=float("nan")
                    )
                ),
                metadata=bearer(people["student"]),
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as err:
            stub.RecordActivity(
                pb.RecordActivityRequest(
                    activity=resources_pb2.Activity(
                        id="y", student_id="someone-else", kind=resources_pb2.ACTIVITY_KIND_CONTENT_VIEW
                    )
                ),
                metadata=bearer(people["student"]),
            )
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        other = login(mesh, "student@demo.test")
        with pytest.raises(grpc.RpcError) as err:
            stub.GetProgress(pb.GetProgressRequest(student_id=people["student_id"]), metadata=bearer(other))
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_activities_published_on_progress_events_are_applied_once(mesh, people):
    activity = resources_pb2.Activity(
        id=f"ev-{uuid.uuid4().hex[:8]}",
        student_id=people["student_id"],
        topic="functions",
        kind=resources_pb2.ACTIVITY_KIND_EXERCISE_ATTEMPT,
        score=0.5,
    )

    async def publish_twice():
        nc = await nats.connect(mesh.nats_url)
        js = nc.jetstream()
        tenant = await asyncio.to_thread(
            lambda: rest(mesh, "GET", "/v1/users/me", token=people["student"]).body["tenantId"]
        )
        for _ in range(2):  # the same activity id twice, as two different messages
            await js.publish(
                "progress.events",
                events_pb2.ActivityRecorded(activity=activity).SerializeToString(),
                headers={
                    "ce-id": uuid.uuid4().hex,
                    "ce-type": "learnflow.progress.v1.ActivityRecorded",
                    "learnflow-tenant": tenant,
                },
            )
        await nc.close()

    asyncio.run(publish_twice())
    progress = _wait(
        lambda: next(
            (
                t
                for t in rest(mesh, "GET", "/v1/students/me/progress", token=people["student"]).body.get(
                    "topics", []
                )
                if t["topic"] == "functions"
            ),
            None,
        )
    )
    time.sleep(0.5)
    progress = next(
        t
        for t in rest(mesh, "GET", "/v1/students/me/progress", token=people["student"]).body["topics"]
        if t["topic"] == "functions"
    )
    assert progress["attempts"] == 1


def test_progress_survives_a_restart_of_the_service(mesh, people):
    with grpc.insecure_channel(mesh.grpc_addr) as ch:
        pb_grpc.ProgressServiceStub(ch).RecordActivity(
            pb.RecordActivityRequest(
                activity=resources_pb2.Activity(
                    id=f"persist-{uuid.uuid4().hex[:8]}",
                    topic="recursion",
                    kind=resources_pb2.ACTIVITY_KIND_CODE_REVIEW,
                    score=0.75,
                )
            ),
            metadata=bearer(people["student"]),
        )
    mesh.stop_server()
    mesh.start_server()
    with grpc.insecure_channel(mesh.grpc_addr) as ch:
        mine = pb_grpc.ProgressServiceStub(ch).GetProgress(
            pb.GetProgressRequest(student_id="me"), metadata=bearer(people["student"])
        )
    recursion = next(t for t in mine.topics if t.topic == "recursion")
    assert recursion.score == pytest.approx(0.75) and recursion.evidence == pytest.approx(0.5)
    assert any(a.topic == "recursion" for a in mine.recent_activity)
