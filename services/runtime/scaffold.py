"""`learnflow new-context NAME`: writes a new bounded context in the standard shape.

What a context is made of is described in docs/architecture.md ("The shape of a context") and
docs/recipes.md ("Add a context"); this module writes one, so a new context starts from code that
already passes the shape, schema and validation checks instead of from a copy of another context
with its particulars still in it. It writes:

- proto/learnflow/NAME/v1/: resources.proto (an `Item`), NAME_service.proto (`<Name>Service` with
  CreateItem, GetItem and a paginated ListItems, each with a google.api.http rule, an auth rule and
  every request field bounded by protovalidate) and events.proto (`ItemCreated`);
- services/NAME/: domain, tables, store, service, convert, api, settings and app (the ContextSpec);
- db/NAME/versions/<today>_0001_initial.py: the items table with row-level security and the runtime's
  tables (events, jobs, rate limits), as test_schema holds every context schema to;
- tests/NAME/unit and tests/NAME/integration: the domain's rules, and the API on the real mesh;

and adds NAME to SHAPED in tests/contracts/test_architecture.py. The templates are real files under
scaffold_templates/ (string.Template: `${name}`, `${Name}`, `${NAME}`, `${date}`; `__name__` and
`__date__` in their paths). The Python it writes is then sorted and formatted with the project's ruff,
because import order and line breaks depend on the name's length and place in the alphabet.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from string import Template

from services.runtime.contexts import NOT_CONTEXTS, REPO_ROOT, available_contexts

TEMPLATES = Path(__file__).resolve().parent / "scaffold_templates"
ARCHITECTURE_TEST = Path("tests/contracts/test_architecture.py")
# A context's name is its Python package, proto package, PostgreSQL schema, NATS subject prefix,
# environment-variable prefix (upper-cased) and Kubernetes name: lowercase letters and digits suit
# all of them (no '-' for Python, no '_' for Kubernetes), starting with a letter.
NAME = re.compile(r"^[a-z][a-z0-9]{1,29}$")
# Names taken by something other than a context: the runtime's own packages and proto packages,
# what `--contexts` understands, and schemas and prefixes PostgreSQL keeps for itself.
RESERVED = frozenset(
    {
        *NOT_CONTEXTS,
        "all",
        "none",
        "auth",
        "ops",
        "gateway",
        "learnflow",
        "google",
        "buf",
        "grpc",
        "public",
        "services",
        "tests",
        "test",
        "gen",
        "db",
        "deploy",
        "docs",
        "bench",
    }
)
_SHAPED = re.compile(r"^SHAPED = \((?P<body>[^)]*)\)\n", re.MULTILINE)


class ScaffoldError(Exception):
    """The context cannot be written as asked (a bad or taken name); nothing was written."""


@dataclass
class Plan:
    """What `write` does: the files it creates, and the SHAPED line it changes (None: already there,
    or the architecture test is not where it should be)."""

    name: str
    root: Path
    files: dict[Path, str] = field(default_factory=dict)
    shaped: tuple[str, str] | None = None  # (old text, new text) in tests/contracts/test_architecture.py


def check_name(name: str, root: Path = REPO_ROOT) -> None:
    if not NAME.match(name):
        raise ScaffoldError(
            f"{name!r} is not a context name: 2-30 lowercase letters and digits, starting with a letter "
            "(it becomes a Python package, a proto package, a schema and a Kubernetes name)"
        )
    if name in RESERVED or name.startswith("pg"):
        raise ScaffoldError(f"{name!r} is reserved (the runtime or PostgreSQL uses it); choose another name")
    if name in available_contexts():
        raise ScaffoldError(f"a context named {name!r} exists already (services/{name}/app.py)")
    taken = [
        p
        for p in (f"services/{name}", f"proto/learnflow/{name}", f"db/{name}", f"tests/{name}")
        if (root / p).exists()
    ]
    if taken:
        raise ScaffoldError(f"{', '.join(taken)} exist already: remove them or choose another name")


def plan(name: str, root: Path = REPO_ROOT, today: date | None = None) -> Plan:
    """Every file the context needs, rendered, and the SHAPED change; writes nothing."""
    check_name(name, root)
    day = today or date.today()
    values = {
        "name": name,
        "Name": name.capitalize(),
        "NAME": name.upper(),
        "date": day.isoformat(),
    }
    result = Plan(name, root)
    for template in sorted(TEMPLATES.rglob("*.tmpl")):
        rel = template.relative_to(TEMPLATES).as_posix().removesuffix(".tmpl")
        rel = rel.replace("__name__", name).replace("__date__", day.strftime("%Y%m%d"))
        # substitute, not safe_substitute: a misspelt placeholder fails here, not in the new code.
        result.files[root / rel] = Template(template.read_text()).substitute(values)
    result.shaped = _shaped_change(root / ARCHITECTURE_TEST, name)
    return result


def _shaped_change(path: Path, name: str) -> tuple[str, str] | None:
    if not path.exists():
        return None
    found = _SHAPED.search(path.read_text())
    if found is None:
        return None
    names = re.findall(r'"([a-z0-9_]+)"', found.group("body"))
    if name in names:
        return None
    listed = ", ".join(f'"{n}"' for n in sorted({*names, name}))
    line = f"SHAPED = ({listed})\n"
    if len(line) > 111:  # the project's line length (110) plus the newline: one name a line, as ruff would
        line = "SHAPED = (\n" + "".join(f'    "{n}",\n' for n in sorted({*names, name})) + ")\n"
    return found.group(0), line


def write(p: Plan) -> list[str]:
    """Writes the planned files and the SHAPED change, then formats the Python with ruff. Returns
    the warnings (ruff missing, SHAPED not found) for the caller to show."""
    warnings: list[str] = []
    for path, text in p.files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x") as out:  # "x": never overwrite (check_name already refused taken folders)
            out.write(text)
    if p.shaped is not None:
        arch = p.root / ARCHITECTURE_TEST
        old, new = p.shaped
        arch.write_text(arch.read_text().replace(old, new, 1))
    else:
        warnings.append(f"add {p.name!r} to SHAPED in {ARCHITECTURE_TEST} yourself (it was not found)")
    python = [str(f) for f in p.files if f.suffix == ".py"]
    ruff = _ruff()
    if ruff is None:
        warnings.append("ruff not found: run `ruff check --fix` and `ruff format` on the new files")
    elif python:
        # Import order and line breaks depend on the name; ruff settles both the way `make lint` wants.
        for argv in ([ruff, "check", "--fix", "--select", "I", "--quiet"], [ruff, "format", "--quiet"]):
            done = subprocess.run([*argv, *python], cwd=p.root, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                warnings.append(f"{' '.join(argv[1:3])} failed: {done.stdout}{done.stderr}".strip())
    return warnings


def _ruff() -> str | None:
    beside = Path(sys.executable).parent / "ruff"
    return str(beside) if beside.exists() else shutil.which("ruff")


def next_steps(p: Plan) -> str:
    shaped = (
        f"   ({p.name} was added to SHAPED in {ARCHITECTURE_TEST})\n"
        if p.shaped is not None
        else f"   add {p.name!r} to SHAPED in {ARCHITECTURE_TEST}\n"
    )
    return (
        "Next:\n"
        "1. make gen     (gen/ from the new protos, the Envoy config and OpenAPI, deploy/k8s/, "
        "docs/settings.md)\n"
        f"2. .venv/bin/python -m pytest tests/{p.name} tests/contracts tests/runtime/unit/test_validation.py "
        "tests/runtime/integration/test_schema.py -q\n"
        f"{shaped}"
        f"3. Rename Item and give it its real fields: proto/learnflow/{p.name}/v1/, then domain.py, "
        f"tables.py (with a new migration in db/{p.name}/versions/), store.py, convert.py, service.py, "
        "api.py.\n"
        "   docs/recipes.md says how to add settings, calls to other contexts, events, jobs and timers.\n"
    )


def main(name: str, *, dry_run: bool = False, root: Path = REPO_ROOT) -> int:
    try:
        p = plan(name, root)
    except ScaffoldError as exc:
        sys.stderr.write(f"learnflow new-context: {exc}\n")
        return 2
    verb = "would write" if dry_run else "writing"
    for path in p.files:
        sys.stdout.write(f"{verb} {path.relative_to(root)}\n")
    if p.shaped is not None:
        verb = "would add" if dry_run else "adding"
        sys.stdout.write(f"{verb} {name!r} to SHAPED in {ARCHITECTURE_TEST}\n")
    if dry_run:
        return 0
    for warning in write(p):
        sys.stderr.write(f"learnflow new-context: {warning}\n")
    sys.stdout.write(f"\nContext {name!r} written.\n" + next_steps(p))
    return 0
