"""What each context schema should contain, declared once, and the Alembic options that hold its
migrations to that declaration.

A context schema holds the context's own tables (`services/<context>/tables.py`, MetaData `md`) and
the tables the runtime keeps in every context schema (RUNTIME_TABLES below). db/env.py gives Alembic
both as target_metadata, so `alembic check` and the schema test (tests/runtime/integration/
test_schema.py) report any difference between what the migrations create and what the code declares.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import MetaData

from services.runtime.db import metadata
from services.runtime.events.tables import define_event_tables
from services.runtime.work_tables import define_jobs_table, define_rate_limits_table

# Every table the runtime owns in a context schema, as functions that add them to that schema's
# MetaData. New runtime tables (durable jobs, rate limits, ...) are registered HERE, once, beside the
# migration_ops helper that creates them; the schema test then checks them in every context.
RUNTIME_TABLES: tuple[Callable[[MetaData], object], ...] = (
    define_event_tables,
    define_jobs_table,
    define_rate_limits_table,
)

# Alembic's own bookkeeping table, in each context schema; not part of any MetaData.
VERSION_TABLE = "alembic_version"


def runtime_metadata(schema: str) -> MetaData:
    """The runtime's tables in one context schema, on a MetaData of their own."""
    md = metadata(schema)
    for define in RUNTIME_TABLES:
        define(md)
    return md


def context_metadata(name: str) -> MetaData:
    """The context's own tables: `md` in services/<name>/tables.py, on the context's schema."""
    try:
        module = importlib.import_module(f"services.{name}.tables")
    except ModuleNotFoundError as exc:
        if exc.name not in (f"services.{name}", f"services.{name}.tables"):
            raise
        raise RuntimeError(
            f"context {name!r} declares no tables: services/{name}/tables.py is missing"
        ) from exc
    md = getattr(module, "md", None)
    if not isinstance(md, MetaData) or md.schema != name:
        raise RuntimeError(f"services/{name}/tables.py must define md = metadata({name!r})")
    return md


def schema_metadata(schema: str) -> tuple[MetaData, MetaData]:
    """Everything a context schema should hold: the context's tables and the runtime's. A sequence
    rather than one merged MetaData (Alembic accepts either): merging would copy every table."""
    own, runtime = context_metadata(schema), runtime_metadata(schema)
    clash = set(own.tables) & set(runtime.tables)
    if clash:
        raise RuntimeError(f"{schema}: tables named like the runtime's own: {', '.join(sorted(clash))}")
    return own, runtime


def alembic_options(schema: str) -> dict[str, Any]:
    """MigrationContext options for one context schema, shared by db/env.py (migrations, `alembic
    check`) and the schema test, so both compare the same things the same way."""

    def include_name(name: str | None, type_: str, parent_names: dict[str, str | None]) -> bool:
        # Reflect this context's schema only (None is the default schema, `public`), and never
        # Alembic's version table, which no MetaData declares.
        if type_ == "schema":
            return name == schema
        if type_ == "table":
            return name != VERSION_TABLE
        return True

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        # A table of this schema only; include_name already keeps other schemas out of reflection,
        # this keeps them out of the MetaData side (should a table name another schema).
        if type_ == "table":
            return bool(obj.schema == schema and name != VERSION_TABLE)
        return True

    return {
        "target_metadata": schema_metadata(schema),
        "version_table_schema": schema,
        "include_schemas": True,
        "include_name": include_name,
        "include_object": include_object,
        # Types and server defaults are compared too. On PostgreSQL Alembic compares a default by
        # asking the server whether the two expressions are equal, so `'0'` and `0` or `now()` and
        # `CURRENT_TIMESTAMP` agree.
        "compare_type": True,
        "compare_server_default": True,
    }


def compare(connection: Any, schema: str, target: Sequence[MetaData] | None = None) -> list[Any]:
    """The differences between the database's `schema` and what the code declares for it (or
    `target`, to compare something else), as Alembic's autogenerate diffs: empty when they agree.
    What autogenerate cannot see (row-level security, policies, triggers, functions, grants, identity
    columns, primary-key names, partial-index predicates) is not compared here."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    options = alembic_options(schema)
    if target is not None:
        options["target_metadata"] = tuple(target)
    context = MigrationContext.configure(connection, opts=options)
    return list(compare_metadata(context, options["target_metadata"]))
