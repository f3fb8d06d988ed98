"""The code stays as clean as it was handed in: ruff (lint and format) and mypy, as configured in
pyproject.toml."""

import subprocess
import sys
from pathlib import Path

from services.runtime.contexts import REPO_ROOT

BIN = Path(sys.executable).parent


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / argv[0]), *argv[1:]], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )


def test_ruff_lint_and_format_are_clean():
    lint = _run("ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout[-4000:]
    fmt = _run("ruff", "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout[-4000:]


def test_mypy_is_clean():
    proc = _run("mypy")
    assert proc.returncode == 0, proc.stdout[-4000:]


def test_test_modules_have_unique_names():
    """pytest imports test files by basename (rootdir-relative, no packages): two folders holding a
    test_engine.py make the second fail to collect ("import file mismatch") in the full run only."""
    seen: dict[str, Path] = {}
    for path in sorted((REPO_ROOT / "tests").rglob("test_*.py")):
        assert path.name not in seen, f"{path.relative_to(REPO_ROOT)} and {seen[path.name]} share a name"
        seen[path.name] = path.relative_to(REPO_ROOT)


def test_plain_sql_names_its_columns():
    """Statements sent by psycopg itself (db.run_sql) are prepared on the server after a few uses, and
    PostgreSQL refuses a prepared statement whose result type changed: a `SELECT *` (or `t.*`) would
    break every running replica's reads when a migration adds a column. A `*` from a table (always
    schema-qualified in our SQL) is refused; from our own arrays or a CTE it is fine."""
    import re

    star = re.compile(r"SELECT\s+(?:\w+\.\*\s*,|(?:\w+\.)?\*\s+FROM\s+(?:\w+|\{[^}]+\})\.\w+)", re.IGNORECASE)
    found = [
        f"{path.relative_to(REPO_ROOT)}:{n}: {line.strip()}"
        for path in sorted((REPO_ROOT / "services").rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if star.search(line)
    ]
    assert not found, "\n".join(found)
