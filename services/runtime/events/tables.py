"""The per-context event tables (outbox, inbox, dead letters), declared once: the runtime's queries
use them and the schema check holds migration_ops.create_event_tables to them (services/runtime/
schema.py collects them with the rest of the runtime's tables in a context schema)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from services.runtime.db import metadata


@dataclass(frozen=True)
class EventTables:
    outbox: sa.Table
    inbox: sa.Table
    dead_letters: sa.Table


def _created_at(name: str = "created_at") -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def define_event_tables(md: sa.MetaData) -> EventTables:
    """Adds the event tables to `md` (a context schema's MetaData). The outbox's NOTIFY trigger is
    in create_event_tables only: triggers are not part of a MetaData."""
    outbox = sa.Table(
        "outbox",
        md,
        # The relay reads in seq order: an identity column, so a row's place is fixed at insert.
        sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.Text, nullable=False, unique=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        _created_at(),
    )
    inbox = sa.Table(
        "inbox",
        md,
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Text, primary_key=True),
        _created_at("processed_at"),
    )
    # Written outside any tenant's transaction (tenant_id is the event's, as text, or NULL), so it has
    # no row-level security; OperationsService filters by tenant in its query.
    dead_letters = sa.Table(
        "dead_letters",
        md,
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("consumer", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("tenant_id", sa.Text, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("deliveries", sa.Integer, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        _created_at(),
        sa.UniqueConstraint("consumer", "event_id", name="uq_dead_letters_consumer_event"),
        sa.Index("ix_dead_letters_created", "created_at"),
    )
    return EventTables(outbox, inbox, dead_letters)


def event_tables(schema: str) -> EventTables:
    """The event tables of one context schema, on a MetaData of their own."""
    return define_event_tables(metadata(schema))
