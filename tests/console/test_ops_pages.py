"""The operator's pages and the API reference, in the browser against the session's mesh.

The journey: an operator triggers research_to_docs with a topic, watches its steps complete live (the
run page's status changes without a reload) and sees the Notion page id, which the API then has too.
Around it: context health against the capability registry, a dead job redriven from the page, usage,
the activity monitor, and the API reference (its counts against the document, its quick start run
for real with curl). The reference's YAML reader is checked against PyYAML on the real document and
on what the generator's own dumper writes for awkward values."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import psycopg
import yaml

from gateway.generate import to_yaml
from services.runtime.local import node
from services.runtime.local.chromium import PHONE
from services.runtime.testing import login, rest
from tests.console.conftest import sign_in

REPO = Path(__file__).resolve().parents[2]
OPENAPI = REPO / "gateway" / "openapi.yaml"
METHODS = ("get", "post", "put", "patch", "delete")


def _parse_with_console(texts: list[str]) -> list[Any]:
    """Each text parsed by the console's YAML reader (console/src/pages/api/yaml.ts) under Node, which
    runs TypeScript by stripping its types; an error comes back as {"error": message}."""
    script = (
        "import {readFileSync} from 'node:fs'; import {parseYaml} from './src/pages/api/yaml.ts';"
        "const texts = JSON.parse(readFileSync(0, 'utf8'));"
        "process.stdout.write(JSON.stringify(texts.map((t) => {"
        " try { return {ok: parseYaml(t)}; } catch (e) { return {error: String(e.message)}; } })));"
    )
    out = subprocess.run(
        [str(node.node_bin()), "--no-warnings", "--input-type=module", "-e", script],
        cwd=node.CONSOLE,
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [r.get("ok", r) for r in json.loads(out)]


def test_the_reference_reads_yaml_as_pyyaml_does():
    awkward = {
        "quotes": "it's 'quoted' and \"double\"",
        "lines": "first line\nsecond line\n\n\nafter two blank lines  \n  indented",
        "control": "bell \x07 and tab \t here",
        "unicode": "naïve → ✓",
        "/v1/auth:login": {"post": {"security": [], "x-list": [[1, 2], [], {}]}},
        "'200'": {"$ref": "#/components/responses/Error"},
        "numbers": [0, -3, 2.5, 1e-3, "007", "1.0", "true", "null", ""],
        "flags": [True, False, None],
        "items": [{"name": "a", "in": "query", "schema": {"type": "string"}}, "plain: with colon", "- dash"],
        "long": "word " * 400,
    }
    texts = [OPENAPI.read_text(), to_yaml(awkward), "a: &x 1\nb: *x\n", "a: |\n  block\n"]
    ours = _parse_with_console(texts)
    assert ours[0] == json.loads(json.dumps(yaml.safe_load(texts[0])))
    assert ours[1] == json.loads(json.dumps(yaml.safe_load(texts[1])))
    # Outside the generator's subset: refused with its line, never misread.
    assert "line 1" in ours[2]["error"] and "unsupported" in ours[2]["error"]
    assert "line 1" in ours[3]["error"]


def _expected_reference() -> tuple[int, set[str]]:
    doc = yaml.safe_load(OPENAPI.read_text())
    ops = [op for item in doc["paths"].values() for m, op in item.items() if m in METHODS]
    return len(ops), {op["tags"][0] for op in ops}


def test_the_api_reference_lists_every_operation_and_its_quick_start_works(as_student, mesh):
    page = as_student.page
    as_student.go("/api")
    page.get_by_role("heading", name="API reference").wait_for()
    count, services = _expected_reference()
    summary = page.get_by_text(re.compile(r"operations in \d+ services"))
    summary.wait_for()
    assert f"{count} operations in {len(services)} services" in summary.inner_text()
    for name in services:
        assert page.get_by_role("heading", name=name, exact=True).is_visible()
    as_student.check("api-reference")

    # One operation, found by search and opened: its body and response fields as the document has them.
    page.get_by_label("Search operations").fill("/v1/workflows/runs")
    page.get_by_label("Service", exact=True).select_option("WorkflowsService")
    shown = page.get_by_role("status").filter(has_text="operations shown")
    assert re.search(r"^[1-9]\d* operations shown", shown.inner_text())
    assert not page.get_by_role("heading", name="IdentityService").is_visible()
    trigger = page.locator("details.operation").filter(has=page.locator(".method", has_text="POST"))
    trigger.filter(has=page.locator("code.path", has_text=re.compile(r"^/v1/workflows/runs$"))).locator(
        "summary"
    ).click()
    body = page.get_by_role("table", name="Request body: TriggerWorkflowRequest")
    body.wait_for()
    fields = body.locator("tbody tr td:first-child code").all_inner_texts()
    assert fields == ["template", "input", "idempotencyKey"]
    assert "required" in body.locator("tbody tr").first.inner_text()
    response = page.get_by_role("table", name="Response: WorkflowRun")
    assert "runId" in response.locator("tbody").first.inner_text()
    # A message-typed field opens onto its own fields.
    response.get_by_text("Fields of StepRun[]").click()
    steps = page.get_by_role("table", name="steps: StepRun[]")
    assert {"status", "output", "attempts", "startTime"} <= set(
        steps.locator("tbody tr td:first-child code").all_inner_texts()
    )
    assert "any signed-in caller" in page.locator("details.operation[open]").inner_text()
    as_student.check("api-reference-operation")

    # The quick start, run as a reader would paste it: sign in with curl, then a call.
    script = (
        page.get_by_test_id("quickstart-login").inner_text()
        + "\n"
        + page.get_by_test_id("quickstart-call").inner_text()
    )
    assert mesh.rest_url in script
    out = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert "research_to_docs" in {t["name"] for t in json.loads(out)["templates"]}

    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_an_operator_triggers_a_workflow_and_watches_its_steps_complete(as_operator, mesh):
    page = as_operator.page
    as_operator.go("/ops/workflows/new")
    page.get_by_role("heading", name="Trigger a workflow").wait_for()
    page.get_by_label("Template").select_option("research_to_docs")
    as_operator.check("ops-trigger")

    # Bad input: the API's field violation is shown and no run starts.
    topic = f"list comprehensions {uuid.uuid4().hex[:6]}"
    page.get_by_label("topic", exact=True).fill(topic)
    page.get_by_label("More inputs (optional)").fill("colour=blue")
    page.get_by_role("button", name="Start the run").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "input.colour" in alert.inner_text()
    assert page.url.endswith("/ops/workflows/new")

    # Every status the run page shows is recorded, to prove it changed live (no reload in between).
    page.evaluate(
        """() => { window.__statuses = [];
        new MutationObserver(() => { const s = document.querySelector('[data-testid=run-status] .badge');
          if (s && window.__statuses.at(-1) !== s.textContent) window.__statuses.push(s.textContent); })
        .observe(document.body, {subtree: true, childList: true, characterData: true}); }"""
    )
    page.get_by_label("More inputs (optional)").fill("difficulty=beginner")
    page.get_by_role("button", name="Start the run").click()
    page.wait_for_url(re.compile(r"/ops/workflows/runs/[^/]+$"))
    run_id = page.url.rsplit("/", 1)[1]
    status = page.get_by_test_id("run-status").locator(".badge")
    status.filter(has_text="succeeded").wait_for(timeout=60_000)
    notion_step = page.get_by_test_id("step-create_notion_page")
    assert "succeeded" in notion_step.inner_text()
    page_id = page.get_by_test_id("notion-page-id").inner_text()
    assert page_id
    seen = page.evaluate("window.__statuses")
    assert seen[0] == "running" and seen[-1] == "succeeded", seen
    as_operator.check("ops-run")

    token = login(mesh, "operator@demo.test")
    run = rest(mesh, "GET", f"/v1/workflows/runs/{run_id}", token=token).body
    assert run["status"] == "RUN_STATUS_SUCCEEDED"
    assert run["input"] == {"topic": topic, "difficulty": "beginner"}
    notion = next(s for s in run["steps"] if s["id"] == "create_notion_page")
    assert notion["output"]["page_id"] == page_id

    # The list has it, linked to its page.
    as_operator.go("/ops/workflows")
    row = page.get_by_role("row").filter(has_text=topic)
    row.wait_for()
    assert "succeeded" in row.inner_text()
    assert run_id in (row.get_by_role("link").get_attribute("href") or "")
    assert "8233" in (page.get_by_role("link", name=re.compile("Temporal UI")).get_attribute("href") or "")
    as_operator.check("ops-runs")
    page.get_by_label("Status").select_option("RUN_STATUS_FAILED")
    row.wait_for(state="detached")
    page.get_by_label("Status").select_option("RUN_STATUS_SUCCEEDED")
    row.wait_for()

    page.set_viewport_size(PHONE)
    as_operator.go(f"/ops/workflows/runs/{run_id}")
    page.get_by_test_id("notion-page-id").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def _superuser(mesh) -> psycopg.Connection:
    return psycopg.connect(
        mesh.migration_url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True
    )


def test_operator_pages_show_health_dead_work_usage_and_the_monitor(as_operator, mesh):
    page = as_operator.page
    token = login(mesh, "operator@demo.test")

    # A dead job (of a kind no runner takes, so once redriven it stays queued) and a dead letter.
    kind, reason = f"console-test-{uuid.uuid4().hex[:8]}", f"undecodable payload {uuid.uuid4().hex[:6]}"
    job_id, letter_id = uuid.uuid4(), uuid.uuid4()
    with _superuser(mesh) as db:
        found = db.execute("SELECT to_regclass('notify.jobs')").fetchone()
        schema = "notify" if found and found[0] else "progress"
        db.execute(
            f"INSERT INTO {schema}.jobs (id, kind, state, attempts, max_attempts, last_error)"
            " VALUES (%s, %s, 'dead', 5, 5, 'the recipient has no address')",
            (job_id, kind),
        )
        db.execute(
            f"INSERT INTO {schema}.dead_letters (id, consumer, subject, event_id, event_type, reason,"
            " deliveries, payload, headers) VALUES"
            " (%s, 'console-test', 'console.test', %s, 'console.test.v1', %s, 3, ''::bytea, '{}')",
            (letter_id, str(uuid.uuid4()), reason),
        )
    try:
        # Health: one card per context the registry lists, with its dead work.
        as_operator.go("/ops/health")
        page.get_by_text(re.compile(r"\d+ contexts live")).wait_for()
        registry = rest(mesh, "GET", "/v1/capabilities", token=token).body["capabilities"]
        contexts = {c["context"] for c in registry}
        assert {"identity", "workflows", "tutoring"} <= contexts
        live = page.get_by_text(re.compile(r"\d+ contexts live")).inner_text()
        assert live.startswith(f"{len(contexts)} contexts live")
        for name in contexts:
            assert page.get_by_role("heading", name=name, exact=True).is_visible()
        letters = rest(mesh, "GET", f"/v1/ops/deadLetters?context={schema}&pageSize=100", token=token).body
        jobs = rest(mesh, "GET", f"/v1/ops/deadJobs?context={schema}&pageSize=100", token=token).body
        n_letters, n_jobs = len(letters["deadLetters"]), len(jobs["jobs"])
        assert n_letters >= 1 and n_jobs >= 1
        assert re.match(
            rf"^{n_letters}\+? dead letters, {n_jobs}\+? dead jobs$",
            page.get_by_test_id(f"dead-{schema}").inner_text(),
        )
        as_operator.check("ops-health")

        page.on("dialog", lambda d: d.accept())
        as_operator.go("/ops/dead")
        page.get_by_label("Context").first.select_option(schema)
        letter = page.get_by_role("row").filter(has_text=reason)
        letter.wait_for()
        assert "3" in letter.inner_text()
        job = page.get_by_role("row").filter(has_text=kind)
        assert "5 of 5" in job.inner_text()
        as_operator.check("ops-dead")
        page.get_by_role("button", name=f"Redrive job {job_id}").click()
        notice = page.get_by_role("status").filter(has_text=f"Job {job_id} is queued")
        notice.wait_for()
        job.wait_for(state="detached")
        dead = rest(mesh, "GET", f"/v1/ops/deadJobs?context={schema}&pageSize=100", token=token).body
        assert str(job_id) not in {j["id"] for j in dead.get("jobs", [])}
    finally:
        with _superuser(mesh) as db:
            db.execute(f"DELETE FROM {schema}.jobs WHERE id = %s", (job_id,))
            db.execute(f"DELETE FROM {schema}.dead_letters WHERE id = %s", (letter_id,))

    # Usage: the operator's own (everyone's is for admins), as the API sums it.
    rest(
        mesh,
        "POST",
        "/v1/workflows/runs",
        {"template": "research_to_docs", "input": {"topic": "usage"}},
        token=token,
    )
    as_operator.go("/ops/usage")
    summary = page.get_by_role("status").filter(has_text="runs started")
    summary.wait_for()
    rows = rest(mesh, "GET", "/v1/workflows/usage?userId=me", token=token).body["rows"]
    started = sum(int(r["count"]) for r in rows if r["kind"] == "run" and r["outcome"] == "started")
    assert started >= 1
    # (Runs started are counted at the trigger; steps may still be landing from the run above.)
    assert summary.inner_text().startswith(f"{started} runs started")
    assert page.get_by_role("img", name="Usage records per day and kind").is_visible()
    as_operator.check("ops-usage")

    # The activity monitor, and where the third-party servers' messages are.
    as_operator.go("/ops/activity")
    page.get_by_text("Watermark age").wait_for()
    monitor = rest(mesh, "GET", "/v1/activity/monitor", token=token).body
    assert ("enabled" if monitor.get("enabled") else "disabled") in page.locator(".facts").inner_text()
    assert "8026" in (page.get_by_role("link", name="the provider inbox").get_attribute("href") or "")
    assert page.get_by_text("not operators").is_visible()
    as_operator.check("ops-activity")


def test_an_admin_sees_the_stored_activity_events_and_everyones_usage(browser, mesh):
    admin = sign_in(browser, mesh, "admin@demo.test")
    try:
        page = admin.page
        admin.go("/ops/activity")
        page.get_by_role("heading", name="Stored events").wait_for()
        page.locator("nav.pager").wait_for()
        assert not page.get_by_text("not operators").is_visible()
        admin.go("/ops/usage")
        page.get_by_label("Whose").wait_for()
        assert page.get_by_label("Whose").input_value() == ""  # everyone in the tenant
        page.get_by_role("status").filter(has_text="runs started").or_(
            page.get_by_text("No usage in these days.")
        ).wait_for()
        admin.check("ops-usage-admin")
    finally:
        admin.page.context.close()


def test_the_operator_pages_are_not_for_students(as_student):
    for path in ("/ops/health", "/ops/dead", "/ops/workflows", "/ops/usage"):
        as_student.go(path)
        as_student.page.get_by_role("heading", name="Not for this account").wait_for()
