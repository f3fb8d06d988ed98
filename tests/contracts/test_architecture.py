"""The dependency rules of DESIGN.md §3 and STYLE.md, and the shape of a context
(docs/architecture.md, "The shape of a context"), checked on the import graph.

Each rule is a function from a context's files to the violations it finds: the tests apply it to
every context, and to a small bad context written for the purpose, so a rule that stopped finding
anything would fail here too."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

from services.runtime.contexts import SERVICES_DIR, available_contexts

FORBIDDEN_IN_DOMAIN = ("grpc", "sqlalchemy", "nats", "learnflow.", "psycopg", "google.protobuf")
# The modules that may touch protobuf or gRPC: the translation (convert), the servicer (api), the
# composition root (app), calls to other contexts over gRPC (clients) and command-line clients (cli).
PROTOBUF_MODULES = frozenset({"convert.py", "api.py", "app.py", "clients.py", "cli.py"})
# The entrypoints: they receive what arrives from outside — requests (api), events (app.py wires
# them; a context with many consumers keeps them in consumers.py, tutoring's are its agents.py),
# live notifications (tutoring's notifier.py) — and may use every function of convert.py.
ENTRYPOINTS = frozenset({"api.py", "app.py", "cli.py", "consumers.py", "agents.py", "notifier.py"})
# The layers a module of each role may not import from its own context.
NOT_FROM = {
    "store.py": ("convert", "service", "api", "app"),
    "service.py": ("api", "app"),
    "convert.py": ("store", "service", "api", "app"),
    "api.py": ("store",),
}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            if node.module.startswith("services."):  # `from services.x import store`: the module
                names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


_GENERATED_PREFIXES = ("grpc.", "grpclib.", "learnflow.", "learnflow_sdk.", "google.protobuf", "google.rpc")


def _is_generated(name: str) -> bool:
    """Generated code and the gRPC/protobuf runtime."""
    return name in ("grpc", "grpclib") or name.startswith(_GENERATED_PREFIXES) or name.endswith("_pb2")


def _context_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "testing" not in p.relative_to(root).parts)


def _is_domain(root: Path, path: Path) -> bool:
    rel = path.relative_to(root)
    return rel.parts[0] == "domain" or (len(rel.parts) == 1 and rel.name.startswith("domain"))


# --- the rules -------------------------------------------------------------------------------------


def infrastructure_in_domain(root: Path) -> list[str]:
    """The domain is plain Python: no gRPC, SQLAlchemy, NATS, psycopg or generated code."""
    return [
        f"{path} imports {name}"
        for path in _context_files(root)
        if _is_domain(root, path)
        for name in sorted(_imports(path))
        if name.startswith(FORBIDDEN_IN_DOMAIN)
    ]


def protobuf_outside_the_boundary(root: Path) -> list[str]:
    """Only convert/api/app/clients/cli import generated code or gRPC; service.py, store.py, the
    domain and every other module of the service layer work on domain objects."""
    return [
        f"{path} imports {name}"
        for path in _context_files(root)
        if path.relative_to(root).as_posix() not in PROTOBUF_MODULES
        for name in sorted(_imports(path))
        if _is_generated(name)
    ]


def layers_imported_backwards(root: Path) -> list[str]:
    """store → domain only; convert → domain only; api → service and convert, never the store;
    the domain → nothing of its context's outer layers."""
    ctx = f"services.{root.name}"
    found = []
    for path in _context_files(root):
        rel = path.relative_to(root).as_posix()
        banned = NOT_FROM.get(rel, ())
        if _is_domain(root, path):
            banned = ("store", "service", "api", "app", "convert", "tables")
        for name in sorted(_imports(path)):
            if any(name == f"{ctx}.{layer}" or name.startswith(f"{ctx}.{layer}.") for layer in banned):
                found.append(f"{path} imports {name}")
    return found


def convert_beyond_events(root: Path) -> list[str]:
    """The service layer meets protobuf once: it builds outgoing events with convert's `*_event`
    functions and hands them to the outbox unopened. Everything else in convert is for the
    entrypoints (ENTRYPOINTS)."""
    ctx = f"services.{root.name}"
    found = []
    for path in _context_files(root):
        rel = path.relative_to(root).as_posix()
        if rel in PROTOBUF_MODULES | ENTRYPOINTS:
            continue
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ImportFrom) and node.module == f"{ctx}.convert":
                names = [a.name for a in node.names]
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "convert"
            ):
                names = [node.attr]
            else:
                continue
            found += [f"{path}:{node.lineno} uses convert.{n}" for n in names if not n.endswith("_event")]
    return found


def untyped_boundary(root: Path) -> list[str]:
    """What the queries (store.py) and use cases (service.py) hand out is typed: every public async
    function has a return annotation, and none returns `Any` (a row, a dict of who knows what)."""
    found = []
    for name in ("store.py", "service.py"):
        path = root / name
        if not path.exists():
            continue
        for node in ast.walk(_tree(path)):
            if not isinstance(node, ast.AsyncFunctionDef) or node.name.startswith("_"):
                continue
            if node.returns is None:
                found.append(f"{path}:{node.lineno} {node.name}() has no return annotation")
            elif "Any" in {n.id for n in ast.walk(node.returns) if isinstance(n, ast.Name)}:
                found.append(f"{path}:{node.lineno} {node.name}() returns {ast.unparse(node.returns)}")
    return found


RULES: list[Callable[[Path], list[str]]] = [
    infrastructure_in_domain,
    protobuf_outside_the_boundary,
    layers_imported_backwards,
    convert_beyond_events,
    untyped_boundary,
]
# The contexts that follow the shape; a new context is added here on its first commit.
SHAPED = (
    "activity",
    "audit",
    "identity",
    "interventions",
    "mtss",
    "notify",
    "progress",
    "sandbox",
    "tutoring",
    "workflows",
)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
@pytest.mark.parametrize("ctx", SHAPED)
def test_contexts_have_the_shape(ctx: str, rule: Callable[[Path], list[str]]) -> None:
    assert ctx in available_contexts()
    assert rule(SERVICES_DIR / ctx) == []


def test_every_context_is_held_to_the_shape():
    assert set(available_contexts()) <= set(SHAPED), "add the new context to SHAPED"


_BAD = {
    "domain.py": "from sqlalchemy import select\nfrom services.bad import store\n",
    "store.py": "from services.bad.convert import user_to_proto\nasync def get(session) -> Any: ...\n",
    "service.py": (
        "from learnflow.bad.v1 import events_pb2\n"
        "from services.bad import convert\n"
        "async def get(caller): return convert.user_to_proto(None)\n"
        "async def made(user) -> User: return convert.user_created_event(user)\n"
    ),
    "api.py": "from services.bad import store\n",
    "helpers.py": "import grpc\n",
    "consumers.py": (
        "from services.runtime.events.envelope import Event\n"
        "from services.bad import convert\n"
        "def on(event: Event) -> None: convert.request_from_proto(event.message)\n"
    ),
}


def test_the_rules_find_violations(tmp_path: Path) -> None:
    root = tmp_path / "bad"
    root.mkdir()
    for name, text in _BAD.items():
        (root / name).write_text(text)
    found = "\n".join(v.removeprefix(f"{root}/") for rule in RULES for v in rule(root))
    for expected in (
        "domain.py imports sqlalchemy",
        "domain.py imports services.bad.store",
        "store.py imports services.bad.convert",
        "service.py imports learnflow.bad.v1",
        "service.py:3 uses convert.user_to_proto",
        "helpers.py imports grpc",
        "api.py imports services.bad.store",
        "store.py:2 get() returns Any",
        "service.py:3 get() has no return annotation",
    ):
        assert expected in found, f"{expected!r} not reported; found:\n{found}"
    # allowed: an event built by convert in the service, a consumer converting what it receives
    assert "user_created_event" not in found
    assert "consumers.py" not in found


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


def test_every_context_has_a_domain():
    for ctx in SHAPED:
        root = SERVICES_DIR / ctx
        assert any(_is_domain(root, p) for p in _context_files(root)), ctx


def test_every_context_has_proto_migrations_and_manifests():
    root = SERVICES_DIR.parent
    for ctx in available_contexts():
        assert (root / "proto" / "learnflow" / ctx / "v1").is_dir(), ctx
        assert list((root / "db" / ctx / "versions").glob("*.py")), ctx
        assert (root / "deploy" / "k8s" / "base" / "contexts" / ctx).is_dir(), ctx
