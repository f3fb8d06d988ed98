"""SQLAlchemy Core views of the per-context event tables (created by migration_ops.create_event_tables)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from services.runtime.db import metadata


@dataclass(frozen=True)
class EventTables:
    outbox: sa.Table
    inbox: sa.Table
    dead_letters: sa.Table


def event_tables(schema: str) -> EventTables:
    md = metadata(schema)
    outbox = sa.Table(
        "outbox",
        md,
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("event_id", sa.Text),
        sa.Column("subject", sa.Text),
        sa.Column("event_type", sa.Text),
        sa.Column("payload", sa.LargeBinary),
        sa.Column("headers", sa.JSON),
        sa.Column("created_at", sa.DateTime(timezone=True)),
    )
    inbox = sa.Table(
        "inbox",
        md,
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("processed_at", sa.DateTime(timezone=True)),
    )
    dead_letters = sa.Table(
        "dead_letters",
        md,
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("consumer", sa.Text),
        sa.Column("subject", sa.Text),
        sa.Column("event_id", sa.Text),
        sa.Column("event_type", sa.Text),
        sa.Column("tenant_id", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("deliveries", sa.Integer),
        sa.Column("payload", sa.LargeBinary),
        sa.Column("headers", sa.JSON),
        sa.Column("created_at", sa.DateTime(timezone=True)),
    )
    return EventTables(outbox, inbox, dead_letters)
