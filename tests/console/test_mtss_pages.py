"""MTSS staff in the browser (issue #17, item 4), on the session's mesh: attendance is taken at today's
session of a program made through the API (one tap per student, one Save, and the API then has it);
the calendar shows the sessions as a week and a month, refuses a double booking in words naming the
session it would collide with, moves and cancels sessions; a student's page charts scores, aimline,
trend and projection, records a progress note and logs a caregiver message with its delivery status;
the new-program form shows the API's field violations next to their fields. Every page is checked with
axe-core (conftest `Console.check`). Preconditions go through REST as the demo admin (a manager, who
may also act as facilitator: docs/mtss.md, Roles)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from services.runtime.local.chromium import DESKTOP, PHONE
from services.runtime.local.demo import DEMO_PASSWORD
from services.runtime.testing import STUDENT_PASSWORD, login, rest
from tests.console.conftest import sign_in


def _ok(response, status: int = 200):
    assert response.status == status, response.body
    return response.body


@pytest.fixture(scope="module")
def admin(mesh) -> dict[str, str]:
    token = login(mesh, "admin@demo.test")
    return {"token": token, "id": _ok(rest(mesh, "GET", "/v1/users/me", token=token))["id"]}


def _user(
    mesh, admin: dict[str, str], name: str, role: str = "STUDENT", password: str = STUDENT_PASSWORD
) -> dict[str, str]:
    """A new user; new students, so no other test's program books them at the same time (a conflict)."""
    email = f"mtss-{uuid.uuid4().hex[:8]}@demo.test"
    made = _ok(
        rest(
            mesh,
            "POST",
            "/v1/users",
            {"user": {"email": email, "displayName": name, "roles": [f"ROLE_{role}"]}, "password": password},
            token=admin["token"],
        )
    )
    return {"id": made["id"], "name": name, "email": email}


def _student(mesh, admin: dict[str, str], name: str) -> dict[str, str]:
    return _user(mesh, admin, name)


def _program(
    mesh,
    admin,
    *,
    begin_days_ago: int = 0,
    days: int = 14,
    start: str = "00:05",
    students=(),
    facilitators=(),
) -> dict:
    """A daily program in UTC (so 'today' is the same for the test and the page) in a room of its own,
    from the reading-group template, with these students enrolled from its first day."""
    today = datetime.now(UTC).date()
    begin = today - timedelta(days=begin_days_ago)
    end = today + timedelta(days=days)
    body = {
        "intervention": {
            "templateKey": "reading-group",
            "templateVersion": 1,
            "name": f"Reading group {uuid.uuid4().hex[:4]}",
            "objectives": ["Read 50 words correct per minute"],
            "ownerId": admin["id"],
            "facilitatorIds": [f["id"] for f in facilitators],
            "room": f"Room {uuid.uuid4().hex[:6]}",
            "goal": {"baseline": 20, "target": 50, "goalDate": end.isoformat()},
            "beginDate": begin.isoformat(),
            "endDate": end.isoformat(),
            "schedule": {"rrule": "FREQ=DAILY", "startTime": start, "durationMinutes": 30, "timeZone": "UTC"},
        }
    }
    made = _ok(rest(mesh, "POST", "/v1/mtss/interventions", body, token=admin["token"]))
    if students:
        _ok(
            rest(
                mesh,
                "POST",
                f"/v1/mtss/interventions/{made['id']}/enrollments",
                {"studentIds": [s["id"] for s in students], "beginDate": begin.isoformat()},
                token=admin["token"],
            )
        )
    sessions = _ok(rest(mesh, "GET", f"/v1/mtss/interventions/{made['id']}/sessions", token=admin["token"]))
    return {**made, "sessions": sessions["sessions"], "begin": begin}


def _rows(mesh, admin, program_id: str) -> dict[str, dict]:
    dash = _ok(rest(mesh, "GET", f"/v1/mtss/interventions/{program_id}/dashboard", token=admin["token"]))
    return {r["studentId"]: r for r in dash.get("students", [])}


def test_attendance_is_taken_with_one_tap_per_student_and_one_save(mesh, browser, admin):
    ada, ben = _student(mesh, admin, "Ada Attendance"), _student(mesh, admin, "Ben Absent")
    # The demo tenant has no facilitator: one is made (with the demo password, for `sign_in`) and runs
    # the program's sessions; facilitators record attendance for their own sessions only.
    facilitator = _user(mesh, admin, "Fay Facilitator", role="FACILITATOR", password=DEMO_PASSWORD)
    program = _program(mesh, admin, students=(ada, ben), facilitators=(facilitator,))
    today = datetime.now(UTC).date().isoformat()
    todays = next(s for s in program["sessions"] if s["localDate"] == today)

    # On a tablet-sized screen, as a facilitator would hold it.
    console = sign_in(browser, mesh, facilitator["email"], viewport={"width": 820, "height": 1180})
    page = console.page
    try:
        console.go(f"/mtss/programs/{program['id']}")
        page.get_by_role("heading", name=program["name"]).wait_for()
        page.get_by_role("button", name="Take attendance").click()
        page.get_by_role("heading", name="Take attendance").wait_for()
        assert f"/sessions/{todays['id']}/attendance" in page.url
        save = page.get_by_role("button", name="Save attendance")
        assert save.is_disabled()  # nothing marked yet: nothing to save
        page.get_by_role("button", name="Present: Ada Attendance").click()
        page.get_by_role("button", name="Absent: Ben Absent").click()
        assert (
            page.get_by_role("button", name="Present: Ada Attendance").get_attribute("aria-pressed") == "true"
        )
        assert "2 of 2" in save.inner_text()
        save.click()
        stored = page.get_by_role("status", name="Saved attendance")
        stored.wait_for()
        assert "Ada Attendance: present, 30 minutes" in stored.inner_text()
        assert "Ben Absent: absent" in stored.inner_text()
        console.check("mtss-attendance")

        # The API has it: Ada's 30 minutes delivered, Ben's none, both with a record.
        rows = _rows(mesh, admin, program["id"])
        assert rows[ada["id"]]["deliveredMinutes"] == 30 and rows[ben["id"]].get("deliveredMinutes", 0) == 0

        # A correction replaces the record: Ben was only late to arrive, mark him present.
        page.get_by_role("button", name="Present: Ben Absent").click()
        save.click()
        page.get_by_role("status", name="Saved attendance").wait_for()
        assert "Ben Absent: present" in page.get_by_role("status", name="Saved attendance").inner_text()
        assert _rows(mesh, admin, program["id"])[ben["id"]]["deliveredMinutes"] == 30

        # The program page shows what was stored.
        page.get_by_role("link", name=program["name"]).click()
        table = page.get_by_role("table", name="Students in this program")
        table.wait_for()
        ada_row = table.get_by_role("row").filter(has_text="Ada Attendance")
        assert "30" in ada_row.inner_text()
        # A facilitator takes attendance and notes progress; enrolling is for teachers and admins.
        assert page.get_by_role("heading", name="Enroll students").count() == 0
        console.check("mtss-program")
    finally:
        page.context.close()


def test_the_calendar_moves_and_cancels_sessions_and_refuses_a_double_booking(mesh, browser, admin):
    program = _program(mesh, admin, start="09:00")
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    after = (datetime.now(UTC).date() + timedelta(days=2)).isoformat()
    theirs = next(s for s in program["sessions"] if s["localDate"] == after)

    console = sign_in(browser, mesh, "admin@demo.test")
    page = console.page
    try:
        console.go(f"/mtss/programs/{program['id']}/calendar")
        page.get_by_role("heading", name="Program calendar").wait_for()
        cal = page.get_by_role("table").first
        assert "Week of" in cal.locator("caption").inner_text()
        console.check("mtss-calendar-week")
        page.get_by_role("button", name="Month", exact=True).click()
        assert page.get_by_role("button", name="Month", exact=True).get_attribute("aria-pressed") == "true"
        console.check("mtss-calendar-month")
        # At phone width the month is a list of the days that have sessions, with no sideways scroll.
        page.set_viewport_size(PHONE)  # type: ignore[arg-type]
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        console.check("mtss-calendar-phone")
        page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
        page.get_by_role("button", name="Week", exact=True).click()

        # Move tomorrow's session onto the day after's: the same room at the same time.
        _session_button(page, program, tomorrow).click()
        page.get_by_role("heading", name="Session on").wait_for()
        page.get_by_label("Date").fill(after)
        page.get_by_role("button", name="Save changes").click()
        alert = page.get_by_role("alert")
        alert.wait_for()
        words = alert.inner_text()
        assert "double-book" in words and f"Room “{program['room']}”" in words, words
        assert "of this program" in words  # the session it collides with, by its day and time
        # Nothing changed in the API.
        now = _ok(rest(mesh, "GET", f"/v1/mtss/interventions/{program['id']}/sessions", token=admin["token"]))
        assert [s["localDate"] for s in now["sessions"]].count(after) == 1
        assert next(s for s in now["sessions"] if s["id"] == theirs["id"])["startTime"] == theirs["startTime"]

        # A move to the afternoon is fine: the calendar shows it at its new time.
        page.get_by_label("Date").fill(tomorrow)
        page.get_by_label("Starts at (UTC)").fill("14:30")
        page.get_by_label("Note (why it changed)").fill("assembly in the morning")
        page.get_by_role("button", name="Save changes").click()
        page.get_by_role("status").filter(has_text="The session was changed").wait_for()
        assert page.locator("button.session", has_text="14:30").count() == 1

        # Cancel the day after's session.
        _session_button(page, program, after).click()
        page.get_by_role("button", name="Cancel this session").click()
        page.locator("button.session.cancelled").first.wait_for()
        moved = _ok(
            rest(mesh, "GET", f"/v1/mtss/interventions/{program['id']}/sessions", token=admin["token"])
        )
        by_id = {s["id"]: s for s in moved["sessions"]}
        assert by_id[theirs["id"]]["status"] == "SESSION_STATUS_CANCELLED"
        moved_one = next(s for s in moved["sessions"] if s["localDate"] == tomorrow)
        assert (
            moved_one["startTime"].startswith(f"{tomorrow}T14:30")
            and moved_one["note"] == "assembly in the morning"
        )
    finally:
        page.context.close()


def _session_button(page, program, day: str):
    """The calendar's button for the program's session on `day`, paging to the next week if needed."""
    session = next(s for s in program["sessions"] if s["localDate"] == day)
    button = page.locator(f'button[data-session="{session["id"]}"]')
    if button.count() == 0:
        page.get_by_role("button", name="Next week").click()
    return button


def test_a_students_progress_chart_notes_and_caregiver_messages(mesh, browser, admin):
    cleo = _student(mesh, admin, "Cleo Chart")
    program = _program(mesh, admin, begin_days_ago=49, students=(cleo,))
    for week in range(1, 7):
        on = (program["begin"] + timedelta(weeks=week)).isoformat()
        entry = {
            "studentId": cleo["id"],
            "date": on,
            "score": 20 + 4 * week + 3 * (week % 2),
            "note": f"probe {week}",
        }
        _ok(
            rest(
                mesh, "POST", f"/v1/mtss/interventions/{program['id']}/progress", entry, token=admin["token"]
            )
        )

    caregiver = _ok(
        rest(
            mesh,
            "POST",
            "/v1/users",
            {
                "user": {"email": f"carer-{uuid.uuid4().hex[:8]}@demo.test", "roles": ["ROLE_CAREGIVER"]},
                "password": STUDENT_PASSWORD,
            },
            token=admin["token"],
        )
    )
    _ok(
        rest(
            mesh,
            "POST",
            "/v1/mtss/caregiverLinks",
            {"caregiverId": caregiver["id"], "studentId": cleo["id"]},
            token=admin["token"],
        )
    )

    console = sign_in(browser, mesh, "admin@demo.test", viewport=PHONE)
    page = console.page
    try:
        console.go(f"/mtss/programs/{program['id']}/students/{cleo['id']}")
        page.get_by_role("heading", name="Cleo Chart: progress").wait_for()
        chart = page.get_by_role("img", name="Progress on")
        chart.wait_for()
        legend = page.locator("figure.chart figcaption").inner_text()
        for name in ("Scores", "Aimline", "Trend", "Projection"):
            assert name in legend, legend
        # Six scores: the analysis has a verdict, shown in words with its numbers.
        dash = _ok(
            rest(
                mesh,
                "GET",
                f"/v1/mtss/interventions/{program['id']}/students/{cleo['id']}/dashboard",
                token=admin["token"],
            )
        )
        assert dash["analysis"]["points"] == 6
        slope = f"{round(dash['analysis']['olsSlope'], 2)} a week"
        assert slope in page.locator("dl.facts").inner_text()
        # No sideways scroll at phone width.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        console.check("mtss-student-chart")

        # A progress note through the form appears in the notes.
        page.get_by_label("Score (optional)").fill("47")
        page.get_by_role("textbox", name="Note", exact=True).fill("read the whole passage")
        page.get_by_role("button", name="Record progress").click()
        page.get_by_text("read the whole passage").wait_for()
        history = _ok(
            rest(
                mesh,
                "GET",
                f"/v1/mtss/interventions/{program['id']}/students/{cleo['id']}/dashboard",
                token=admin["token"],
            )
        )["history"]
        assert history[-1]["note"] == "read the whole passage" and history[-1]["score"] == 47

        # A caregiver message goes out and its delivery status is listed, as the API logged it.
        page.get_by_role("button", name="Send").click()
        log = page.get_by_role("table", name="Caregiver messages")
        log.wait_for()
        logged = _ok(
            rest(mesh, "GET", f"/v1/mtss/students/{cleo['id']}/communications", token=admin["token"])
        )
        assert len(logged["communications"]) == 1
        assert "Progress summary" in log.inner_text()
        assert any(word in log.inner_text() for word in ("Queued", "Sent", "Failed"))

        # Confirming an exit the criteria did not recommend needs the team's reason: the API says why not.
        page.get_by_role("button", name="Confirm exit").click()
        page.get_by_role("alert").filter(has_text="exit criteria are not met").wait_for()
        page.get_by_label("Reason for exiting without a recommendation").fill("moved to another school")
        page.get_by_role("button", name="Confirm exit").click()
        page.get_by_text("Exited on").wait_for()
        exited = _ok(
            rest(
                mesh,
                "GET",
                f"/v1/mtss/interventions/{program['id']}/students/{cleo['id']}/dashboard",
                token=admin["token"],
            )
        )
        assert exited["enrollment"]["status"] == "ENROLLMENT_STATUS_EXITED"
    finally:
        page.context.close()


def test_the_new_program_form_names_missing_fields_then_creates(mesh, as_admin):
    page = as_admin.page
    as_admin.go("/mtss/programs/new")
    page.get_by_role("heading", name="New intervention program").wait_for()
    page.get_by_label("Repeats (RFC 5545 rule)").fill("")
    page.get_by_role("button", name="Create program").click()
    objectives = page.get_by_label("Objectives, one a line")
    page.locator("small.field-error").first.wait_for()
    assert objectives.get_attribute("aria-invalid") == "true"
    as_admin.check("mtss-new-program")

    name = f"Math group {uuid.uuid4().hex[:4]}"
    template = page.locator("select[name=templateKey]")
    template.select_option(label=template.locator("option", has_text="Math fluency").inner_text())
    page.locator("input[name=name]").fill(name)
    page.get_by_label("Objectives, one a line").fill("Add within 20 fluently")
    page.get_by_label("Room").fill(f"Room {uuid.uuid4().hex[:6]}")
    page.get_by_label("School time zone").fill("UTC")
    page.locator("input[name=baseline]").fill("10")
    page.locator("input[name=target]").fill("40")
    page.get_by_role("button", name="Create program").click()
    page.get_by_role("heading", name=name).wait_for()
    assert "/mtss/programs/" in page.url
    # The programs page finds it by a piece of its name (the tenant has many from other tests).
    as_admin.go("/mtss/programs")
    page.get_by_label("Find by name or code").fill(name.split()[-1])
    expect(page.get_by_role("row")).to_have_count(2)  # the header and this program, once filtered
    page.get_by_role("link", name=name).wait_for()
    as_admin.check("mtss-programs")


def test_enrollment_by_hand_and_from_a_risk_list_after_a_dry_run(mesh, as_admin, admin):
    tag = uuid.uuid4().hex[:4]
    dan, eve, flo = (_student(mesh, admin, f"{n} {tag}") for n in ("Dan Hand", "Eve Risky", "Flo Fine"))
    program = _program(mesh, admin)
    page = as_admin.page
    as_admin.go(f"/mtss/programs/{program['id']}")
    page.get_by_role("heading", name=program["name"]).wait_for()
    assert "No students enrolled yet" in page.locator("main").inner_text()

    # By hand: tick the student, give the reason, Enroll.
    page.get_by_label(dan["name"]).check()
    page.get_by_role("textbox", name="Reason", exact=True).fill("teacher referral")
    page.get_by_role("button", name="Enroll", exact=True).click()
    page.get_by_role("status").filter(has_text="1 student enrolled").wait_for()
    students = page.get_by_role("table", name="Students in this program")
    students.get_by_role("link", name=dan["name"]).wait_for()

    # From a risk list: the preview says who would be enrolled and why not, and stores nothing.
    page.get_by_text("From a risk list").click()
    csv = f"student_id,risk,reason\n{eve['id']},0.9,below benchmark\n{flo['id']},0.1,\n{dan['id']},0.7,\n"
    page.get_by_label("Risk list (CSV: student_id,risk[,reason])").fill(csv)
    page.get_by_role("button", name="Preview (nothing is stored)").click()
    preview = page.get_by_role("table", name="Who the risk list would enroll")
    preview.wait_for()
    rows = {
        n: preview.get_by_role("row").filter(has_text=n).inner_text()
        for n in (eve["name"], flo["name"], dan["name"])
    }
    assert "Will be enrolled" in rows[eve["name"]]
    assert "Not enrolled" in rows[flo["name"]] and "Not enrolled" in rows[dan["name"]]
    assert set(_rows(mesh, admin, program["id"])) == {dan["id"]}  # the dry run stored nothing
    as_admin.check("mtss-enrollment")

    page.get_by_role("button", name="Enroll 1 eligible student").click()
    page.get_by_role("status").filter(has_text="1 student enrolled from the risk list").wait_for()
    students.get_by_role("link", name=eve["name"]).wait_for()
    stored = _rows(mesh, admin, program["id"])
    assert set(stored) == {dan["id"], eve["id"]}

    # A withdrawal from the student's page ends the enrollment; nothing is deleted.
    students.get_by_role("link", name=dan["name"]).click()
    page.get_by_role("heading", name=f"{dan['name']}: progress").wait_for()
    page.get_by_text("Withdraw from the program").click()
    page.get_by_role("textbox", name="Why").fill("moved to the afternoon group")
    page.get_by_role("button", name="Withdraw", exact=True).click()
    page.get_by_text("Withdrawn: no exit to confirm").wait_for()
    assert _rows(mesh, admin, program["id"])[dan["id"]]["status"] == "ENROLLMENT_STATUS_WITHDRAWN"
