"""Struggle episodes end without a teacher: the student's own progress clears them, the periodic check
opens activity-drop episodes, and the quiet period closes what nobody did (docs/progress-model.md)."""

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import grpc
from learnflow.identity.v1 import identity_service_pb2 as id_pb
from learnflow.identity.v1 import identity_service_pb2_grpc as id_grpc
from learnflow.identity.v1 import resources_pb2 as id_resources
from learnflow.progress.v1 import progress_service_pb2 as pb
from learnflow.progress.v1 import progress_service_pb2_grpc as pb_grpc
from learnflow.progress.v1 import resources_pb2

from services.progress.checks import PeriodicChecks
from services.progress.domain.struggle import RuleSettings, StruggleDetector
from services.runtime.db import Database
from services.runtime.events.outbox import Outbox
from services.runtime.testing import bearer, login, new_student, rest

OPEN, RESOLVED = "ALERT_STATE_OPEN", "ALERT_STATE_RESOLVED"


def _record(mesh, token, *activities):
    with grpc.insecure_channel(mesh.grpc_addr) as ch:
        stub = pb_grpc.ProgressServiceStub(ch)
        for fields in activities:
            at = fields.pop("at", None)
            a = resources_pb2.Activity(id=uuid.uuid4().hex, **fields)
            if at is not None:
                a.occur_time.FromDatetime(at)
            stub.RecordActivity(pb.RecordActivityRequest(activity=a), metadata=bearer(token))


def _alerts(mesh, token, student_id, state=""):
    query = f"studentId={student_id}" + (f"&state={state}" if state else "")
    reply = rest(mesh, "GET", f"/v1/struggleAlerts?{query}", token=token)
    assert reply.status == 200, reply.body
    # (rule, key, resolution): "" while not resolved, else e.g. "STUDENT_PROGRESS"
    return [
        (
            a["rule"],
            a["key"],
            a.get("resolution", "").removeprefix("ALERT_RESOLUTION_").replace("UNSPECIFIED", ""),
        )
        for a in reply.body.get("alerts", [])
    ]


NAME_ERROR = {
    "kind": resources_pb2.ACTIVITY_KIND_CODE_RUN,
    "verdict": "RUNTIME_ERROR",
    "exception_type": "NameError",
}


def test_a_run_that_works_clears_repeated_errors_and_proficiency_clears_wheel_spinning(mesh):
    admin = login(mesh, "admin@demo.test")
    made = new_student(mesh, admin_token=admin)
    student_id, student = made["id"], made["token"]

    _record(mesh, student, NAME_ERROR, NAME_ERROR, NAME_ERROR)
    assert _alerts(mesh, admin, student_id) == [("repeated_error", "NameError", "")]
    _record(mesh, student, {"kind": resources_pb2.ACTIVITY_KIND_CODE_RUN, "verdict": "OK"})
    assert _alerts(mesh, admin, student_id) == []
    assert _alerts(mesh, admin, student_id, RESOLVED) == [("repeated_error", "NameError", "STUDENT_PROGRESS")]
    _record(mesh, student, NAME_ERROR, NAME_ERROR, NAME_ERROR)  # fresh evidence: a new episode
    assert _alerts(mesh, admin, student_id) == [("repeated_error", "NameError", "")]

    # Ten graded attempts at 50% three months ago: wheel-spinning. A perfect quiz ten days ago (the
    # old evidence has faded to 8 * 0.5 ** (80 / 14) = 0.152): score (0.076 + 1) / 1.152 = 0.934 with
    # a graded success and a weight over 1 — proficient, which ends the episode.
    long_ago = datetime.now(UTC) - timedelta(days=90)
    attempt = {"kind": resources_pb2.ACTIVITY_KIND_EXERCISE_ATTEMPT, "topic": "loops", "score": 0.5}
    _record(mesh, student, *({**attempt, "at": long_ago + timedelta(minutes=m)} for m in range(10)))
    assert ("wheel_spinning", "loops", "") in _alerts(mesh, admin, student_id)
    quiz = {"kind": resources_pb2.ACTIVITY_KIND_QUIZ_SUBMISSION, "topic": "loops", "score": 1.0}
    recent = datetime.now(UTC) - timedelta(days=10)
    _record(mesh, student, {**quiz, "at": recent}, {**quiz, "at": recent + timedelta(minutes=1)})
    assert ("wheel_spinning", "loops", "STUDENT_PROGRESS") in _alerts(mesh, admin, student_id, RESOLVED)
    progress = rest(mesh, "GET", f"/v1/students/{student_id}/progress", token=admin).body
    assert next(t for t in progress["topics"] if t["topic"] == "loops")["level"] == "MASTERY_LEVEL_PROFICIENT"
    assert progress["openAlerts"] == 1  # the second repeated_error episode


def test_the_periodic_check_alerts_an_activity_drop_and_coming_back_clears_it(mesh):
    """The mesh runs the checks every second in the tests (PROGRESS_CHECK_INTERVAL_SECONDS)."""
    admin = login(mesh, "admin@demo.test")
    made = new_student(mesh, admin_token=admin)
    student_id, student = made["id"], made["token"]
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    view = {"kind": resources_pb2.ACTIVITY_KIND_CONTENT_VIEW}
    _record(mesh, student, *({**view, "at": today - timedelta(days=d)} for d in (10, 9, 8)))
    last = (today - timedelta(days=8)).date().isoformat()

    deadline = time.monotonic() + 20
    found: list = []
    while not found and time.monotonic() < deadline:
        found = [a for a in _alerts(mesh, admin, student_id) if a[0] == "activity_drop"]
        time.sleep(0.2)
    assert found == [("activity_drop", last, "")]
    reply = rest(mesh, "GET", f"/v1/struggleAlerts?studentId={student_id}", token=admin).body["alerts"][0]
    assert "No activity for 7 days" in reply["explanation"]

    _record(mesh, student, view)  # back today: the drop is over
    assert _alerts(mesh, admin, student_id) == []
    assert _alerts(mesh, admin, student_id, RESOLVED) == [("activity_drop", last, "STUDENT_PROGRESS")]


def test_an_episode_open_for_the_quiet_period_expires(mesh):
    """The check with an injected clock, on a tenant of its own: a week and a day from now."""
    slug = f"quiet-{uuid.uuid4().hex[:6]}"
    with grpc.insecure_channel(mesh.grpc_addr) as ch:
        tenant = id_grpc.IdentityServiceStub(ch).CreateTenant(
            id_pb.CreateTenantRequest(
                tenant=id_resources.Tenant(slug=slug, display_name="Quiet"),
                admin_email="head@quiet.test",
                admin_password="quiet-password",
            ),
            metadata=bearer(login(mesh, "operator@demo.test")),
        )
    admin = login(mesh, "head@quiet.test", "quiet-password", tenant=slug)
    made = new_student(mesh, admin_token=admin, tenant=slug)
    student_id, student = made["id"], made["token"]
    _record(mesh, student, NAME_ERROR, NAME_ERROR, NAME_ERROR)
    assert _alerts(mesh, admin, student_id) == [("repeated_error", "NameError", "")]

    async def check(now):
        db = Database(mesh.database_url, pool_size=1)
        try:
            return await PeriodicChecks(
                db, Outbox("progress", "progress"), StruggleDetector(RuleSettings())
            ).run(now, tenants=[tenant.id])
        finally:
            await db.dispose()

    assert asyncio.run(check(datetime.now(UTC) + timedelta(days=6))) == 0  # not yet
    assert _alerts(mesh, admin, student_id) == [("repeated_error", "NameError", "")]
    assert asyncio.run(check(datetime.now(UTC) + timedelta(days=8))) == 1
    assert _alerts(mesh, admin, student_id) == []
    assert _alerts(mesh, admin, student_id, RESOLVED) == [("repeated_error", "NameError", "QUIET_PERIOD")]
    progress = rest(mesh, "GET", f"/v1/students/{student_id}/progress", token=admin).body
    assert progress.get("openAlerts", 0) == 0
    _record(mesh, student, NAME_ERROR, NAME_ERROR, NAME_ERROR)  # still stuck: alerted again
    assert _alerts(mesh, admin, student_id) == [("repeated_error", "NameError", "")]
