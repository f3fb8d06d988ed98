"""Browser tests of the web console (docs/console.md): Playwright driving Debian's Chromium against the
session's mesh, which serves the console through Envoy at /. Every page a test visits is checked with
axe-core (no serious or critical violation) and photographed into test-artifacts/console/.

Playwright's own browser download is not reachable from these machines; Debian's chromium is
(`make setup` installs it, as it installs bubblewrap)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.runtime.local.chromium import CHROMIUM, DESKTOP, launch
from services.runtime.local.demo import DEMO_PASSWORD
from services.runtime.local.mesh import LocalMesh

REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "console" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(os.environ.get("LEARNFLOW_TEST_ARTIFACTS", REPO / "test-artifacts")) / "console"


# Per module, not per session: Playwright's sync API keeps an event loop running on this thread while it
# is open, and every later test that calls asyncio.run() would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: `make setup` installs Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


class Console:
    """One signed-in browser tab on the console."""

    def __init__(self, page: object, mesh: LocalMesh) -> None:
        from playwright.sync_api import Page

        assert isinstance(page, Page)
        self.page = page
        self.mesh = mesh

    def go(self, path: str) -> None:
        self.page.goto(self.mesh.rest_url + path)

    def check(self, name: str) -> None:
        """axe-core on the page as it stands (no serious or critical violation), then a screenshot."""
        page = self.page
        # Not "networkidle": a page with a live stream (SSE) never is. Its loading states are gone.
        page.wait_for_load_state("load")
        # A function, not an expression string: Playwright evaluates a bare expression with eval, which
        # the console's Content-Security-Policy refuses (no 'unsafe-eval') while it polls.
        page.wait_for_function(
            "() => document.querySelectorAll('[role=status][aria-busy=true]').length === 0"
        )
        # Evaluated over the DevTools protocol, which the console's Content-Security-Policy (no inline
        # script) does not govern; a <script> tag would be refused, as it should be.
        page.evaluate(AXE.read_text() + "\n;void 0")
        result = page.evaluate(
            "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
            " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})); }"
        )
        bad = [v for v in result if v["impact"] in ("serious", "critical")]
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        # JPEG: a full page is a tenth of its PNG, and docs/console/ keeps a set of them.
        shot = ARTIFACTS / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.jpg"
        page.screenshot(path=str(shot), full_page=True, type="jpeg", quality=75)
        assert not bad, f"{name}: accessibility violations:\n{json.dumps(bad, indent=2)}"


def sign_in(browser: object, mesh: LocalMesh, email: str, *, viewport: dict[str, int] = DESKTOP) -> Console:
    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    page = context.new_page()
    page.set_default_timeout(15_000)
    console = Console(page, mesh)
    console.go("/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()
    return console


def _signed_in(email: str):
    """A fixture: a tab signed in as this demo user, closed after the test."""

    @pytest.fixture
    def fixture(browser: object, mesh: LocalMesh) -> Iterator[Console]:
        c = sign_in(browser, mesh, email)
        yield c
        c.page.context.close()

    return fixture


as_student = _signed_in("student@demo.test")
as_teacher = _signed_in("teacher@demo.test")
as_admin = _signed_in("admin@demo.test")
as_operator = _signed_in("operator@demo.test")
as_facilitator = _signed_in("facilitator@demo.test")
