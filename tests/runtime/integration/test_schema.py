"""The migrations build exactly the schema the code declares, for every context and for the runtime's
tables in it (services/runtime/schema.py), and every tenant-owned table has row-level security.

On a real PostgreSQL of its own, the module runs every context's migrations the way the runtime does
(migrations.run) into one database, and builds a second database straight from the declared MetaData
(create_all). Two comparisons then hold the migrations to the declaration:

1. Alembic's autogenerate comparison (what `alembic check` runs, with the options db/env.py uses):
   tables, columns, types, nullability, server defaults, unique constraints, indexes, foreign keys.
2. PostgreSQL's own description of both databases (pg_catalog): every column's type, NOT NULL,
   default and identity; every constraint's name and definition; every index's definition. This
   covers what autogenerate does not compare: identity columns, primary-key names and a partial
   index's WHERE clause (checked in test_each_comparison_reports_a_difference).

Neither compares what no MetaData declares: row-level security and its policies (checked on their own
below), triggers and functions (the outbox's NOTIFY, progress's remember_tenant, identity's
tenant_id_for_slug) and grants. Those live in the migrations alone.
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from services.runtime import migrations, schema
from services.runtime.contexts import SERVICES_DIR, available_contexts, load_contexts
from services.runtime.db import metadata
from services.runtime.local.postgres import APP_ROLE, EmbeddedPostgres
from services.runtime.local.procs import free_port
from services.runtime.testing import mesh_dir

CONTEXTS = available_contexts()
DECLARED_DATABASE = "learnflow_declared"

# Tables with a tenant_id column that are NOT tenant-scoped by row-level security, and why. Keep this
# list short and explicit: a table missing from it must have ENABLE and FORCE row-level security.
# ("*", name) is a runtime table found in every context schema.
NOT_TENANT_SCOPED = {
    ("progress", "tenants"): "the list of tenant ids the periodic checks visit (db/progress 0002)",
    ("*", "dead_letters"): "written by the consumer outside any tenant's transaction (tenant_id is the "
    "event's, as text, or NULL); OperationsService filters by tenant in its query",
    ("*", "jobs"): "claimed across tenants by the runner; each handler runs in a transaction scoped to the "
    "job's tenant_id (services/runtime/jobs.py)",
}


@dataclass
class Databases:
    migrated: sa.Engine  # every context migrated by the runtime's runner
    declared: sa.Engine  # every context's declared MetaData, created with create_all
    server: EmbeddedPostgres


def _create_database(server: EmbeddedPostgres, name: str) -> sa.Engine:
    admin = sa.create_engine(server.superuser_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return sa.create_engine(make_url(server.superuser_url).set(database=name))


def _create_declared(engine: sa.Engine, metadatas: dict[str, tuple[sa.MetaData, ...]]) -> None:
    with engine.begin() as conn:
        for name, mds in metadatas.items():
            conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
            for md in mds:
                md.create_all(conn)


@pytest.fixture(scope="module")
def databases() -> Iterator[Databases]:
    root = mesh_dir("learnflow-schema-")
    server = EmbeddedPostgres(root / "postgres", free_port())
    engines: list[sa.Engine] = []
    try:
        server.start()
        migrations.run(server.superuser_url, APP_ROLE, load_contexts(CONTEXTS))
        migrated = sa.create_engine(server.superuser_url)
        engines.append(migrated)
        declared = _create_database(server, DECLARED_DATABASE)
        engines.append(declared)
        _create_declared(declared, {name: schema.schema_metadata(name) for name in CONTEXTS})
        yield Databases(migrated, declared, server)
    finally:
        for engine in engines:
            engine.dispose()
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


# --- PostgreSQL's description of a schema --------------------------------------------------------

_TABLES = f"""
    SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = :schema AND c.relkind IN ('r', 'p') AND c.relname <> '{schema.VERSION_TABLE}'
"""
_CATALOG = {
    "table": f"SELECT c.relname FROM pg_class c WHERE c.oid IN ({_TABLES})",
    "column": f"""
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.oid IN ({_TABLES}) AND a.attnum > 0 AND NOT a.attisdropped
    """,
    "constraint": f"""
        SELECT c.relname, k.conname, pg_get_constraintdef(k.oid)
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid WHERE c.oid IN ({_TABLES})
    """,
    "index": f"""
        SELECT c.relname, pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.oid IN ({_TABLES})
    """,
}


def _catalog(engine: sa.Engine, name: str) -> set[tuple[Any, ...]]:
    """Every table, column, constraint and index of the schema as PostgreSQL describes it. Column
    order is left out: a column a later migration adds comes last, wherever the MetaData puts it."""
    with engine.connect() as conn:
        return {
            (kind, *row)
            for kind, query in _CATALOG.items()
            for row in conn.execute(sa.text(query), {"schema": name})
        }


def _catalog_differences(migrated: set[tuple[Any, ...]], declared: set[tuple[Any, ...]]) -> list[str]:
    return [f"only in the migrations: {row}" for row in sorted(migrated - declared, key=repr)] + [
        f"only in the declared tables: {row}" for row in sorted(declared - migrated, key=repr)
    ]


def _autogenerate_differences(engine: sa.Engine, name: str, target: tuple[sa.MetaData, ...]) -> list[Any]:
    with engine.connect() as conn:
        return list(schema.compare(conn, name, target))


# --- the checks -----------------------------------------------------------------------------------


def test_every_context_declares_its_tables() -> None:
    for name in CONTEXTS:
        own, runtime = schema.schema_metadata(name)
        assert own.tables, f"services/{name}/tables.py declares no tables"
        assert {t.schema for t in (*own.tables.values(), *runtime.tables.values())} == {name}
    with pytest.raises(RuntimeError, match=r"tables\.py is missing"):
        schema.context_metadata("no_such_context")


def test_tables_are_declared_in_tables_py_only() -> None:
    """A second sa.Table for the same table elsewhere in a context is what this file exists to end:
    the check below compares tables.py, so a table declared anywhere else would go unchecked."""
    elsewhere = []
    for name in CONTEXTS:
        for path in (SERVICES_DIR / name).rglob("*.py"):
            if path.name == "tables.py" and path.parent.name == name:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call):
                    func = node.func
                    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                    if called == "Table":
                        elsewhere.append(f"{path.relative_to(SERVICES_DIR)}:{node.lineno}")
    assert elsewhere == [], "declare tables in services/<context>/tables.py: " + ", ".join(elsewhere)


@pytest.mark.parametrize("name", CONTEXTS)
def test_migrations_match_the_declared_tables(databases: Databases, name: str) -> None:
    differences = _autogenerate_differences(databases.migrated, name, schema.schema_metadata(name))
    assert differences == [], (
        f"{name}: the migrations and services/{name}/tables.py (or the runtime's tables) disagree"
    )


@pytest.mark.parametrize("name", CONTEXTS)
def test_migrated_catalog_matches_the_declared_one(databases: Databases, name: str) -> None:
    differences = _catalog_differences(_catalog(databases.migrated, name), _catalog(databases.declared, name))
    assert differences == [], f"{name}:\n" + "\n".join(differences)


def test_each_comparison_reports_a_difference(databases: Databases) -> None:
    """Neither comparison passes vacuously: a copy of progress's tables with an extra column and a
    changed partial-index predicate is reported by autogenerate (the column) and by the catalog
    comparison (both, once created in a database of its own)."""
    own, runtime = schema.schema_metadata("progress")
    altered = metadata("progress")
    for table in own.tables.values():
        table.to_metadata(altered)
    sa.Table("classes", altered, sa.Column("room", sa.Text), extend_existing=True)
    alerts = altered.tables["progress.struggle_alerts"]
    episode = next(ix for ix in alerts.indexes if ix.name == "uq_struggle_alerts_open_episode")
    episode.dialect_options["postgresql"]["where"] = sa.text("state = 'open'")

    reported = _autogenerate_differences(databases.migrated, "progress", (altered, runtime))
    assert [(d[0], d[2], d[3].name) for d in reported] == [("add_column", "classes", "room")]

    engine = _create_database(databases.server, "learnflow_altered")
    try:
        _create_declared(engine, {"progress": (altered, runtime)})
        differences = _catalog_differences(
            _catalog(databases.migrated, "progress"), _catalog(engine, "progress")
        )
    finally:
        engine.dispose()
    assert any("'room'" in d and d.startswith("only in the declared") for d in differences), differences
    assert any("state = 'open'" in d and d.startswith("only in the declared") for d in differences), (
        differences
    )
    assert any("<> 'resolved'" in d and d.startswith("only in the migrations") for d in differences), (
        differences
    )


_TENANT_TABLES = """
    SELECT n.nspname, c.relname, c.relrowsecurity, c.relforcerowsecurity,
           EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid) AS has_policy
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
    WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('r', 'p')
    ORDER BY 1, 2
"""


def test_tenant_tables_have_forced_row_level_security(databases: Databases) -> None:
    """Every table with a tenant_id column has row-level security enabled and forced (so the owner is
    held to it too) and a policy, except the tables NOT_TENANT_SCOPED lists."""
    with databases.migrated.connect() as conn:
        rows = conn.execute(sa.text(_TENANT_TABLES), {"schemas": CONTEXTS}).all()
    exempt = {(s, t) for s, t in NOT_TENANT_SCOPED}
    checked: dict[str, list[str]] = {name: [] for name in CONTEXTS}
    unprotected = []
    for schema_name, table, enabled, forced, has_policy in rows:
        if (schema_name, table) in exempt or ("*", table) in exempt:
            continue
        checked[schema_name].append(table)
        if not (enabled and forced and has_policy):
            unprotected.append(
                f"{schema_name}.{table} (enabled={enabled}, forced={forced}, policy={has_policy})"
            )
    assert unprotected == [], "tenant-owned tables without row-level security: " + ", ".join(unprotected)
    # Each context keeps tenant data, so a context with nothing checked means the query found nothing.
    assert all(checked.values()), checked
    # Every exemption names a table that exists: a stale entry would hide a renamed table.
    found = {(s, t) for s, t, *_ in rows}
    for schema_name, table in exempt:
        names = CONTEXTS if schema_name == "*" else [schema_name]
        assert all((n, table) in found for n in names), (
            f"NOT_TENANT_SCOPED names a missing {schema_name}.{table}"
        )
