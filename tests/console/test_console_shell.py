"""The console's shell in a real browser: sign-in (and its errors in words), the navigation each role
gets, a reload that stays signed in, an unknown page, and a phone-sized screen."""

from __future__ import annotations

from services.runtime.local.chromium import PHONE
from tests.console.conftest import Console, sign_in


def test_a_wrong_password_is_said_in_words_and_a_right_one_signs_in(browser, mesh):
    context = browser.new_context()
    page = context.new_page()
    page.goto(mesh.rest_url + "/")
    console = Console(page, mesh)
    console.check("sign-in")
    page.get_by_label("Email").fill("teacher@demo.test")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "password" in alert.inner_text().lower() or "invalid" in alert.inner_text().lower()
    page.get_by_label("Password").fill("learnflow-demo")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Welcome, Tomás Teacher").wait_for()
    context.close()


def test_each_role_sees_its_own_areas(browser, mesh):
    student = sign_in(browser, mesh, "student@demo.test")
    nav = student.page.get_by_role("navigation", name="Main")
    assert nav.get_by_text("Learn").count() == 1
    assert nav.get_by_text("Operate").count() == 0
    student.check("home-student")
    student.page.context.close()
    # A page of another role, opened by its address, says so instead of failing.
    teacher = sign_in(browser, mesh, "teacher@demo.test")
    teacher.go("/learn/ask")
    teacher.page.get_by_role("heading", name="Not for this account").wait_for()
    teacher.page.context.close()


def test_a_reload_keeps_the_session_and_an_unknown_page_says_so(as_student):
    page = as_student.page
    page.reload()
    page.get_by_role("button", name="Sign out").wait_for()
    as_student.go("/no/such/page")
    page.get_by_role("heading", name="Page not found").wait_for()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in").wait_for()


def test_the_console_works_on_a_phone(browser, mesh):
    phone = sign_in(browser, mesh, "teacher@demo.test", viewport=PHONE)
    width = phone.page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"the page scrolls sideways on a phone ({width}px wide)"
    phone.check("home-teacher-phone")
    phone.page.context.close()
