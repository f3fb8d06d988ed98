"""The policy authors' and admins' pages in the browser (issue #17 item 5): a policy edited, refused with
its problem shown on its line, fixed, activated and rolled back (the version list changing each time, and
the API agreeing); the message log's filters; the audit trail and its chain verification; users created,
given roles and disabled; classes; alert settings; tenants.

Each test works on its own policy, user, class or tenant (a random suffix), so the session's other
tests, which share the demo tenant, see nothing they did not make themselves."""

from __future__ import annotations

import re
import time
import uuid

from services.notify.fakes.client import FakesClient
from services.runtime.local.chromium import PHONE
from services.runtime.testing import login, rest
from tests.console.conftest import sign_in

# A policy that never fires: a work session of at least 100,000 minutes (about ten weeks), in shadow
# mode besides, so activating it in the shared demo tenant changes no other test's decisions.
POLICY = """---
id: {id}
title: Console test policy that never fires
intervention: calm_break
mode: shadow
urgency: 30
cooldown_minutes: 60
when:
  signal: work.session
  all:
    - field: minutes
      at_least: 100000
message:
  subject: "Never sent"
  student: "Hi {{student_name}}, this is a test."
---

# Console test

Made by tests/console/test_admin_pages.py.
"""


def _versions(page) -> list[str]:
    """The version numbers the history table shows, top (newest) first."""
    rows = page.locator("tr[data-version]")
    return [rows.nth(i).get_attribute("data-version") or "" for i in range(rows.count())]


def _wait_versions(page, expected: list[str]) -> None:
    page.wait_for_function(
        "exp => JSON.stringify([...document.querySelectorAll('tr[data-version]')]"
        ".map(r => r.dataset.version)) === exp",
        arg=str(expected).replace("'", '"').replace(" ", ""),
    )


def _wait_rows_all(page, cells: str, text: str) -> None:
    """Waits until the list shows rows and every one of them (the cells selector) contains text: the
    list has been reloaded under a new filter."""
    page.wait_for_function(
        "([sel, t]) => { const c = [...document.querySelectorAll(sel)].map(e => e.textContent || '');"
        " return c.length > 0 && c.every(x => x.includes(t)); }",
        arg=[cells, text],
    )


def test_a_policy_is_edited_refused_on_its_line_fixed_activated_and_rolled_back(as_admin, mesh):
    page = as_admin.page
    admin = login(mesh, "admin@demo.test")
    policy_id = f"console_{uuid.uuid4().hex[:8]}"
    first = rest(
        mesh,
        "POST",
        "/v1/interventions/policies:activate",
        {
            "content": POLICY.format(id=policy_id),
            "fileName": f"{policy_id}.md",
            "reason": "set up by the test",
        },
        token=admin,
    )
    assert first.status == 200, first.body

    as_admin.go(f"/admin/policies/{policy_id}")
    page.get_by_role("heading", name=f"Policy {policy_id}").wait_for()
    editor = page.get_by_label("Policy file", exact=False)
    editor.wait_for()
    _wait_versions(page, ["1"])
    assert "urgency: 30" in editor.input_value()

    # An unknown intervention: the problem is marked on line 4, where the setting is.
    text = editor.input_value()
    bad_line = text.split("\n").index("intervention: calm_break") + 1
    editor.fill(text.replace("intervention: calm_break", "intervention: scold"))
    page.get_by_role("button", name="Check").click()
    marker = page.locator(f".gutter [data-line='{bad_line}'].problem")
    marker.wait_for()
    assert "scold" in (marker.get_attribute("title") or "")
    problem = page.locator(f".problems li[data-line='{bad_line}']")
    assert "scold" in problem.inner_text() and f"Line {bad_line}" in problem.inner_text()
    # Only that line is marked.
    assert page.locator(".gutter .problem").count() == 1
    # Activating it anyway is refused; the problem stays on its line and no version is added.
    page.get_by_role("button", name="Activate").click()
    page.locator(f".problems li[data-line='{bad_line}']").wait_for()
    assert _versions(page) == ["1"]
    as_admin.check("admin-policy-invalid")

    # Fixed (and the urgency raised): checked, then activated with a reason → version 2 in force.
    editor.fill(text.replace("urgency: 30", "urgency: 70"))
    page.get_by_role("button", name="Check").click()
    page.get_by_text("No problems").wait_for()
    assert page.locator(".gutter .problem").count() == 0
    # The backtest before activating: the week's stored signals replayed; this policy never fires.
    page.get_by_text("Backtest before activating").click()
    page.get_by_role("button", name="Run the backtest").click()
    result = page.get_by_role("region", name="What this edit would have changed")
    result.wait_for()
    assert "Signals replayed" in result.inner_text()
    assert "No decision would change." in result.inner_text()
    page.get_by_label("Reason for this change", exact=False).fill("more urgent")
    page.get_by_role("button", name="Activate").click()
    page.get_by_text(f"Version 2 of “{policy_id}” is now in force").wait_for()
    _wait_versions(page, ["2", "1"])
    in_force = rest(mesh, "GET", f"/v1/interventions/policies/{policy_id}?version=0", token=admin).body
    assert in_force["version"] == 2 and "urgency: 70" in in_force["content"]
    assert in_force["reason"] == "more urgent"

    # The difference between the two versions, setting by setting.
    changes = page.get_by_role("table", name="Settings changed from version 1 to 2")
    changes.wait_for()
    assert re.search(r"urgency\s*30\s*70", changes.inner_text())

    # Rolled back to version 1 with a reason → version 3 (version 1's text) in force.
    page.get_by_role("button", name="Roll back to 1").click()
    page.get_by_label("Why roll back to version 1?").fill("too many alerts")
    page.get_by_role("button", name="Roll back to version 1").click()
    page.get_by_text("Rolled back: version 3").wait_for()
    _wait_versions(page, ["3", "2", "1"])
    in_force = rest(mesh, "GET", f"/v1/interventions/policies/{policy_id}?version=0", token=admin).body
    assert in_force["version"] == 3 and in_force["source"] == "rollback"
    assert "urgency: 30" in in_force["content"] and in_force["reason"].endswith("too many alerts")
    page.wait_for_function("() => document.querySelector('#policy-text').value.includes('urgency: 30')")
    as_admin.check("admin-policy")

    # The policies list shows it in force at version 3.
    as_admin.go("/admin/policies")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=policy_id, exact=True)).first
    row.wait_for()
    assert "3" in row.inner_text().split()
    as_admin.check("admin-policies")

    # A new policy starts from a valid example (checked, not activated: the demo tenant keeps its set).
    page.get_by_role("button", name="New policy").click()
    page.get_by_role("heading", name="New policy").wait_for()
    page.get_by_role("button", name="Check").click()
    page.get_by_text("No problems: “my_policy” can be activated.").wait_for()


def test_the_policy_editor_fits_a_phone(browser, mesh):
    phone = sign_in(browser, mesh, "admin@demo.test", viewport=PHONE)
    phone.go("/admin/policies/review_concept")
    phone.page.get_by_role("heading", name="Policy review_concept").wait_for()
    phone.page.locator("tr[data-version]").first.wait_for()
    width = phone.page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"the policy page scrolls sideways on a phone ({width}px wide)"
    phone.check("admin-policy-phone")
    phone.page.context.close()


def test_users_are_created_given_roles_and_disabled(as_admin, mesh):
    page = as_admin.page
    admin = login(mesh, "admin@demo.test")
    # Users are listed by email: "a-…" sorts first, so the new user is on the first page.
    email = f"a-console-{uuid.uuid4().hex[:8]}@demo.test"
    as_admin.go("/admin/users")
    page.get_by_role("heading", name="Users").wait_for()
    page.get_by_text("Add a user").click()
    form = page.get_by_role("form", name="Add a user")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Name", exact=True).fill("Console Person")
    # A short password is refused by the API, said next to its field.
    form.get_by_label("Initial password").fill("short")
    form.evaluate("f => f.noValidate = true")
    form.get_by_role("button", name="Add the user").click()
    form.locator(".field-error").first.wait_for()
    form.get_by_label("Initial password").fill("a-long-enough-password")
    form.get_by_role("button", name="Add the user").click()
    page.get_by_text(f"{email} was added.").wait_for()

    # Only teachers: the new student is not listed; then made a teacher through the roles editor.
    role_filter = page.get_by_role("search", name="Filter users").get_by_label("Role")
    page.locator(f"tr[data-email='{email}']").wait_for()
    role_filter.select_option("ROLE_TEACHER")
    _wait_rows_all(page, "tr[data-email] td:nth-child(3)", "teacher")
    assert page.locator(f"tr[data-email='{email}']").count() == 0
    role_filter.select_option("")
    page.get_by_role("button", name=f"Roles of {email}: edit").click()
    roles = page.get_by_role("form", name=f"Roles of {email}")
    roles.get_by_label("teacher").check()
    roles.get_by_role("button", name="Save roles").click()
    page.get_by_text(f"Roles of {email} saved.").wait_for()
    role_filter.select_option("ROLE_TEACHER")
    _wait_rows_all(page, "tr[data-email] td:nth-child(3)", "teacher")
    page.locator(f"tr[data-email='{email}']").wait_for()

    page.get_by_role("button", name=f"Disable {email}").click()
    page.get_by_text(f"{email} is disabled").wait_for()
    page.locator(f"tr[data-email='{email}']").get_by_text("disabled").wait_for()
    listed = rest(mesh, "GET", "/v1/users?role=ROLE_TEACHER&pageSize=200", token=admin).body["users"]
    mine = next(u for u in listed if u["email"] == email)
    assert mine.get("disabled") is True and set(mine["roles"]) == {"ROLE_STUDENT", "ROLE_TEACHER"}
    as_admin.check("admin-users")


def test_classes_are_created_and_their_members_changed(as_admin, mesh):
    page = as_admin.page
    # Classes are listed by name: "A console class" sorts before the session's other classes.
    name = f"A console class {uuid.uuid4().hex[:6]}"
    as_admin.go("/admin/classes")
    page.get_by_role("heading", name="Classes").wait_for()
    page.get_by_text("Create a class").click()
    create = page.get_by_role("form", name="Create a class")
    create.get_by_label("Class name").fill(name)
    create.get_by_label("Teacher").select_option(label="Tomás Teacher")
    create.get_by_role("button", name="Create the class").click()
    page.get_by_text(f"Class “{name}” created.").wait_for()
    page.get_by_role("button", name=f"Members of {name}").click()
    add = page.get_by_role("form", name=f"Add a student to {name}")
    student = "Sam Student"
    add.get_by_label("Add a student").select_option(label=student)
    add.get_by_role("button", name="Add student").click()
    page.get_by_text(f"Members of “{name}” saved.").wait_for()
    row = page.get_by_role("row").filter(has_text=name).first
    row.filter(has_text=student).wait_for()
    admin = login(mesh, "admin@demo.test")
    classes = rest(mesh, "GET", "/v1/classes?pageSize=200", token=admin).body["classes"]
    made = next(c for c in classes if c["name"] == name)
    assert len(made["studentIds"]) == 1 and len(made["teacherIds"]) == 1
    as_admin.check("admin-classes")


def _failed_moodle_delivery(mesh, admin: str, recipient: str) -> str:
    """A delivery that fails at once: the local Moodle answers its one send "user does not exist"
    (a terminal error), then works again, so a redrive can succeed."""
    assert mesh.providers is not None, "the session mesh runs the local provider servers"
    providers = FakesClient(mesh.providers.url)
    rest(
        mesh,
        "POST",
        "/v1/notify/templates",
        {"name": "console.test", "subject": "Hi", "body": "Hello {{ who }}"},
        token=admin,
    )
    providers.fault("moodle", count=1, errormessage="The user does not exist")
    try:
        sent = rest(
            mesh,
            "POST",
            "/v1/notify/messages:send",
            {
                "channel": "moodle",
                "recipientId": recipient,
                "template": "console.test",
                "variables": [{"name": "who", "value": "console"}],
                "idempotencyKey": uuid.uuid4().hex,
            },
            token=admin,
        )
        assert sent.status == 200, sent.body
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            status = rest(mesh, "GET", f"/v1/notify/deliveries/{sent.body['id']}", token=admin).body["status"]
            if status == "DELIVERY_STATUS_FAILED":
                return str(sent.body["id"])
            time.sleep(0.2)
        raise AssertionError(f"the delivery did not fail: {status}")
    finally:
        providers.clear_fault("moodle")


def test_the_message_log_filters_redrives_and_the_audit_trail_verifies(as_admin, mesh):
    page = as_admin.page
    admin = login(mesh, "admin@demo.test")
    me = rest(mesh, "GET", "/v1/users/me", token=admin).body
    failed = _failed_moodle_delivery(mesh, admin, me["id"])

    as_admin.go("/admin/messages")
    page.get_by_role("heading", name="Message log").wait_for()
    page.get_by_label("Recipient (user id)").fill(me["id"])
    page.get_by_label("Recipient (user id)").press("Enter")
    row = page.locator(f"tr[data-delivery='{failed}']")
    row.wait_for()
    # A status no delivery of this recipient has empties the list, said in words.
    page.get_by_label("Status").select_option("DELIVERY_STATUS_DIGESTED")
    page.get_by_text("No message matches these filters.").wait_for()
    page.get_by_label("Status").select_option("DELIVERY_STATUS_FAILED")
    page.get_by_label("Channel").select_option("moodle")
    _wait_rows_all(page, "tr[data-delivery] td:nth-child(2)", "failed")
    assert "does not exist" in row.inner_text()
    as_admin.check("admin-messages")
    row.get_by_role("button", name="Redrive").click()
    page.get_by_text(f"Delivery {failed} queued again").wait_for()
    # Redriven, it no longer counts among the failed ones; the API has it queued or sent, noted.
    row.wait_for(state="detached")
    again = rest(mesh, "GET", f"/v1/notify/deliveries/{failed}", token=admin).body
    assert again["status"] != "DELIVERY_STATUS_FAILED", again
    assert "redriven" in [n.get("kind") for n in again.get("notes", [])], again.get("notes")

    as_admin.go("/admin/audit")
    page.get_by_role("heading", name="Audit trail").wait_for()
    page.get_by_role("button", name="Verify the chain").click()
    verdict = page.locator(".chain-ok, .chain-bad")
    verdict.wait_for()
    assert verdict.inner_text().startswith("Intact."), verdict.inner_text()
    page.get_by_label("Context").select_option("identity")
    _wait_rows_all(page, "table tbody tr td:nth-child(3) small", "identity")
    as_admin.check("admin-audit")


def test_alert_settings_and_tenants(as_admin, browser, mesh):
    page = as_admin.page
    admin = login(mesh, "admin@demo.test")
    as_admin.go("/admin/alerts")
    page.get_by_role("heading", name="Alert settings").wait_for()
    # Quiet hours: the admin's own, saved and read back through the API.
    page.get_by_role("button", name="Show").click()
    page.get_by_label("From (HH:MM)").fill("22:15")
    page.get_by_label("Until (HH:MM)").fill("06:45")
    page.get_by_label("Quiet hours on").check()
    page.get_by_role("button", name="Save quiet hours").click()
    page.get_by_text("Quiet hours saved: 22:15\u201306:45.").wait_for()
    saved = rest(mesh, "GET", "/v1/notify/quietHours", token=admin).body
    assert saved["start"] == "22:15" and saved["end"] == "06:45" and saved["enabled"] is True
    rest(
        mesh,
        "PUT",
        "/v1/notify/quietHours",
        {"start": "22:15", "end": "06:45", "enabled": False},
        token=admin,
    )

    # A template: opened, saved as a new version, previewed.
    name = f"console.alerts.{uuid.uuid4().hex[:6]}"
    rest(
        mesh,
        "POST",
        "/v1/notify/templates",
        {"name": name, "subject": "S", "body": "Dear {{ who }}"},
        token=admin,
    )
    page.get_by_label("Template name").fill(name)
    page.get_by_role("button", name="Open").click()
    page.get_by_label("Body").fill("Dear {{ who }}, again")
    page.get_by_role("button", name="Save as a new version").click()
    page.get_by_text(f"Version 2 of “{name}” saved").wait_for()
    page.get_by_role("button", name="Preview the saved version").click()
    preview = page.get_by_role("article", name="Preview")
    preview.wait_for()
    assert "Dear [who], again" in preview.inner_text()
    # The thresholds, read-only, as the rules file has them.
    thresholds = page.get_by_role("table", name="Alerting rules")
    assert "InterventionSlaBelowTarget" in thresholds.inner_text()
    assert "< 0.9" in thresholds.inner_text()
    as_admin.check("admin-alerts")

    # Tenants: an admin sees its own; an operator creates one, with its first admin, who can sign in.
    as_admin.go("/admin/tenants")
    page.get_by_role("heading", name="Tenants").wait_for()
    assert page.get_by_role("form", name="Create a tenant").count() == 0
    as_admin.check("admin-tenants")
    operator = sign_in(browser, mesh, "operator@demo.test")
    slug = f"console-{uuid.uuid4().hex[:6]}"
    operator.go("/admin/tenants")
    form = operator.page.get_by_role("form", name="Create a tenant")
    form.get_by_label("Short name", exact=False).fill(slug)
    form.get_by_label("Display name").fill("Console School")
    form.get_by_label("First admin's email").fill(f"admin@{slug}.test")
    form.get_by_label("First admin's password").fill("a-long-enough-password")
    form.get_by_role("button", name="Create the tenant").click()
    operator.page.get_by_role("status").filter(has_text=slug).wait_for()
    assert login(mesh, f"admin@{slug}.test", "a-long-enough-password", tenant=slug)
    operator.check("admin-tenants-operator")
    operator.page.context.close()
