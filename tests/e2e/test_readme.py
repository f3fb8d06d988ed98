"""README.md's walk-throughs as a newcomer runs them: every shell block README.md marks with MARKER
goes to bash unchanged, from the repository root, against the session mesh, with only the port
variables README.md names set to the session mesh's ports (as a shell that started a second mesh has
them). A README edit that breaks a command, or a change to the demo seed that empties the teacher's
list, fails here."""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.runtime.contexts import REPO_ROOT
from services.runtime.testing import login, rest

MARKER = "<!-- tests/e2e/test_readme.py runs this block as it is -->"
LEARNFLOW = REPO_ROOT / ".venv" / "bin" / "learnflow"


def _blocks() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text()
    return re.findall(re.escape(MARKER) + r"\n```sh\n(.*?)\n```", text, re.S)


def _block(*needles: str) -> str:
    found = [b for b in _blocks() if all(n in b for n in needles)]
    assert len(found) == 1, f"README.md has no single tested block with {needles}"
    return found[0]


def _bash(script: str, mesh, home: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEARNFLOW_")}
    env.update(
        HOME=str(home), LEARNFLOW_HTTP_PORT=str(mesh.ports.http), LEARNFLOW_GRPC_PORT=str(mesh.ports.grpc)
    )
    done = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _documents(output: str) -> list[dict]:
    """The JSON documents the CLI printed one after another."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(output):
        if output[at].isspace():
            at += 1
            continue
        doc, at = decoder.raw_decode(output, at)
        found.append(doc)
    return found


def test_readme_marks_its_walkthroughs():
    assert len(_blocks()) == 3
    struggle = _block("/v1/struggleAlerts")
    assert struggle.count("/v1/executions") == 1 and "for attempt in 1 2 3" in struggle


def test_the_demo_student_s_three_name_errors_show_in_the_teacher_s_alerts(mesh, tmp_path):
    block = _block("/v1/struggleAlerts")
    student = rest(mesh, "GET", "/v1/users/me", token=login(mesh, "student@demo.test")).body["id"]
    # Earlier tests may have left the demo student an open alert: end it, so only the README's runs
    # can open the one this test looks for (a resolved episode lets the next detection open a new one).
    admin = login(mesh, "admin@demo.test")
    for alert in rest(mesh, "GET", f"/v1/struggleAlerts?studentId={student}", token=admin).body.get(
        "alerts", []
    ):
        assert rest(mesh, "POST", f"/v1/struggleAlerts/{alert['id']}:resolve", {}, token=admin).status == 200
    began = datetime.now(UTC) - timedelta(seconds=1)

    # README says: run the last line again while the list is empty. So does the test, up to 20 s.
    last = block.strip().splitlines()[-1]
    assert last.startswith("curl -s $API/v1/struggleAlerts")
    again = (
        f'\necho\nfor _ in $(seq 40); do case "$({last})" in *NameError*) break;; esac; sleep 0.5; done'
        f"\n{last}\n"
    )
    out = _bash(block + again, mesh, tmp_path).splitlines()

    assert out[:3] == ["NameError"] * 3, out
    alerts = json.loads(out[-1])["alerts"]
    mine = [a for a in alerts if a["studentId"] == student]
    assert len(mine) == 1, alerts
    alert = mine[0]
    assert (alert["rule"], alert["key"], alert["state"]) == (
        "repeated_error",
        "NameError",
        "ALERT_STATE_OPEN",
    )
    assert datetime.fromisoformat(alert["createTime"].replace("Z", "+00:00")) >= began


@pytest.mark.skipif(
    not LEARNFLOW.exists(), reason="README.md's commands use .venv/bin/learnflow (make setup)"
)
def test_the_readme_creates_a_user_and_a_class_with_the_cli(mesh, tmp_path):
    block = _block("users create")
    docs = _documents(_bash(block, mesh, tmp_path))
    admin, user, klass, listed, relogin = docs
    assert admin["logged_in_as"] == "admin@demo.test"
    assert user["email"] == "lin@demo.test" and user["roles"] == ["ROLE_STUDENT"]
    assert klass["studentIds"] == [user["id"]]
    assert "lin@demo.test" in {u["email"] for u in listed["users"]}
    assert relogin["logged_in_as"] == "lin@demo.test"
    token = tmp_path / ".config" / "learnflow" / "token"
    assert token.stat().st_mode & 0o777 == 0o600
    teacher = login(mesh, "teacher@demo.test")
    assert klass["teacherIds"] == [rest(mesh, "GET", "/v1/users/me", token=teacher).body["id"]]
    assert rest(mesh, "GET", f"/v1/students/{user['id']}/progress", token=teacher).status == 200


@pytest.mark.skipif(
    not LEARNFLOW.exists(), reason="README.md's commands use .venv/bin/learnflow (make setup)"
)
def test_the_readme_s_operator_creates_a_tenant_and_lists_dead_letters_and_jobs(mesh, tmp_path):
    block = _block("tenants create")
    operator, tenant, letters, jobs = _documents(_bash(block, mesh, tmp_path))
    assert operator["logged_in_as"] == "operator@demo.test"
    assert tenant["slug"] == "riverside" and tenant["displayName"] == "Riverside High"
    assert login(mesh, "head@riverside.test", "a-long-initial-password", tenant="riverside")
    assert isinstance(letters["deadLetters"], list) and isinstance(jobs["jobs"], list)
