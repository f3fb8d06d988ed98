"""The teacher's pages in the browser: a struggle alert raised by the demo student's activity is seen
and acknowledged, then resolved; the class roster by risk leads to the student's progress charts, their
alerts and the interventions decided for them."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from services.runtime.local.chromium import PHONE
from services.runtime.testing import login, rest
from tests.console.conftest import sign_in


@pytest.fixture(scope="module")
def demo_student(mesh):
    token = login(mesh, "student@demo.test")
    return {"token": token, "id": rest(mesh, "GET", "/v1/users/me", token=token).body["id"]}


def _struggle(mesh, student, error_type: str) -> None:
    """The same error three times in a row: progress's repeated_error rule opens an alert. A fresh
    error type makes a fresh episode, whatever alerts earlier tests left open for the demo student."""
    for _ in range(3):
        run = rest(
            mesh,
            "POST",
            "/v1/activities",
            {
                "id": f"console-{uuid.uuid4().hex[:10]}",
                "studentId": student["id"],
                "topic": "loops",
                "kind": "ACTIVITY_KIND_CODE_RUN",
                "verdict": "RUNTIME_ERROR",
                "exceptionType": error_type,
            },
            token=student["token"],
        )
        assert run.status == 200, run.body


def _alert(mesh, student_id: str, error_type: str) -> dict:
    teacher = login(mesh, "teacher@demo.test")
    for state in ("ALERT_STATE_UNSPECIFIED", "ALERT_STATE_RESOLVED"):
        alerts = rest(mesh, "GET", f"/v1/struggleAlerts?studentId={student_id}&state={state}", token=teacher)
        assert alerts.status == 200, alerts.body
        for a in alerts.body.get("alerts", []):
            if a["key"] == error_type:
                return a
    raise AssertionError(f"no alert about {error_type}")


def test_the_teacher_sees_the_alert_acknowledges_then_resolves_it(mesh, as_teacher, demo_student):
    error_type = f"Console{uuid.uuid4().hex[:6]}Error"
    _struggle(mesh, demo_student, error_type)
    assert _alert(mesh, demo_student["id"], error_type)["state"] == "ALERT_STATE_OPEN"

    page = as_teacher.page
    as_teacher.go("/teach/alerts")
    page.get_by_role("heading", name="Struggle alerts").wait_for()
    row = page.get_by_role("row").filter(has_text=error_type)
    row.wait_for()
    assert "Repeated error" in row.inner_text() and f"{error_type} 3 times" in row.inner_text()
    assert row.locator("[data-state]").inner_text() == "Open"
    as_teacher.check("teacher-alerts")

    row.get_by_role("button", name="Acknowledge").click()
    row.get_by_text("Acknowledged", exact=True).wait_for()
    assert _alert(mesh, demo_student["id"], error_type)["state"] == "ALERT_STATE_ACKNOWLEDGED"
    assert row.get_by_role("button", name="Acknowledge").count() == 0

    row.get_by_role("button", name="Resolve").click()
    row.get_by_text("Resolved by a teacher").wait_for()
    done = _alert(mesh, demo_student["id"], error_type)
    assert done["state"] == "ALERT_STATE_RESOLVED" and done["resolution"] == "ALERT_RESOLUTION_TEACHER"

    # The status filter shows it among the resolved ones, and no longer among the open.
    page.get_by_label("Status").select_option("ALERT_STATE_RESOLVED")
    page.get_by_role("row").filter(has_text=error_type).wait_for()


def test_the_teacher_goes_from_the_roster_to_a_students_progress(mesh, as_teacher, demo_student):
    # Some graded work, so the student's page has a chart to draw.
    recorded = rest(
        mesh,
        "POST",
        "/v1/activities",
        {
            "id": f"console-{uuid.uuid4().hex[:10]}",
            "studentId": demo_student["id"],
            "topic": "lists",
            "kind": "ACTIVITY_KIND_EXERCISE_ATTEMPT",
            "score": 0.5,
        },
        token=demo_student["token"],
    )
    assert recorded.status == 200, recorded.body
    page = as_teacher.page
    as_teacher.go("/teach/classes")
    page.get_by_role("heading", name="My classes").wait_for()
    page.get_by_role("link", name="Demo Class").first.click()
    page.get_by_role("heading", name="Class: Demo Class").wait_for()
    student_row = page.get_by_role("row").filter(has=page.get_by_role("link", name="Sam Student"))
    student_row.wait_for()
    assert "%" in student_row.inner_text()
    as_teacher.check("teacher-class")

    student_row.get_by_role("link", name="Sam Student").click()
    page.get_by_role("heading", name="Student progress").wait_for()
    page.get_by_role("rowheader", name="lists").wait_for()
    page.get_by_role("img", name="Scores of graded work over time, by topic").wait_for()
    as_teacher.check("teacher-student")

    as_teacher.go("/teach/interventions")
    page.get_by_role("heading", name="Interventions").wait_for()
    page.get_by_label("Student").select_option(demo_student["id"])
    page.get_by_role("navigation", name="Intervention decisions pages").wait_for()
    as_teacher.check("teacher-interventions")


def test_the_teacher_pages_fit_a_phone(browser, mesh, demo_student):
    phone = sign_in(browser, mesh, "teacher@demo.test", viewport=PHONE)
    page = phone.page
    try:
        for path, title in (
            ("/teach/classes", "My classes"),
            ("/teach/alerts", "Struggle alerts"),
            ("/teach/interventions", "Interventions"),
            (f"/teach/students/{demo_student['id']}", "Student progress"),
        ):
            phone.go(path)
            page.get_by_role("heading", name=title, exact=True).wait_for()
            expect(page.locator("[aria-busy=true]")).to_have_count(0)  # no eval: the CSP forbids it
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"] + 1, f"{path} scrolls sideways on a phone ({width}px wide)"
        phone.check("teacher-student-phone")
    finally:
        page.context.close()
