"""The `learnflow` client commands as a user runs them: a subprocess against the session mesh, found
through the same variables as `learnflow up` (LEARNFLOW_GRPC_PORT), each failure one line on stderr
with a non-zero exit code and no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from services.runtime.contexts import REPO_ROOT
from services.runtime.local.procs import free_port
from services.runtime.testing import DEMO_PASSWORD, login, rest

NEW_PASSWORD = "a-long-initial-password"


class Cli:
    """`python -m services.runtime.cli ...` with its own token file and a clean address environment."""

    def __init__(self, home: Path, **env: str):
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("LEARNFLOW_") or k in ("LEARNFLOW_TEST_SECRET",)
        }
        self.env.update(HOME=str(home), LEARNFLOW_TOKEN_FILE=str(home / "token"), **env)

    def run(self, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "services.runtime.cli", *argv],
            cwd=REPO_ROOT,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )

    def ok(self, *argv: str, **env: str) -> dict:
        done = self.run(*argv, **env)
        assert done.returncode == 0, f"{argv}: {done.returncode} {done.stderr}"
        return json.loads(done.stdout)

    def fails(self, *argv: str, code: int = 1, **env: str) -> str:
        """The one line the command printed on failure."""
        done = self.run(*argv, **env)
        assert done.returncode == code, f"{argv}: {done.returncode} {done.stdout} {done.stderr}"
        assert done.stdout == ""
        assert "Traceback" not in done.stderr
        lines = done.stderr.splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("learnflow: ")
        return lines[0]

    def login(self, email: str, password: str = DEMO_PASSWORD, *argv: str) -> dict:
        return self.ok("login", "--email", email, *argv, LEARNFLOW_PASSWORD=password)


@pytest.fixture
def cli(mesh, tmp_path) -> Cli:
    """Finds the session mesh the way a shell that ran `learnflow up` would: LEARNFLOW_GRPC_PORT."""
    return Cli(tmp_path, LEARNFLOW_GRPC_PORT=str(mesh.ports.grpc))


def test_login_finds_the_mesh_by_learnflow_grpc_port_and_keeps_the_token_private(cli, tmp_path):
    reply = cli.login("teacher@demo.test")
    assert reply["logged_in_as"] == "teacher@demo.test" and reply["roles"] == ["TEACHER"]
    token = tmp_path / "token"
    assert token.stat().st_mode & 0o777 == 0o600
    me = cli.ok("users", "get", "me")
    assert me["email"] == "teacher@demo.test"


def test_addr_and_learnflow_addr_come_before_the_port_variable(mesh, tmp_path):
    dead = str(free_port())
    cli = Cli(tmp_path, LEARNFLOW_GRPC_PORT=dead)
    assert cli.login("teacher@demo.test", DEMO_PASSWORD, "--addr", mesh.grpc_addr)["logged_in_as"]
    assert cli.ok("users", "get", "me", LEARNFLOW_ADDR=mesh.grpc_addr)["email"] == "teacher@demo.test"
    line = cli.fails("users", "get", "me")
    assert f"127.0.0.1:{dead}" in line


def test_a_mesh_nobody_runs_is_one_clear_line(tmp_path):
    port = free_port()
    cli = Cli(tmp_path, LEARNFLOW_GRPC_PORT=str(port))
    line = cli.fails("login", "--email", "teacher@demo.test", LEARNFLOW_PASSWORD=DEMO_PASSWORD)
    assert line == (
        f"learnflow: cannot reach the mesh at 127.0.0.1:{port} (connection refused): is `learnflow up` "
        "running? Point at it with --addr, LEARNFLOW_ADDR or LEARNFLOW_GRPC_PORT"
    )
    (tmp_path / "token").write_text("some-token")
    for argv in (("users", "list"), ("dead-letters", "list"), ("classes", "create", "--name", "x")):
        assert "cannot reach the mesh" in cli.fails(*argv)


def test_misuse_is_one_line_with_exit_code_2(tmp_path):
    cli = Cli(tmp_path, LEARNFLOW_GRPC_PORT="not-a-port")
    assert cli.fails("users", "list", code=2) == (
        "learnflow: LEARNFLOW_GRPC_PORT='not-a-port': expected a port number (1-65535)"
    )
    cli = Cli(tmp_path, LEARNFLOW_GRPC_PORT=str(free_port()))
    assert "not logged in" in cli.fails("users", "list", code=2)
    assert "expected host:port" in cli.fails("users", "list", "--addr", "nowhere", code=2)


def test_grpc_errors_are_one_line_with_code_message_and_field_violations(cli):
    cli.login("admin@demo.test")
    line = cli.fails(
        "users", "create", "--email", "not-an-email", "--role", "student", LEARNFLOW_NEW_PASSWORD=NEW_PASSWORD
    )
    assert line.startswith("learnflow: INVALID_ARGUMENT: ")
    assert "(user.email: " in line
    line = cli.fails("users", "list", "--page-size", "5000")
    assert line.startswith("learnflow: INVALID_ARGUMENT: ") and "page_size: " in line
    cli.login("teacher@demo.test")
    line = cli.fails(
        "users", "create", "--email", "x@demo.test", "--role", "student", LEARNFLOW_NEW_PASSWORD=NEW_PASSWORD
    )
    assert line.startswith("learnflow: PERMISSION_DENIED: ") and line.endswith("[ROLE_REQUIRED]")
    line = cli.fails("login", "--email", "teacher@demo.test", LEARNFLOW_PASSWORD="wrong-password")
    assert line.startswith("learnflow: UNAUTHENTICATED: ") and "[INVALID_CREDENTIALS]" in line


def test_an_admin_creates_a_user_and_a_class_the_teacher_then_teaches(mesh, cli):
    cli.login("admin@demo.test")
    email = f"cli-{uuid.uuid4().hex[:8]}@demo.test"
    made = cli.ok(
        "users", "create", "--email", email, "--name", "Cli Student", "--role", "student",
        LEARNFLOW_NEW_PASSWORD=NEW_PASSWORD,
    )  # fmt: skip
    assert (
        made["email"] == email and made["roles"] == ["ROLE_STUDENT"] and made["displayName"] == "Cli Student"
    )
    again = cli.fails(
        "users", "create", "--email", email, "--role", "student", LEARNFLOW_NEW_PASSWORD=NEW_PASSWORD
    )
    assert again.startswith("learnflow: ALREADY_EXISTS: ")
    students = cli.ok("users", "list", "--role", "student", "--page-size", "200")["users"]
    assert email in {u["email"] for u in students}
    teacher = rest(mesh, "GET", "/v1/users/me", token=login(mesh, "teacher@demo.test")).body["id"]

    # by email (looked up in the tenant) and by id
    klass = cli.ok(
        "classes", "create", "--name", "CLI class", "--teacher", "teacher@demo.test", "--student", email
    )
    assert (
        klass["name"] == "CLI class"
        and klass["teacherIds"] == [teacher]
        and klass["studentIds"] == [made["id"]]
    )
    by_id = cli.ok(
        "classes", "create", "--name", "CLI class 2", "--teacher", teacher, "--student", made["id"]
    )
    assert by_id["studentIds"] == [made["id"]] and by_id["id"] != klass["id"]
    seen = rest(mesh, "GET", f"/v1/students/{made['id']}/progress", token=login(mesh, "teacher@demo.test"))
    assert seen.status == 200, seen.body
    assert login(mesh, email, NEW_PASSWORD)

    unknown = cli.fails("classes", "create", "--name", "x", "--student", "nobody@demo.test", code=2)
    assert unknown == "learnflow: no user nobody@demo.test in your tenant"


def test_an_operator_creates_a_tenant_whose_admin_logs_in(mesh, cli):
    slug = f"school-{uuid.uuid4().hex[:6]}"
    cli.login("admin@demo.test")
    refused = cli.fails(
        "tenants",
        "create",
        "--slug",
        slug,
        "--admin-email",
        "head@school.test",
        LEARNFLOW_NEW_PASSWORD=NEW_PASSWORD,
    )
    assert refused.startswith("learnflow: PERMISSION_DENIED: ")
    cli.login("operator@demo.test")
    made = cli.ok(
        "tenants", "create", "--slug", slug, "--name", "A School", "--admin-email", "head@school.test",
        LEARNFLOW_NEW_PASSWORD=NEW_PASSWORD,
    )  # fmt: skip
    assert made["slug"] == slug and made["displayName"] == "A School" and made["id"]
    bad = cli.fails(
        "tenants",
        "create",
        "--slug",
        "Not A Slug",
        "--admin-email",
        "x@y.test",
        LEARNFLOW_NEW_PASSWORD=NEW_PASSWORD,
    )
    assert bad.startswith("learnflow: INVALID_ARGUMENT: ") and "tenant.slug" in bad
    assert cli.login("head@school.test", NEW_PASSWORD, "--tenant", slug)["roles"] == ["ADMIN"]


def test_operators_list_dead_letters_and_dead_jobs_students_may_not(cli):
    cli.login("operator@demo.test")
    letters = cli.ok("dead-letters", "list")
    assert isinstance(letters["deadLetters"], list) and "nextPageToken" in letters
    jobs = cli.ok("dead-jobs", "list", "--context", "progress")
    assert isinstance(jobs["jobs"], list) and all(j["context"] == "progress" for j in jobs["jobs"])
    cli.login("student@demo.test")
    for command in ("dead-letters", "dead-jobs"):
        assert cli.fails(command, "list").startswith("learnflow: PERMISSION_DENIED: ")


@pytest.mark.parametrize(
    "argv",
    [
        ("login",),
        ("users", "list"),
        ("users", "get"),
        ("users", "create"),
        ("tenants", "create"),
        ("classes", "create"),
        ("dead-letters", "list"),
        ("dead-jobs", "list"),
    ],
    ids=" ".join,
)
def test_every_client_command_has_help_naming_the_address_variables(tmp_path, argv):
    done = Cli(tmp_path).run(*argv, "--help")
    assert done.returncode == 0, done.stderr
    assert "--addr" in done.stdout and "LEARNFLOW_GRPC_PORT" in done.stdout
