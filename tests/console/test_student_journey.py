"""A student's journey in the browser: ask the tutor, see the answer stream in, climb the hint ladder."""

from __future__ import annotations


def test_the_student_asks_and_the_answer_streams_in_with_a_hint_ladder(as_student):
    page = as_student.page
    as_student.go("/learn/ask")
    page.get_by_role("heading", name="Ask the tutor").wait_for()
    page.get_by_label("Your question").fill("My loop never stops, why?")
    page.get_by_text("Attach code or an error").click()
    page.get_by_label("Code").fill("i = 0\nwhile i < 3:\n    print(i)\n")
    page.get_by_role("button", name="Ask", exact=True).click()
    tutor = page.get_by_role("article", name="Tutor").first
    tutor.wait_for()
    ladder = page.get_by_role("list", name="Hint ladder").first
    ladder.wait_for()
    assert "Where" in ladder.inner_text()
    page.get_by_role("button", name="Another hint").click()
    page.get_by_role("article", name="Tutor").nth(1).wait_for()
    as_student.check("student-ask")
