"""The seed's user stories end to end on a real mesh (PostgreSQL, NATS, Envoy, every context) with
notify's local Moodle server: a student's third NameError brings a review_concept message to their
Moodle inbox with the policy version and the reasons recorded; a fourth intervention on one day is
suppressed with its reason; a policy file saved in the watched folder is in force within a second,
an invalid edit keeps the last good one; activation, rollback and bad input through REST."""

from __future__ import annotations

import asyncio
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from learnflow.progress.v1 import events_pb2 as progress_events
from learnflow.progress.v1 import resources_pb2 as progress_pb

from services.notify.fakes.client import FakesClient
from services.runtime.events.envelope import build_headers
from services.runtime.local.mesh import LocalMesh
from services.runtime.testing import login, new_student, rest, running_mesh

POLICIES = Path(__file__).resolve().parents[3] / "policies"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("policies")
    for f in POLICIES.glob("*.md"):
        if f.name != "README.md":
            shutil.copy(f, path / f.name)
    return path


@pytest.fixture(scope="module")
def moodle_mesh(folder: Path) -> Iterator[LocalMesh]:
    with running_mesh(LEARNFLOW_LOCAL_PROVIDERS="true", INTERVENTIONS_POLICIES_DIR=str(folder)) as mesh:
        yield mesh


def wait(predicate: Callable[[], Any], timeout: float = 20.0, state: Callable[[], Any] = lambda: None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"condition not reached; {state()}")


def fakes(mesh: LocalMesh) -> FakesClient:
    assert mesh.providers is not None  # started with LEARNFLOW_LOCAL_PROVIDERS
    return FakesClient(mesh.providers.url)


def student_with_moodle(mesh: LocalMesh, name: str) -> tuple[dict[str, str], int]:
    made = new_student(mesh)
    moodle_id = fakes(mesh).add_user("moodle", made["email"], name)
    return made, moodle_id


def inbox(mesh: LocalMesh, email: str) -> list[dict[str, Any]]:
    """What the local Moodle server holds for the user with this email."""
    messages = fakes(mesh).messages("moodle")
    return [m for m in messages if m["meta"].get("to_email") == email]


def decisions(mesh: LocalMesh, token: str, student_id: str) -> list[dict[str, Any]]:
    reply = rest(mesh, "GET", f"/v1/interventions/decisions?studentId={student_id}", token=token)
    assert reply.status == 200, reply.body
    return list(reply.body.get("decisions", []))


def in_class(mesh: LocalMesh, name: str, teacher_id: str, *student_ids: str) -> None:
    """A class of progress (made by the admin) whose teacher teaches these students."""
    klass = rest(
        mesh,
        "POST",
        "/v1/classes",
        {"name": name, "teacherIds": [teacher_id], "studentIds": list(student_ids)},
        token=login(mesh, "admin@demo.test"),
    )
    assert klass.status == 200, klass.body


def test_a_third_name_error_brings_review_concept_to_the_moodle_inbox(moodle_mesh):
    mesh = moodle_mesh
    teacher = login(mesh, "teacher@demo.test")
    student, _ = student_with_moodle(mesh, "Ana Student")
    teacher_id = rest(mesh, "GET", "/v1/users/me", token=teacher).body["id"]
    in_class(mesh, "Python 1", teacher_id, student["id"])
    for _ in range(3):
        run = rest(
            mesh,
            "POST",
            "/v1/activities",
            {
                "id": f"run-{uuid.uuid4().hex[:8]}",
                "studentId": student["id"],
                "topic": "variables",
                "kind": "ACTIVITY_KIND_CODE_RUN",
                "verdict": "RUNTIME_ERROR",
                "exceptionType": "NameError",
            },
            token=student["token"],
        )
        assert run.status == 200, run.body
    (message,) = wait(
        lambda: inbox(mesh, student["email"]),
        timeout=60,
        state=lambda: (
            student["email"],
            [(m["meta"], m["text"][:40]) for m in fakes(mesh).messages("moodle")],
        ),
    )
    assert "run into NameError a few times" in message["text"]  # HTML-escaped by notify for Moodle

    def delivered() -> dict[str, Any] | None:
        found = [d for d in decisions(mesh, teacher, student["id"]) if d["intervention"] == "review_concept"]
        return found[0] if found and found[0].get("deliveryStatus") == "sent" else None

    review = wait(delivered)
    assert review["status"] == "sent" and review["policyVersion"] >= 1
    assert review["moodleMessageId"] == str(message["id"]) and review["deliveryAttempts"] == 1
    assert {"condition": "rule is repeated_error", "held": True, "value": "repeated_error"} in review["trace"]
    teachers = [d for d in decisions(mesh, teacher, student["id"]) if d["intervention"] == "teacher_alert"]
    assert teachers and teachers[0]["recipientIds"] == [teacher_id]


def test_a_fourth_intervention_on_one_day_is_suppressed_with_its_reason(moodle_mesh):
    """Signals of a producer (the admin here: Ben is in no class, so no teacher may act on him)."""
    mesh = moodle_mesh
    admin = login(mesh, "admin@demo.test")
    student, _ = student_with_moodle(mesh, "Ben Student")

    def signal(kind: str, at: str, **fields: Any) -> list[dict[str, Any]]:
        body = {
            "signal": {
                "studentId": student["id"],
                "kind": kind,
                "occurTime": f"2026-01-05T{at}:00Z",
                "timeZone": "Europe/Berlin",
                "studentName": "Ben",
                **fields,
            }
        }
        reply = rest(mesh, "POST", "/v1/interventions/signals:evaluate", body, token=admin)
        assert reply.status == 200, reply.body
        return list(reply.body.get("decisions", []))

    (calm,) = signal("work.session", "10:00", minutes=50)
    assert calm["status"] == "sent" and "working hard for 50 minutes" in calm["message"]
    assert signal("hint.requested", "10:01", topic="loops") == []
    assert signal("hint.requested", "10:02", topic="loops") == []
    ask, note = sorted(
        signal("hint.requested", "10:03", topic="loops", count=3), key=lambda d: not d.get("recipientIds")
    )
    assert ask["status"] == "sent" and ask["intervention"] == "ask_teacher"
    # Its note to the teachers the signal did not name: to be looked up in progress (no recipients
    # yet; not one of the student's interventions of the day).
    assert (note["intervention"], note["deliveryStatus"], note.get("recipientIds", [])) == (
        "ask_teacher",
        "pending",
        [],
    )
    assert {
        "condition": "at least 3 times with the same topic within 20 minutes",
        "held": True,
        "value": "3 times (topic loops)",
    } in ask["trace"]
    review, alert = signal(
        "struggle.detected", "10:05", rule="repeated_error", error="NameError", topic="loops"
    )
    assert (review["intervention"], review["status"]) == ("review_concept", "sent")
    # The teacher alert does not count toward the cap; without teachers named it reaches nobody.
    assert (alert["intervention"], alert["status"]) == ("teacher_alert", "suppressed")
    assert alert["reason"].startswith("no recipient")
    (fourth,) = signal("work.session", "14:00", minutes=60)
    assert fourth["status"] == "suppressed"
    assert fourth["reason"].startswith(
        "daily cap: 3 interventions already reached this student on 2026-01-05 (Europe/Berlin"
    )
    assert fourth["deliveryStatus"] == "not_sent"
    wait(lambda: len(inbox(mesh, student["email"])) == 3)
    time.sleep(0.5)
    assert len(inbox(mesh, student["email"])) == 3
    # progress knows no teacher of Ben (no class): the note reaches nobody, and says why.
    looked_up = wait(
        lambda: [
            d
            for d in decisions(mesh, admin, student["id"])
            if d["id"] == note["id"] and d["status"] != "sent"
        ]
    )
    assert looked_up[0]["reason"].startswith("no recipient: progress knows no teacher of the student")


def test_a_saved_file_is_in_force_within_a_second_and_an_invalid_edit_keeps_the_last_good(
    moodle_mesh, folder
):
    mesh = moodle_mesh
    teacher = login(mesh, "teacher@demo.test")

    def versions() -> list[dict[str, Any]]:
        reply = rest(mesh, "GET", "/v1/interventions/policyVersions?policyId=calm_break", token=teacher)
        assert reply.status == 200, reply.body
        return list(reply.body.get("versions", []))

    before = versions()[0]
    path = folder / "calm_break.md"
    path.write_text(path.read_text().replace("urgency: 40", "urgency: 45"))
    saved = time.monotonic()
    newest = wait(lambda: (v := versions()[0])["version"] > before["version"] and v, timeout=1.0)
    assert time.monotonic() - saved <= 1.0
    assert (newest["source"], '"urgency": 45' in newest["rulesJson"]) == ("file", True)

    path.write_text(path.read_text().replace("urgency: 45", "urgency: loud"))
    time.sleep(0.6)  # three scans of the watcher
    assert versions()[0]["version"] == newest["version"]  # the last good one stays in force

    diff = rest(
        mesh,
        "GET",
        f"/v1/interventions/policies/calm_break:diff?fromVersion={before['version']}&toVersion={newest['version']}",
        token=teacher,
    )
    assert (
        diff.status == 200
        and {"path": "urgency", "beforeJson": "40", "afterJson": "45"} in diff.body["fieldChanges"]
    )


def test_activate_rollback_and_bad_policies_through_rest(moodle_mesh):
    mesh = moodle_mesh
    teacher = login(mesh, "teacher@demo.test")
    review = (POLICIES / "review_concept.md").read_text()
    bad = rest(
        mesh,
        "POST",
        "/v1/interventions/policies:activate",
        {
            "content": review.replace("intervention: review_concept", "intervention: scold"),
            "fileName": "review_concept.md",
        },
        token=teacher,
    )
    assert bad.status == 400
    assert any(
        "review_concept.md:4: intervention is 'scold'" in v["description"]
        for d in bad.body["details"]
        for v in d.get("fieldViolations", [])
    )
    unknown_var = rest(
        mesh,
        "POST",
        "/v1/interventions/policies:check",
        {"content": review.replace("{topic}", "{lesson}"), "fileName": "review_concept.md"},
        token=teacher,
    )
    assert unknown_var.status == 200 and not unknown_var.body.get("valid")
    assert "{lesson}" in unknown_var.body["problems"][0]["message"]

    new = rest(
        mesh,
        "POST",
        "/v1/interventions/policies:activate",
        {
            "content": review.replace("urgency: 60", "urgency: 65"),
            "fileName": "review_concept.md",
            "reason": "sooner",
        },
        token=teacher,
    )
    assert new.status == 200 and new.body["source"] == "api"
    back = rest(
        mesh,
        "POST",
        "/v1/interventions/policies/review_concept:rollback",
        {"toVersion": new.body["version"] - 1, "reason": "parents complained"},
        token=teacher,
    )
    assert back.status == 200, back.body
    assert back.body["version"] == new.body["version"] + 1 and back.body["source"] == "rollback"
    assert '"urgency": 60' in back.body["rulesJson"]
    in_force = rest(mesh, "GET", "/v1/interventions/policies/review_concept", token=teacher)
    assert in_force.status == 200 and in_force.body["version"] == back.body["version"]

    student = new_student(mesh)
    refused = rest(
        mesh, "POST", "/v1/interventions/policies:activate", {"content": review}, token=student["token"]
    )
    assert refused.status == 403
    wrong_kind = rest(
        mesh,
        "POST",
        "/v1/interventions/signals:evaluate",
        {"signal": {"studentId": student["id"], "kind": "sneezed"}},
        token=login(mesh, "admin@demo.test"),
    )
    assert wrong_kind.status == 400 and "signal.kind" in str(wrong_kind.body)


def test_a_teacher_reads_and_evaluates_only_their_classes_students(moodle_mesh):
    """progress's rule on interventions, through REST: the teacher reads and evaluates the
    interventions of their class's student; for a student outside their classes (or an id of nobody)
    they get 403 NOT_YOUR_STUDENT and nothing of the student's, and their signal is not stored (it
    cannot spend the student's daily cap); a teacher names no teachers. The admin reads and evaluates
    anyone's, naming teachers."""
    mesh = moodle_mesh
    teacher = login(mesh, "teacher@demo.test")
    admin = login(mesh, "admin@demo.test")
    teacher_id = rest(mesh, "GET", "/v1/users/me", token=teacher).body["id"]
    mine, _ = student_with_moodle(mesh, "Fay Student")
    stranger, _ = student_with_moodle(mesh, "Gus Student")
    in_class(mesh, "Python 2", teacher_id, mine["id"])

    def evaluate(token: str, student_id: str, **fields: Any) -> Any:
        body = {
            "signal": {
                "studentId": student_id,
                "kind": "struggle.detected",
                "occurTime": "2026-01-06T10:00:00Z",
                "rule": "repeated_error",
                "error": "KeyError",
                "topic": "dicts",
                **fields,
            }
        }
        return rest(mesh, "POST", "/v1/interventions/signals:evaluate", body, token=token)

    theirs = evaluate(admin, stranger["id"], teacherIds=[teacher_id])
    assert theirs.status == 200, theirs.body
    review, alert = theirs.body["decisions"]
    assert (review["intervention"], review["status"]) == ("review_concept", "sent")
    assert alert["recipientIds"] == [teacher_id]  # an admin names the teachers
    assert {d["id"] for d in decisions(mesh, admin, stranger["id"])} == {alert["id"], review["id"]}

    for other in (stranger["id"], str(uuid.uuid4())):  # a student of no class of theirs; nobody
        read = rest(mesh, "GET", f"/v1/interventions/decisions?studentId={other}", token=teacher)
        assert read.status == 403 and "NOT_YOUR_STUDENT" in str(read.body), read.body
        assert "KeyError" not in str(read.body) and "repeated_error" not in str(read.body)
        sent = evaluate(teacher, other, occurTime="2026-01-06T10:30:00Z", error="IndexError")
        assert sent.status == 403 and "NOT_YOUR_STUDENT" in str(sent.body), sent.body
    # Nothing stored for the stranger by the refused signal.
    assert len(decisions(mesh, admin, stranger["id"])) == 2

    named = evaluate(teacher, mine["id"], teacherIds=[teacher_id])
    assert named.status == 403 and "TEACHER_IDS_NOT_ALLOWED" in str(named.body), named.body
    own = evaluate(teacher, mine["id"])
    assert own.status == 200, own.body
    assert [d["intervention"] for d in own.body["decisions"]] == ["review_concept", "teacher_alert"]
    assert {d["id"] for d in decisions(mesh, teacher, mine["id"])} == {d["id"] for d in own.body["decisions"]}

    # Without a student: the teacher's page holds their students' decisions, none of the stranger's.
    listed: list[dict[str, Any]] = []
    token = ""
    while True:
        query = "?pageSize=100" + (f"&pageToken={token}" if token else "")
        page = rest(mesh, "GET", f"/v1/interventions/decisions{query}", token=teacher)
        assert page.status == 200, page.body
        listed += page.body.get("decisions", [])
        token = page.body.get("nextPageToken", "")
        if not token:
            break
    students = {d["studentId"] for d in listed}
    assert mine["id"] in students and stranger["id"] not in students
    everyone = rest(mesh, "GET", "/v1/interventions/decisions?pageSize=100", token=admin)
    assert stranger["id"] in {d["studentId"] for d in everyone.body["decisions"]}


LOOP = "i = 0\nwhile i < 10:\n    print(i)\n"


def test_a_teachers_backtest_names_no_student(moodle_mesh):
    """A teacher tunes the tenant's policies against all of its history: the report's counts are the
    admin's, its students go by pseudonyms ("student 1"), so students outside the teacher's classes
    stay unknown to them."""
    mesh = moodle_mesh
    admin, teacher = login(mesh, "admin@demo.test"), login(mesh, "teacher@demo.test")
    student = new_student(mesh)
    day = "2025-03-04"
    for minute in range(2):  # two hint requests: ask_teacher at_least 2 (the candidate) would send
        body = {
            "signal": {
                "studentId": student["id"],
                "kind": "hint.requested",
                "topic": "loops",
                "occurTime": f"{day}T10:0{minute}:00Z",
                "sourceId": f"backtest-{uuid.uuid4().hex}",
            }
        }
        assert rest(mesh, "POST", "/v1/interventions/signals:evaluate", body, token=admin).status == 200
    candidate = (POLICIES / "ask_teacher.md").read_text().replace("at_least: 3", "at_least: 2")
    request = {
        "content": candidate,
        "fileName": "ask_teacher.md",
        "startTime": f"{day}T00:00:00Z",
        "endTime": f"{day}T23:59:00Z",
    }
    by_admin = rest(mesh, "POST", "/v1/interventions/policies:backtest", request, token=admin)
    by_teacher = rest(mesh, "POST", "/v1/interventions/policies:backtest", request, token=teacher)
    assert by_admin.status == by_teacher.status == 200, (by_admin.body, by_teacher.body)
    assert student["id"] in by_admin.body["studentsAffected"]
    assert student["id"] not in str(by_teacher.body)
    assert len(by_teacher.body["studentsAffected"]) == len(by_admin.body["studentsAffected"])
    assert all(re.fullmatch(r"student \d+", s) for s in by_teacher.body["studentsAffected"])
    assert len(by_teacher.body.get("flips", [])) == len(by_admin.body.get("flips", [])) >= 1


def ask_tutor(mesh: LocalMesh, token: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = rest(mesh, "POST", "/v1/questions", body, token=token)
    assert reply.status == 200, reply.body
    return dict(reply.body)


def tutor_answered(mesh: LocalMesh, token: str, conversation_id: str, count: int) -> None:
    """Waits until the tutor has answered `count` messages of the conversation (one at a time, so each
    hint is published after the previous one: the order a student asking again would make)."""

    def answers() -> int:
        page = rest(mesh, "GET", f"/v1/conversations/{conversation_id}", token=token).body
        return sum(m.get("author") == "AUTHOR_TUTOR" for m in page.get("messages", []))

    wait(lambda: answers() >= count, timeout=30, state=answers)


def test_repeated_hint_requests_in_tutoring_bring_ask_teacher_to_the_moodle_inbox(moodle_mesh):
    """tutoring's own flow, no EvaluateSignal: each hint the debug agent gives is published on
    tutoring.hint_requested, interventions reads it as hint.requested, and the third on one topic
    within 20 minutes brings ask_teacher to the student's Moodle inbox. tutoring's events name no
    teachers: interventions asks progress for the student's (ListStudentTeachers), and the teacher of
    the student's class gets the note in their Moodle inbox too."""
    mesh = moodle_mesh
    teacher = login(mesh, "teacher@demo.test")
    student, _ = student_with_moodle(mesh, "Cai Student")
    teacher_id = rest(mesh, "GET", "/v1/users/me", token=teacher).body["id"]
    in_class(mesh, "Loops", teacher_id, student["id"])
    question = {"text": "why does my loop never end?", "code": LOOP}
    first = ask_tutor(mesh, student["token"], question)
    conversation = first["conversationId"]
    tutor_answered(mesh, student["token"], conversation, 1)
    for n in (2, 3):
        ask_tutor(mesh, student["token"], {**question, "conversationId": conversation})
        tutor_answered(mesh, student["token"], conversation, n)

    def delivered(to: str) -> dict[str, Any] | None:
        found = [
            d
            for d in decisions(mesh, teacher, student["id"])
            if d["intervention"] == "ask_teacher" and d.get("recipientIds") == [to]
        ]
        return found[0] if found and found[0].get("deliveryStatus") == "sent" else None

    ask = wait(
        lambda: delivered(student["id"]), timeout=60, state=lambda: decisions(mesh, teacher, student["id"])
    )
    assert ask["status"] == "sent" and ask["policyId"] == "ask_teacher"
    held = {s["condition"]: s["value"] for s in ask["trace"] if s.get("held")}
    assert held["signal is hint.requested"] == "hint.requested"
    assert held["at least 3 times with the same topic within 20 minutes"].startswith("3 times (topic ")
    (message,) = inbox(mesh, student["email"])
    assert "you&#x27;ve asked for 3 hints on" in message["text"] or "asked for 3 hints on" in message["text"]
    assert ask["moodleMessageId"] == str(message["id"])
    # The note to the student's teacher, whom progress named: delivered to their Moodle inbox.
    note = wait(
        lambda: delivered(teacher_id), timeout=60, state=lambda: decisions(mesh, teacher, student["id"])
    )
    assert note["signalId"] == ask["signalId"]
    assert wait(
        lambda: [m for m in inbox(mesh, "teacher@demo.test") if "may ask you for help" in m["text"]],
        state=lambda: [m["text"][:60] for m in inbox(mesh, "teacher@demo.test")],
    )
    # One decision to the student for the three hints (the first two were below the threshold) and
    # its note to the teacher.
    asks = [d for d in decisions(mesh, teacher, student["id"]) if d["intervention"] == "ask_teacher"]
    assert sorted(d["recipientIds"] for d in asks) == sorted([[student["id"]], [teacher_id]])


def test_unclear_questions_in_one_conversation_bring_ask_teacher(moodle_mesh):
    """triage's unclear verdicts are published on tutoring.question_unclear; three in one conversation
    bring the ask_teacher_unclear policy's message (read by the admin: Dee is in no class)."""
    mesh = moodle_mesh
    admin = login(mesh, "admin@demo.test")
    student, _ = student_with_moodle(mesh, "Dee Student")
    first = ask_tutor(mesh, student["token"], {"text": "help"})
    conversation = first["conversationId"]
    tutor_answered(mesh, student["token"], conversation, 1)
    for n, text in ((2, "hello??"), (3, "qwxz plmk")):
        ask_tutor(mesh, student["token"], {"text": text, "conversationId": conversation})
        tutor_answered(mesh, student["token"], conversation, n)

    def decided() -> list[dict[str, Any]]:
        return [
            d
            for d in decisions(mesh, admin, student["id"])
            if d["policyId"] == "ask_teacher_unclear" and d.get("recipientIds") == [student["id"]]
        ]

    (ask,) = wait(decided, timeout=60, state=lambda: decisions(mesh, admin, student["id"]))
    assert (ask["intervention"], ask["status"]) == ("ask_teacher", "sent")
    assert {
        "condition": "at least 3 times with the same key within 20 minutes",
        "held": True,
        "value": f"3 times (key {conversation})",
    } in ask["trace"]
    (message,) = wait(lambda: inbox(mesh, student["email"]), timeout=60)
    assert "put this problem into words" in message["text"]


def test_a_burst_of_struggles_is_decided_together_and_reaches_every_inbox(moodle_mesh):
    """Ten struggle.detected events published at once, as progress publishes them: the consumer
    decides them in batches (evaluate_batch) and their messages go to notify together
    (BatchSendMessages); every student's Moodle inbox gets its one review_concept message, and every
    decision records its Moodle message id (read by the admin: the students are in no class)."""
    mesh = moodle_mesh
    admin = login(mesh, "admin@demo.test")
    pupils = [student_with_moodle(mesh, f"Burst Student {i}")[0] for i in range(10)]
    tenant = pupils[0]["tenant"]

    async def publish() -> None:
        nc = await nats.connect(mesh.nats_url)
        try:
            js = nc.jetstream()
            for pupil in pupils:
                created = Timestamp()
                created.FromDatetime(datetime.now(UTC))
                event = progress_events.StruggleDetected(
                    alert=progress_pb.StruggleAlert(
                        id=str(uuid.uuid4()),
                        student_id=pupil["id"],
                        rule="repeated_error",
                        key="NameError",
                        explanation="NameError 3 times in 7 minutes",
                        severity="medium",
                        create_time=created,
                    )
                )
                headers = build_headers(event, source="progress", tenant_id=tenant)
                await js.publish("struggle.detected", event.SerializeToString(), headers=headers)
        finally:
            await nc.close()

    asyncio.run(publish())
    for pupil in pupils:
        email = pupil["email"]
        (message,) = wait(lambda: inbox(mesh, email), timeout=60)  # noqa: B023 (called at once)
        assert "run into NameError a few times" in message["text"]

        def sent(p: dict[str, str] = pupil) -> dict[str, Any] | None:
            found = [d for d in decisions(mesh, admin, p["id"]) if d["intervention"] == "review_concept"]
            return found[0] if found and found[0].get("deliveryStatus") == "sent" else None

        decision = wait(sent)
        assert decision["moodleMessageId"] == str(message["id"])


def test_uninterrupted_sandbox_runs_bring_calm_break_with_its_duration(moodle_mesh):
    """The producer of work.session on the mesh: a student's sandbox runs (sandbox.executed) make one
    work session; when it crosses the calm_break threshold, calm_break reaches the student's Moodle
    inbox with the session's length in its text. The threshold is a tenant's policy of six seconds
    (0.1 minutes) instead of 45 minutes; it is retired (shadow) at the end. Last in this module: the
    tenant's other students' work would otherwise bring them this policy's break."""
    mesh = moodle_mesh
    teacher = login(mesh, "teacher@demo.test")
    admin = login(mesh, "admin@demo.test")  # reads Eli's decisions: Eli is in no class
    student, _ = student_with_moodle(mesh, "Eli Student")
    quick = (
        (POLICIES / "calm_break.md")
        .read_text()
        .replace("id: calm_break", "id: calm_break_quick")
        .replace("at_least: 45", "at_least: 0.1")
        .replace("cooldown_minutes: 180", "cooldown_minutes: 0")
        .replace('  between:\n    from: "07:00"\n    until: "23:00"\n', "")
    )
    assert "between" not in quick.split("---")[1]
    activated = rest(
        mesh,
        "POST",
        "/v1/interventions/policies:activate",
        {"content": quick, "fileName": "calm_break_quick.md", "reason": "a short session for the test"},
        token=teacher,
    )
    assert activated.status == 200, activated.body
    try:
        for i in range(4):  # about 7.5 seconds of work, no gap of 10 minutes
            if i:
                time.sleep(2.5)
            run = rest(
                mesh, "POST", "/v1/executions", {"code": "print(sum(range(10)))"}, token=student["token"]
            )
            assert run.status == 200, run.body

        def sent() -> dict[str, Any] | None:
            found = [d for d in decisions(mesh, admin, student["id"]) if d["policyId"] == "calm_break_quick"]
            return found[0] if found and found[0].get("deliveryStatus") == "sent" else None

        calm = wait(sent, timeout=60, state=lambda: decisions(mesh, admin, student["id"]))
        assert calm["intervention"] == "calm_break" and calm["status"] == "sent"
        assert any(s["condition"] == "minutes is at least 0.1" and s["held"] for s in calm["trace"])
        # Exactly one: the session signals its threshold once, however many runs follow.
        assert (
            len([d for d in decisions(mesh, admin, student["id"]) if d["intervention"] == "calm_break"]) == 1
        )
        (message,) = wait(lambda: inbox(mesh, student["email"]), timeout=60)
        assert re.search(r"working hard for 0\.\d minutes", message["text"]), message["text"]
        assert message["text"].count("working hard") == 1 and str(message["id"]) == calm["moodleMessageId"]
    finally:
        retired = rest(
            mesh,
            "POST",
            "/v1/interventions/policies:activate",
            {"content": quick.replace("mode: enforce", "mode: shadow"), "fileName": "calm_break_quick.md"},
            token=teacher,
        )
        assert retired.status == 200, retired.body
