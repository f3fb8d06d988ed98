"""The student's pages in the browser: run code in the sandbox (an error marks its line in the editor,
the fix runs OK), practise an exercise and have it graded, see their progress with charts, and read
their in-app messages."""

from __future__ import annotations

import re
import time
import uuid

from playwright.sync_api import expect

from services.runtime.local.chromium import PHONE
from services.runtime.testing import login, rest
from tests.console.conftest import sign_in

BROKEN = "total = 3\nprint(totl * 2)\n"
FIXED = "total = 3\nprint(total * 2)\n"
LONG_LINE = "word = 'a fairly long line of code that has to wrap on a phone screen'\nprint(wrod)\n"


def _replace_code(page, text: str, name: str = "Code") -> None:
    """Select everything in the editor and type over it, as a user would (insert_text: no auto-closed
    brackets or auto-indent to fight)."""
    page.get_by_role("textbox", name=name).click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(text)


def test_the_student_runs_code_sees_the_error_line_asks_the_tutor_and_the_fix_runs_ok(as_student):
    page = as_student.page
    as_student.go("/learn/code")
    page.get_by_role("heading", name="Code editor").wait_for()
    _replace_code(page, BROKEN)
    page.get_by_role("button", name="Run", exact=True).click()

    result = page.get_by_role("region", name="Run result")
    result.get_by_text("Runtime error").wait_for()
    assert "NameError on line 2" in result.get_by_role("alert").inner_text()
    # The editor marks line 2, the one with the typo, and only it.
    marked = page.locator(".cm-line.cm-error-line")
    marked.wait_for()
    assert marked.count() == 1 and marked.inner_text() == "print(totl * 2)"
    assert marked.get_attribute("data-error-line") == "2"
    # "Go to line 2" puts the cursor on that line, for a keyboard user.
    result.get_by_role("button", name="Go to line 2").click()
    selected = page.evaluate("() => getSelection().toString()")
    assert selected == "print(totl * 2)"
    as_student.check("student-code-error")

    # Stuck: the failed run goes to the tutor with its code and error attached, and the tutor answers.
    page.get_by_role("button", name="Ask the tutor about this error").click()
    page.get_by_role("heading", name="Ask the tutor").wait_for()
    assert page.get_by_label("Your question").input_value() == "Why do I get NameError on line 2?"
    # (By name attribute: a label's accessible name takes in the text of the textarea inside it.)
    assert page.locator("textarea[name=code]").input_value() == BROKEN
    assert "NameError" in page.locator("textarea[name=error]").input_value()
    page.get_by_role("button", name="Ask", exact=True).click()
    page.get_by_role("article", name="Tutor").first.wait_for()
    assert page.locator("textarea[name=code]").input_value() == ""  # sent, so the form is clear again

    # Back on the code page the code is still there (kept for the tab); the fix runs OK.
    as_student.go("/learn/code")
    page.get_by_role("heading", name="Code editor").wait_for()
    assert page.get_by_role("textbox", name="Code").inner_text().startswith("total = 3\nprint(totl * 2)")
    _replace_code(page, FIXED)
    page.get_by_role("button", name="Run", exact=True).click()
    result.get_by_text("OK", exact=True).wait_for()
    assert result.get_by_test_id("stdout").inner_text().strip() == "6"
    assert page.locator(".cm-error-line").count() == 0
    as_student.check("student-code-ok")


def test_the_student_keyboard_runs_code_with_ctrl_enter(as_student):
    page = as_student.page
    as_student.go("/learn/code")
    page.get_by_role("heading", name="Code editor").wait_for()
    _replace_code(page, "print(1 / 0)\n")
    page.keyboard.press("Control+Enter")
    result = page.get_by_role("region", name="Run result")
    result.get_by_text("Runtime error").wait_for()
    assert "ZeroDivisionError on line 1" in result.get_by_role("alert").inner_text()


def test_the_student_gets_an_exercise_and_it_is_graded(as_student):
    page = as_student.page
    as_student.go("/learn/exercises")
    page.get_by_role("heading", name="Exercises").wait_for()
    page.get_by_label("Topic").select_option("loops")
    page.get_by_role("button", name="Get an exercise").click()
    exercise = page.get_by_role("article")
    # Generated, then checked in the sandbox before the student sees it: it can take a while.
    exercise.get_by_role("heading", level=2).wait_for(timeout=60_000)
    counts = exercise.locator("header small").inner_text()
    visible, hidden = (int(n) for n in re.search(r"(\d+) visible and (\d+) hidden", counts).groups())  # type: ignore[union-attr]
    as_student.check("student-exercise")
    page.get_by_role("button", name="Submit for grading").click()
    grading = page.get_by_role("region", name="Grading result")
    grading.wait_for()
    score = grading.get_by_role("heading", level=2).inner_text()
    passed, total = (int(n) for n in re.search(r"(\d+) / (\d+) passed", score).groups())  # type: ignore[union-attr]
    # Every case of the exercise is graded, one row each, and the rows add up to the score.
    assert total == visible + hidden >= 1, (score, counts)
    assert grading.get_by_role("row").count() == total + 1  # a header row, then one row per case
    assert grading.get_by_text("Passed", exact=True).count() == passed
    assert grading.get_by_text("Failed", exact=True).count() == total - passed


def test_the_student_sees_their_progress_with_charts(mesh, as_student):
    # A graded exercise attempt recorded through the API: the page must chart its score.
    student = login(mesh, "student@demo.test")
    me = rest(mesh, "GET", "/v1/users/me", token=student).body["id"]
    recorded = rest(
        mesh,
        "POST",
        "/v1/activities",
        {
            "id": f"console-{uuid.uuid4().hex[:10]}",
            "studentId": me,
            "topic": "strings",
            "kind": "ACTIVITY_KIND_EXERCISE_ATTEMPT",
            "score": 0.75,
        },
        token=student,
    )
    assert recorded.status == 200, recorded.body
    page = as_student.page
    as_student.go("/learn/progress")
    page.get_by_role("heading", name="My progress").wait_for()
    row = (
        page.get_by_role("table")
        .first.get_by_role("row")
        .filter(has=page.get_by_role("rowheader", name="strings"))
    )
    row.wait_for()
    assert "%" in row.inner_text()
    chart = page.get_by_role("img", name="Scores of graded work over time, by topic")
    chart.wait_for()
    page.get_by_role("img", name="Activity per day").wait_for()
    as_student.check("student-progress")


def test_the_student_reads_a_message_and_marks_it_read(mesh, as_student):
    teacher = login(mesh, "teacher@demo.test")
    student = login(mesh, "student@demo.test")
    me = rest(mesh, "GET", "/v1/users/me", token=student).body["id"]
    name = f"console-{uuid.uuid4().hex[:6]}"
    made = rest(
        mesh,
        "POST",
        "/v1/notify/templates",
        {"name": name, "subject": "Practice {{ task }}", "body": "Try the {{ task }} exercises today."},
        token=teacher,
    )
    assert made.status == 200, made.body
    task = f"loops-{uuid.uuid4().hex[:4]}"
    sent = rest(
        mesh,
        "POST",
        "/v1/notify/messages:send",
        {
            "channel": "in_app",
            "recipientId": me,
            "template": name,
            "variables": [{"name": "task", "value": task}],
        },
        token=teacher,
    )
    assert sent.status == 200, sent.body
    deadline = time.monotonic() + 20
    while not any(
        m["id"] == sent.body["id"]
        for m in rest(mesh, "GET", "/v1/notify/inbox?unreadOnly=true", token=student).body.get("messages", [])
    ):
        assert time.monotonic() < deadline, "the in-app message never reached the inbox"
        time.sleep(0.2)

    page = as_student.page
    as_student.go("/learn/inbox")
    page.get_by_role("heading", name="Inbox").wait_for()
    page.get_by_role("switch", name="Unread only").check()
    row = page.get_by_role("row").filter(has_text=f"Practice {task}")
    row.wait_for()
    assert "Unread" in row.inner_text()
    as_student.check("student-inbox")
    row.get_by_role("button", name="Mark read").click()
    row.get_by_text("Read", exact=True).wait_for()
    unread = rest(mesh, "GET", "/v1/notify/inbox?unreadOnly=true", token=student).body.get("messages", [])
    assert sent.body["id"] not in [m["id"] for m in unread]


def test_the_student_pages_fit_a_phone(browser, mesh):
    phone = sign_in(browser, mesh, "student@demo.test", viewport=PHONE)
    page = phone.page
    try:
        for path, title in (
            ("/learn/code", "Code editor"),
            ("/learn/exercises", "Exercises"),
            ("/learn/progress", "My progress"),
            ("/learn/inbox", "Inbox"),
        ):
            phone.go(path)
            page.get_by_role("heading", name=title, exact=True).wait_for()
            expect(page.locator("[aria-busy=true]")).to_have_count(0)  # no eval: the CSP forbids it
            if path == "/learn/code":  # with a run's diagnosis and output on the page
                _replace_code(page, LONG_LINE)
                page.get_by_role("button", name="Run", exact=True).click()
                page.get_by_text("NameError on line 2").wait_for()
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"] + 1, f"{path} scrolls sideways on a phone ({width}px wide)"
        phone.check("student-progress-phone")
    finally:
        page.context.close()


def test_code_over_the_size_limit_is_refused_with_the_reason_under_the_editor(as_student):
    page = as_student.page
    as_student.go("/learn/code")
    page.get_by_role("heading", name="Code editor").wait_for()
    # One comment line of 66,000 characters: the API takes at most 65,536. (A 1 MiB stdin would test
    # the same through a plain field, but Envoy's transcoder refuses such a body before the API sees it.)
    _replace_code(page, "#" + "x" * 66_000)
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_role("alert").filter(has_text="code").wait_for()
    # The field violation is the editor's description, so a screen reader reads it with the editor.
    editor = page.get_by_role("textbox", name="Code")
    described = page.locator(f"#{editor.get_attribute('aria-describedby')}")
    assert "Python 3" not in described.inner_text(), "the violation is not shown under the editor"
    assert page.get_by_role("region", name="Run result").count() == 0
