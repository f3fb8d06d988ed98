"""The dependency rules of DESIGN.md §3 and STYLE.md, checked on the import graph."""

import ast
from pathlib import Path

from services.runtime.contexts import SERVICES_DIR, available_contexts

FORBIDDEN_IN_DOMAIN = ("grpc", "sqlalchemy", "nats", "learnflow.", "psycopg")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_context_imports_another_context():
    contexts = available_contexts()
    assert contexts, "no contexts discovered"
    for ctx in contexts:
        for path in (SERVICES_DIR / ctx).rglob("*.py"):
            for name in _imports(path):
                for other in contexts:
                    assert other == ctx or not name.startswith(f"services.{other}"), f"{path} imports {name}"


def test_runtime_has_no_context_imports():
    contexts = available_contexts()
    for path in (SERVICES_DIR / "runtime").rglob("*.py"):
        for name in _imports(path):
            assert not any(name.startswith(f"services.{c}") for c in contexts), f"{path} imports {name}"


def test_domain_modules_import_no_infrastructure():
    checked = 0
    for ctx in available_contexts():
        root = SERVICES_DIR / ctx
        for path in [*root.glob("domain*.py"), *(root / "domain").rglob("*.py")]:
            checked += 1
            for name in _imports(path):
                assert not name.startswith(FORBIDDEN_IN_DOMAIN), f"{path} imports {name}"
    assert checked >= 3  # identity, sandbox, progress: the rule is really applied


def test_every_context_has_proto_migrations_and_manifests():
    root = SERVICES_DIR.parent
    for ctx in available_contexts():
        assert (root / "proto" / "learnflow" / ctx / "v1").is_dir(), ctx
        assert list((root / "db" / ctx / "versions").glob("*.py")), ctx
        assert (root / "deploy" / "k8s" / "base" / "contexts" / ctx).is_dir(), ctx
