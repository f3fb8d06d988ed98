"""The issue's "done when", through REST on a mesh of its own with the local provider servers (so a
caregiver's email really goes out over SMTP): a coordinator creates a reading group from a template
with a weekly schedule, enrolls students by hand and from a risk list, a facilitator records
attendance and scores for six weeks of sessions, the dashboard shows attendance, dosage, the trend
against the aimline and a projection, a double booking is refused naming the session, an exit is
recommended and confirmed, a caregiver receives a summary by email with its delivery status logged,
and every step is in the audit trail."""

import json
import time
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.notify.fakes.client import FakesClient
from services.runtime.testing import STUDENT_PASSWORD, login, rest, running_mesh

NY = "America/New_York"


@pytest.fixture(scope="module")
def world():
    with running_mesh(LEARNFLOW_LOCAL_PROVIDERS="true") as mesh:
        yield mesh


def _user(mesh, admin: str, role: str) -> dict[str, str]:
    email = f"{role.lower()}-{uuid.uuid4().hex[:8]}@demo.test"
    made = rest(
        mesh,
        "POST",
        "/v1/users",
        {"user": {"email": email, "roles": [f"ROLE_{role}"]}, "password": STUDENT_PASSWORD},
        token=admin,
    )
    assert made.status == 200, made.body
    return {"id": made.body["id"], "email": email, "token": login(mesh, email, STUDENT_PASSWORD)}


def _ok(response, status: int = 200):
    assert response.status == status, response.body
    return response.body


def _until(fetch, done, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    got = fetch()
    while not done(got) and time.monotonic() < deadline:
        time.sleep(0.25)
        got = fetch()
    assert done(got), got
    return got


def test_the_whole_story_through_rest(world):
    mesh = world
    admin = login(mesh, "admin@demo.test")
    teacher = login(mesh, "teacher@demo.test")
    teacher_id = _ok(rest(mesh, "GET", "/v1/users/me", token=teacher))["id"]
    facilitator = _user(mesh, admin, "FACILITATOR")
    good, weak, risky, low = (_user(mesh, admin, "STUDENT") for _ in range(4))
    caregiver = _user(mesh, admin, "CAREGIVER")
    today = datetime.now(ZoneInfo(NY)).date()
    begin = today - timedelta(days=today.weekday(), weeks=7)  # a Monday seven weeks ago
    room = f"Room {uuid.uuid4().hex[:6]}"
    body = {
        "intervention": {
            "templateKey": "reading-group",
            "templateVersion": 1,
            "name": "Year 3 reading group",
            "objectives": ["Read 50 words correct per minute"],
            "ownerId": teacher_id,
            "facilitatorIds": [facilitator["id"]],
            "room": room,
            "goal": {"baseline": 20, "target": 50, "goalDate": (begin + timedelta(weeks=10)).isoformat()},
            "beginDate": begin.isoformat(),
            "endDate": (begin + timedelta(weeks=12, days=-1)).isoformat(),
            "schedule": {"rrule": "FREQ=WEEKLY;BYDAY=MO,WE,FR", "startTime": "09:00", "timeZone": NY},
        }
    }
    # Missing objective, owner and schedule: 400 naming each.
    bad = json.loads(json.dumps(body))
    del bad["intervention"]["objectives"], bad["intervention"]["ownerId"], bad["intervention"]["schedule"]
    refused = rest(mesh, "POST", "/v1/mtss/interventions", bad, token=teacher)
    assert refused.status == 400
    named = {v["field"] for d in refused.body["details"] for v in d.get("fieldViolations", [])}
    assert {"intervention.objectives", "intervention.owner_id", "intervention.schedule"} <= named

    group = _ok(rest(mesh, "POST", "/v1/mtss/interventions", body, token=teacher))
    gid = group["id"]
    assert group["sessionCount"] == 36 and group["templateVersion"] == 1 and group["minutesPerWeek"] == 90
    sessions = _ok(rest(mesh, "GET", f"/v1/mtss/interventions/{gid}/sessions", token=teacher))["sessions"]

    # Enroll by hand, then from a risk list after a dry run.
    enrolled = _ok(
        rest(
            mesh,
            "POST",
            f"/v1/mtss/interventions/{gid}/enrollments",
            {"studentIds": [good["id"], weak["id"]], "beginDate": begin.isoformat()},
            token=teacher,
        )
    )
    assert [e["source"] for e in enrolled["enrollments"]] == ["ENROLLMENT_SOURCE_MANUAL"] * 2
    csv = f"student_id,risk,reason\n{risky['id']},0.8,below benchmark\n{low['id']},0.2,\n"
    preview = _ok(
        rest(
            mesh,
            "POST",
            f"/v1/mtss/interventions/{gid}:enrollFromRiskList",
            {"csv": csv, "minRisk": 0.5, "dryRun": True},
            token=teacher,
        )
    )
    assert [(c["studentId"], c.get("eligible", False)) for c in preview["candidates"]] == [
        (risky["id"], True),
        (low["id"], False),
    ]
    assert preview.get("enrollments", []) == []
    done = _ok(
        rest(
            mesh,
            "POST",
            f"/v1/mtss/interventions/{gid}:enrollFromRiskList",
            {"csv": csv, "minRisk": 0.5},
            token=teacher,
        )
    )
    assert [(e["studentId"], e["source"]) for e in done["enrollments"]] == [
        (risky["id"], "ENROLLMENT_SOURCE_RISK_LIST")
    ]

    # Six weeks of attendance and weekly scores by the facilitator.
    six = [s for s in sessions if date.fromisoformat(s["localDate"]) < begin + timedelta(weeks=6)]
    assert len(six) == 18
    for s in six:
        monday = date.fromisoformat(s["localDate"]).weekday() == 0
        records = [
            {"studentId": good["id"], "status": "ATTENDANCE_STATUS_PRESENT"},
            {
                "studentId": weak["id"],
                "status": "ATTENDANCE_STATUS_PRESENT" if monday else "ATTENDANCE_STATUS_ABSENT",
                "reasonCode": "ILL",
            },
        ]
        _ok(
            rest(
                mesh,
                "POST",
                f"/v1/mtss/sessions/{s['id']}/attendance",
                {"records": records},
                token=facilitator["token"],
            )
        )
    for week in range(1, 7):
        on = (begin + timedelta(weeks=week, days=-3)).isoformat()
        for student, score in ((good, 20 + 6 * week + (week > 3) * 20), (weak, 20 + 0.5 * week)):
            entry = {
                "studentId": student["id"],
                "date": on,
                "score": score,
                "rating": 3,
                "note": f"week {week}",
            }
            _ok(
                rest(
                    mesh, "POST", f"/v1/mtss/interventions/{gid}/progress", entry, token=facilitator["token"]
                )
            )

    dashboard = _ok(rest(mesh, "GET", f"/v1/mtss/interventions/{gid}/dashboard", token=teacher))
    rows = {r["studentId"]: r for r in dashboard["students"]}
    assert rows[good["id"]]["attendanceRate"] == 1.0 and rows[good["id"]]["deliveredMinutes"] == 18 * 30
    assert rows[weak["id"]]["attendanceRate"] == pytest.approx(6 / 18)
    mine = _ok(
        rest(mesh, "GET", f"/v1/mtss/interventions/{gid}/students/{good['id']}/dashboard", token=teacher)
    )
    analysis = mine["analysis"]
    assert (
        analysis["verdict"] == "raise_goal" and analysis["points"] == 6 and analysis["fourPoint"] == "above"
    )
    assert analysis["aimlineSlope"] == pytest.approx(3.0) and analysis["olsSlope"] > 3.0
    assert analysis["projection"]["low"] < analysis["projection"]["value"] < analysis["projection"]["high"]
    assert mine["exitRecommended"] is True and [h["note"] for h in mine["history"]] == [
        f"week {w}" for w in range(1, 7)
    ]
    slow = _ok(
        rest(mesh, "GET", f"/v1/mtss/interventions/{gid}/students/{weak['id']}/dashboard", token=teacher)
    )
    assert slow["analysis"]["verdict"] == "change_instruction" and slow["recommendation"] == "check_fidelity"

    # A double booking is refused, naming the session it would collide with.
    other = json.loads(json.dumps(body))
    other["intervention"].update(name="Math fluency", room=f"{room}-b", facilitatorIds=[])
    second = _ok(rest(mesh, "POST", "/v1/mtss/interventions", other, token=teacher))
    theirs = _ok(rest(mesh, "GET", f"/v1/mtss/interventions/{second['id']}/sessions", token=teacher))[
        "sessions"
    ]
    clash = rest(mesh, "POST", f"/v1/mtss/sessions/{theirs[-1]['id']}:adjust", {"room": room}, token=teacher)
    assert clash.status == 400 and sessions[-1]["id"] in clash.body["message"], clash.body
    assert any(d.get("reason") == "SCHEDULE_CONFLICT" for d in clash.body["details"])

    # The exit, confirmed by the teacher.
    exited = _ok(
        rest(
            mesh,
            "POST",
            f"/v1/mtss/interventions/{gid}/enrollments/{good['id']}:confirmExit",
            {},
            token=teacher,
        )
    )
    assert exited["status"] == "ENROLLMENT_STATUS_EXITED" and exited["exitConfirmedBy"] == teacher_id

    # The caregiver: linked by the admin, reads their child's summary only, gets the email.
    _ok(
        rest(
            mesh,
            "POST",
            "/v1/mtss/caregiverLinks",
            {"caregiverId": caregiver["id"], "studentId": weak["id"]},
            token=admin,
        )
    )
    _ok(
        rest(
            mesh,
            "GET",
            f"/v1/mtss/interventions/{gid}/students/{weak['id']}/dashboard",
            token=caregiver["token"],
        )
    )
    assert (
        rest(
            mesh,
            "GET",
            f"/v1/mtss/interventions/{gid}/students/{good['id']}/dashboard",
            token=caregiver["token"],
        ).status
        == 403
    )
    template = {
        "name": "mtss.progress_summary",
        "subject": "Progress in {{ intervention }}",
        "body": "Attendance {{ attendance_rate }}; minutes {{ delivered_minutes }}; "
        "next step: {{ recommendation }}.",
    }
    _ok(rest(mesh, "POST", "/v1/notify/templates", template, token=admin))
    sent = _ok(
        rest(
            mesh,
            "POST",
            f"/v1/mtss/interventions/{gid}/students/{weak['id']}:message",
            {"template": "progress_summary"},
            token=teacher,
        )
    )
    # Answered as committed: on its way, delivered by a job that committed with it (docs/mtss.md).
    assert sent["status"] == "COMMUNICATION_STATUS_QUEUED"
    log = _until(
        lambda: _ok(rest(mesh, "GET", f"/v1/mtss/students/{weak['id']}/communications", token=teacher))[
            "communications"
        ],
        lambda c: c and c[0]["status"] == "COMMUNICATION_STATUS_SENT",
    )
    assert (
        log[0]["id"] == sent["id"]
        and log[0]["caregiverId"] == caregiver["id"]
        and "notify delivery" in log[0]["detail"]
    )
    emails = FakesClient(mesh.providers.url).messages("email")
    assert any(caregiver["email"] in json.dumps(m) and "check_fidelity" in json.dumps(m) for m in emails)

    # Every step in the audit trail.
    def actions(resource: str) -> set[str]:
        got = _ok(rest(mesh, "GET", f"/v1/audit/records?resource={resource}", token=admin))
        return {r["action"] for r in got.get("records", [])}

    _until(lambda: actions(f"interventions/{gid}"), lambda a: "intervention.created" in a)
    _until(
        lambda: actions(f"interventions/{gid}/enrollments/{good['id']}"),
        lambda a: {"enrollment.created", "enrollment.exit_confirmed"} <= a,
    )
    _until(
        lambda: actions(f"interventions/{gid}/enrollments/{risky['id']}"), lambda a: "enrollment.created" in a
    )
    _until(lambda: actions(f"sessions/{six[0]['id']}/attendance"), lambda a: "attendance.recorded" in a)
    _until(
        lambda: actions(f"students/{weak['id']}/communications/{sent['id']}"),
        lambda a: {"communication.queued", "communication.sent"} <= a,
    )
