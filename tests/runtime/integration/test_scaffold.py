"""`learnflow new-context` (services/runtime/scaffold.py) writes a context that passes every check a
hand-written one must pass.

The proof runs on a copy of the repository (the files git knows, committed or not), never on the
repository itself: the scaffold writes a context named `sample` there, `make gen`'s four steps
regenerate gen/, the gateway, the Kubernetes manifests and docs/settings.md there, and then, in the
copy: buf lint, ruff and mypy on what was written, the architecture test (the shape, with `sample`
added to SHAPED by the scaffold), the validation contract test (every request string bounded), the
schema test (the migration builds exactly what tables.py declares, with row-level security) and the
new context's own unit and integration tests against a mesh started from the copy's code. It takes
about 45 s on a quiet machine (a mesh, a second PostgreSQL, codegen); the steps' times are written
to stderr (`-s` shows them) and recorded as test properties.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest

from services.runtime import scaffold
from services.runtime.contexts import REPO_ROOT
from services.runtime.testing import mesh_dir

NAME = "sample"
BIN = Path(sys.executable).parent


# --- the name and the plan, without writing -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("Sample", "not a context name"),
        ("s", "not a context name"),
        ("my-context", "not a context name"),
        ("my_context", "not a context name"),
        ("9lives", "not a context name"),
        ("runtime", "reserved"),
        ("all", "reserved"),
        ("auth", "reserved"),
        ("pgstats", "reserved"),
        ("identity", "exists already"),
    ],
)
def test_a_bad_or_taken_name_is_refused(name: str, says: str) -> None:
    with pytest.raises(scaffold.ScaffoldError, match=says):
        scaffold.check_name(name)


def test_a_name_whose_folders_exist_is_refused(tmp_path: Path) -> None:
    (tmp_path / "db" / "orphan").mkdir(parents=True)
    with pytest.raises(scaffold.ScaffoldError, match="db/orphan exist already"):
        scaffold.check_name("orphan", tmp_path)
    scaffold.check_name("fresh", tmp_path)


def test_the_plan_names_every_folder_and_dates_the_migration(tmp_path: Path) -> None:
    p = scaffold.plan("notes", tmp_path, today=date(2027, 3, 4))
    files = {f.relative_to(tmp_path).as_posix() for f in p.files}
    assert files == {
        "proto/learnflow/notes/v1/resources.proto",
        "proto/learnflow/notes/v1/notes_service.proto",
        "proto/learnflow/notes/v1/events.proto",
        *(
            f"services/notes/{m}.py"
            for m in ("__init__", "domain", "tables", "store", "service", "convert", "api", "settings", "app")
        ),
        "db/notes/versions/20270304_0001_initial.py",
        "tests/notes/unit/test_notes_domain.py",
        "tests/notes/integration/test_notes_api.py",
    }
    text = "\n".join(p.files.values())
    assert "${" not in text and "__name__/" not in text
    assert "service NotesService {" in text and 'StreamSpec("NOTES", ("notes.>",))' in text
    assert '"NOTES_DEFAULT_PAGE_SIZE"' in text and "Create Date: 2027-03-04" in text
    assert p.shaped is None, "tmp_path has no architecture test to add the name to"


def test_shaped_gets_the_name_in_order_and_stays_within_the_line_length(tmp_path: Path) -> None:
    arch = tmp_path / "arch.py"
    arch.write_text('X = 1\nSHAPED = ("identity", "sandbox")\nY = 2\n')
    old, new = scaffold._shaped_change(arch, "notes") or ("", "")
    assert (old, new) == ('SHAPED = ("identity", "sandbox")\n', 'SHAPED = ("identity", "notes", "sandbox")\n')
    many = ", ".join(f'"context{i:02d}"' for i in range(12))
    arch.write_text(f"SHAPED = ({many})\n")
    _, new = scaffold._shaped_change(arch, "notes") or ("", "")
    assert new.startswith("SHAPED = (\n") and '    "notes",\n' in new
    assert max(len(line) for line in new.splitlines()) <= 110
    assert scaffold._shaped_change(arch, "context03") is None, "already listed: no change"


def test_dry_run_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert scaffold.main("notes", dry_run=True, root=tmp_path) == 0
    assert list(tmp_path.iterdir()) == []
    assert "would write services/notes/app.py" in capsys.readouterr().out
    assert scaffold.main("Notes", dry_run=True, root=tmp_path) == 2


# --- the whole thing, on a copy of the repository --------------------------------------------------


_NOT_COPIED = (".git", ".venv", ".data", "__pycache__", "*_cache", "*.egg-info")


def _copy_repository() -> Path:
    """The files git knows in this checkout (tracked and untracked-but-not-ignored, as they are now),
    copied into a scratch folder PostgreSQL's user can read: no .venv, .data or caches. Without git
    (a source tarball), the tree less those."""
    root = mesh_dir("learnflow-scaffold-")
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO_ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
    except (FileNotFoundError, subprocess.CalledProcessError):
        shutil.copytree(REPO_ROOT, root, ignore=shutil.ignore_patterns(*_NOT_COPIED), dirs_exist_ok=True)
        return root
    for rel in filter(None, listed.split("\0")):
        source = REPO_ROOT / rel
        if source.is_file():  # a tracked file deleted in the work tree is not copied
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / rel)
    return root


@pytest.fixture(scope="module")
def copy() -> Iterator[Path]:
    root = _copy_repository()
    try:
        yield root
    finally:
        if not os.environ.get("LEARNFLOW_KEEP_TEST_DATA"):
            shutil.rmtree(root, ignore_errors=True)


class Steps:
    """Runs commands in the copy with the copy's code first on the path (this virtualenv's own
    editable install points at the original checkout), timing each."""

    def __init__(self, root: Path):
        self.root = root
        self.times: dict[str, float] = {}
        self.env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join([str(root), str(root / "gen" / "python")]),
            PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),
        )

    def run(self, label: str, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        began = time.monotonic()
        done = subprocess.run(
            list(argv), cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        self.times[label] = time.monotonic() - began
        output = f"{done.stdout[-6000:]}\n{done.stderr[-6000:]}"
        assert done.returncode == 0, f"{label} ({' '.join(argv)}) exited {done.returncode}\n{output}"
        return done


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_new_context_passes_every_check_on_a_copy_of_the_repository(
    copy: Path, record_property: Callable[[str, object], None]
) -> None:
    assert not (REPO_ROOT / "services" / NAME).exists(), f"this checkout has a context named {NAME!r}"
    began = time.monotonic()
    steps = Steps(copy)
    py = sys.executable

    made = steps.run("scaffold", py, "-m", "services.runtime.cli", "new-context", NAME)
    assert "make gen" in made.stdout and f"adding {NAME!r} to SHAPED" in made.stdout
    assert f'"{NAME}"' in (copy / "tests/contracts/test_architecture.py").read_text()
    again = subprocess.run(
        [py, "-m", "services.runtime.cli", "new-context", NAME],
        cwd=copy,
        env=steps.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 2 and "exists already" in again.stderr

    # make gen, step by step (the Makefile's recipe).
    steps.run("codegen", py, "-m", "services.runtime.codegen")
    steps.run("gateway", py, "-m", "gateway.generate")
    steps.run("k8s", py, "deploy/k8s/generate.py")
    settings = steps.run("settings", py, "-m", "services.runtime.cli", "settings", "--format", "markdown")
    (copy / "docs" / "settings.md").write_text(settings.stdout)
    assert f"{NAME.upper()}_DEFAULT_PAGE_SIZE" in settings.stdout
    assert (copy / "gen/python/learnflow" / NAME / "v1" / f"{NAME}_service_pb2.py").exists()
    assert (copy / "deploy/k8s/base/contexts" / NAME / "deployment.yaml").exists()
    assert f"/v1/{NAME}/items" in (copy / "gateway/openapi.yaml").read_text()

    written = [f"services/{NAME}", f"db/{NAME}", f"tests/{NAME}", "tests/contracts/test_architecture.py"]
    steps.run("buf lint", str(BIN / "buf"), "lint")
    steps.run("ruff check", str(BIN / "ruff"), "check", *written)
    steps.run("ruff format", str(BIN / "ruff"), "format", "--check", *written)
    steps.run("mypy", str(BIN / "mypy"), f"services/{NAME}")

    tests = [
        f"tests/{NAME}",
        "tests/contracts/test_architecture.py",
        "tests/runtime/unit/test_validation.py",
        "tests/runtime/integration/test_schema.py",
    ]
    ran = steps.run("pytest", py, "-m", "pytest", *tests, "-v", "-p", "no:cacheprovider", timeout=600)
    # The new context's own tests ran and passed, and the shape and schema checks covered it.
    api, domain = f"tests/{NAME}/integration/test_{NAME}_api.py", f"tests/{NAME}/unit/test_{NAME}_domain.py"
    for expected in (
        f"{api}::test_create_then_get_then_list PASSED",
        f"{api}::test_a_bad_request_is_invalid_argument_naming_the_field[name-too-long] PASSED",
        f"{api}::test_a_student_may_read_but_not_create PASSED",
        f"{domain}::test_a_display_name_is_required_bounded_and_printable PASSED",
        f"test_contexts_have_the_shape[{NAME}-layers_imported_backwards] PASSED",
        f"test_migrations_match_the_declared_tables[{NAME}] PASSED",
        f"test_migrated_catalog_matches_the_declared_one[{NAME}] PASSED",
    ):
        assert expected in ran.stdout, f"{expected!r} not in the run:\n{ran.stdout[-6000:]}"
    assert " FAILED" not in ran.stdout and " SKIPPED" not in ran.stdout and " ERROR" not in ran.stdout

    assert not (REPO_ROOT / "services" / NAME).exists(), "the scaffold wrote into the repository"
    total = time.monotonic() - began
    for label, took in steps.times.items():
        record_property(f"seconds_{label.replace(' ', '_')}", round(took, 1))
    record_property("seconds_total", round(total, 1))
    sys.stderr.write(
        f"new-context on a copy: {total:.1f}s ("
        + ", ".join(f"{label} {took:.1f}s" for label, took in steps.times.items())
        + ")\n"
    )
