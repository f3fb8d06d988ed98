"""The whole flow on a mesh of its own with the local providers (seed 004's event flow): an attempt
written in the LMS → the events listed through REST, linked to the LearnFlow student, processed_for_ai
false until an export batch is acknowledged → the mentor's DM, formatted as the seed shows, accepted
by the local Zulip server even after a 429 → a mentor without a LearnFlow account logged unsent →
the exam result in progress → `learnflow serve` SIGKILLed in the middle of a burst of attempts and
started again: every event once, none missing (the monitor is the singleton poll of the activity
context, docs/activity.md)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime

import psycopg
import pytest

from services.activity.domain import SOURCES, LmsAttempt, decide, event_id
from services.notify.fakes.client import FakesClient
from services.runtime.testing import login, rest, running_mesh

LMS = "lms"
NOW = datetime.now(UTC)


def _until(predicate, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached in {timeout} s")


@pytest.fixture(scope="module")
def world():
    with running_mesh(
        LEARNFLOW_LOCAL_PROVIDERS="true",
        LEARNFLOW_DEMO_LMS="true",
        LMS_LINK_CACHE_SECONDS="1",
        LMS_ACTIVITY_POLL_INTERVAL="0.3",
        LMS_ACTIVITY_SETTLE_LAG_SECONDS="0.1",
        LMS_ACTIVITY_OVERLAP_SECONDS="2",
        NOTIFY_RETRY_BASE_SECONDS="0.2",
    ) as mesh:
        # The embedded mesh made the demo LMS and started the monitor (local/lms.py start_demo_lms), as
        # `learnflow up` does.
        assert mesh.demo_lms is not None
        yield mesh, mesh.demo_lms, login(mesh, "admin@demo.test")


def _events(mesh, token, **query) -> list[dict]:
    found, page = [], ""
    while True:
        q = "&".join(f"{k}={v}" for k, v in {**query, "pageSize": 200, "pageToken": page}.items() if v != "")
        got = rest(mesh, "GET", f"/v1/activity/events?{q}", token=token)
        assert got.status == 200, got.body
        found += got.body.get("events", [])
        page = got.body.get("nextPageToken", "")
        if not page:
            return found


def test_an_exam_reaches_the_mentor_the_event_list_the_export_and_progress(world):
    mesh, urls, admin = world
    fakes = FakesClient(mesh.providers.url)
    fakes.fault("zulip", status=429, count=1, retry_after=1)
    with psycopg.connect(urls.owner_conninfo, autocommit=True) as lms:
        lms.execute(
            "INSERT INTO attempts (student_id, exam_id, state, percentage, score, started_at, finished_at)"
            " VALUES (1, 1, 'passed', 72.5, 7.25, now() - interval '5 minutes 3 seconds', now())"
        )
        # Alan is mentored by the demo teacher and by a mentor with no LearnFlow account.
        lms.execute("INSERT INTO contentattempts (student_id, content_id, state) VALUES (3, 2, 'started')")

    dm = (
        "🎓 Student **Demo Student** just completed **Python Basics Quiz** - Score: 72.5%, Result: Pass\n"
        "- Time taken: 5m 3s\n"
        "- Course: Python 1 > Chapter 1: Variables"
    )
    texts = _until(
        lambda: [m for m in fakes.messages("zulip") if m["text"] == dm],
        30,
        "the mentor's DM in the local Zulip",
    )
    assert len(texts) == 1

    events = _until(lambda: len(_events(mesh, admin)) == 4 and _events(mesh, admin), what="4 events")
    student = [e for e in events if e["studentId"] == "1"]
    assert [e["eventType"] for e in student] == ["exam_started", "exam_completed", "exam_passed"]
    demo_student = login(mesh, "student@demo.test")
    me = rest(mesh, "GET", "/v1/users/me", token=demo_student).body
    assert {e["userId"] for e in student} == {me["id"]}
    assert not any(e.get("processedForAi") for e in events)
    assert student[2]["statement"]["verb"]["id"] == "http://adlnet.gov/expapi/verbs/passed"

    # The notification log: the demo teacher's DMs sent; the mentor without an account not, and why.
    def alans_log():
        (alan,) = _events(mesh, admin, studentId=3)
        return alan.get("notifications")

    logged = _until(alans_log, what="the notification log of Alan's event")
    by_mentor = {n["mentorId"]: n for n in logged}
    assert by_mentor["1"]["sent"] and by_mentor["1"]["messageId"]
    assert (
        not by_mentor["2"].get("sent")
        and "no LearnFlow user mentor-nozulip@lms.test" in by_mentor["2"]["error"]
    )

    # The AI export: a lease, its ack, then processed_for_ai.
    lease = rest(mesh, "POST", "/v1/activity/exports", {"batchSize": 100, "leaseSeconds": 60}, token=admin)
    assert lease.status == 200 and len(lease.body["events"]) == 4
    acked = rest(mesh, "POST", f"/v1/activity/exports/{lease.body['leaseId']}:ack", {}, token=admin)
    assert acked.status == 200 and acked.body["acknowledged"] == "4"
    assert all(e["processedForAi"] for e in _events(mesh, admin))
    bad = rest(mesh, "POST", "/v1/activity/exports/not-a-uuid:ack", {}, token=admin)
    assert bad.status == 400

    # progress counted the exam result as a quiz submission of the demo student.
    progress = _until(
        lambda: (
            (p := rest(mesh, "GET", "/v1/students/me/progress", token=demo_student).body)
            and any(a["id"].startswith("lms:") for a in p.get("recentActivity", []))
            and p
        ),
        what="the exam in progress",
    )
    assert progress

    status = rest(mesh, "GET", "/v1/activity/monitor", token=admin)
    assert status.status == 200 and status.body["enabled"] and status.body["lateCommitGuard"]
    assert status.body["eventsByType"]["exam_passed"] == "1"


def test_a_sigkilled_serve_in_the_middle_of_a_burst_loses_and_repeats_nothing(world):
    mesh, urls, admin = world
    before = {e["eventId"] for e in _events(mesh, admin)}
    with psycopg.connect(urls.owner_conninfo, autocommit=True) as lms:
        for i in range(120):
            lms.execute(
                "INSERT INTO attempts (student_id, exam_id, state, percentage) VALUES (%s, %s, %s, 50)",
                (2 + i % 3, 1 + i % 3, ("started", "completed", "failed", "passed")[i % 4]),
            )
            if i == 60:
                os.killpg(mesh.server.pid, signal.SIGKILL)
                mesh.server.wait()
                mesh.server = None
        mesh.start_server()
    want = set()
    with psycopg.connect(urls.owner_conninfo) as lms:
        for source in SOURCES:
            for attempt_id, state in lms.execute(f"SELECT id, state FROM {source}"):
                row = LmsAttempt(
                    source,
                    attempt_id,
                    state,
                    NOW,
                    student_id=1,
                    student_name="s",
                    activity_id=1,
                    activity_title="t",
                )
                want |= {event_id(LMS, source, attempt_id, s) for s in decide(row, "").emit}
    got = _until(lambda: (e := _events(mesh, admin)) and len(e) >= len(want) and e, 30, "every event")
    ids = [e["eventId"] for e in got]
    assert Counter(ids).most_common(1)[0][1] == 1
    assert set(ids) == want and before <= want


def test_learnflow_lms_simulate_writes_attempts_the_monitor_turns_into_events(world):
    mesh, urls, admin = world
    before = len(_events(mesh, admin))
    argv = [sys.executable, "-m", "services.runtime.cli", "lms", "simulate", "--attempts", "3"]
    argv += ["--pause", "0.05", "--seed", "7", "--lms-url", urls.owner]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    ended = json.loads(done.stdout)["final_states"]
    assert sum(ended.values()) == 3
    # Every simulated attempt ends in a final state: 3 events per exam, 2 per content attempt.
    exams = ended.get("passed", 0) + ended.get("failed", 0)
    want = before + 3 * exams + 2 * (3 - exams)
    _until(lambda: len(_events(mesh, admin)) == want, what=f"{want} events")


def test_a_mentor_without_a_zulip_account_gets_notifys_fallback(world):
    mesh, _, admin = world
    made = rest(
        mesh,
        "POST",
        "/v1/users",
        {
            "user": {"email": "mentor-nozulip@lms.test", "roles": ["ROLE_TEACHER"]},
            "password": "mentor-pass-15",
        },
        token=admin,
    )
    assert made.status == 200, made.body
    time.sleep(1.2)  # the email linker reloads for an unknown email at most every LMS_LINK_CACHE_SECONDS
    with psycopg.connect(world[1].owner_conninfo, autocommit=True) as lms:
        (attempt,) = lms.execute(
            "INSERT INTO contentattempts (student_id, content_id, state)"
            " VALUES (4, 3, 'started') RETURNING id"
        ).fetchone()

    def logged():
        found = [
            e
            for e in _events(mesh, admin, studentId=4, eventType="content_started")
            if e["source"] == "contentattempts" and e["attemptId"] == str(attempt)
        ]
        return len(found) == 1 and len(found[0].get("notifications", [])) == 2 and found[0]["notifications"]

    by_mentor = {n["mentorId"]: n for n in _until(logged, what="Grace's notification log")}
    assert by_mentor["1"]["sent"] and by_mentor["2"]["sent"], by_mentor
    # notify found no Zulip account for the second mentor and sent it on its fallback channel.
    delivery = _until(
        lambda: (
            (d := rest(mesh, "GET", f"/v1/notify/deliveries/{by_mentor['2']['messageId']}", token=admin).body)
            and d.get("status") == "DELIVERY_STATUS_SENT"
            and d
        ),
        what="the fallback delivery",
    )
    assert (delivery["requestedChannel"], delivery["channel"]) == ("zulip", "in_app")
