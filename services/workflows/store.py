"""workflows's queries (SQLAlchemy Core). Each takes the unit of work's connection, whose transaction
is scoped to the caller's tenant (row-level security), and returns domain objects."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime.db import parse_uuid
from services.workflows.domain import Item
from services.workflows.tables import items


def _item(row: Any) -> Item:
    return Item(
        id=str(row.id),
        tenant_id=str(row.tenant_id),
        display_name=row.display_name,
        created_by=row.created_by,
        created_at=row.created_at,
    )


async def insert_item(session: AsyncConnection, item: Item) -> Item:
    row = (
        await session.execute(
            sa.insert(items)
            .values(
                id=uuid.UUID(item.id),
                tenant_id=uuid.UUID(item.tenant_id),
                display_name=item.display_name,
                created_by=item.created_by,
            )
            .returning(*items.c)
        )
    ).one()
    return _item(row)


async def get_item(session: AsyncConnection, item_id: str) -> Item | None:
    found = parse_uuid(item_id)
    if found is None:
        return None
    row = (await session.execute(sa.select(items).where(items.c.id == found))).first()
    return _item(row) if row else None


async def list_items(
    session: AsyncConnection, *, limit: int, after: tuple[datetime, str] | None
) -> list[Item]:
    """Oldest first; `after` is the (created_at, id) of the last item of the previous page."""
    query = sa.select(items).order_by(items.c.created_at, items.c.id).limit(limit)
    if after is not None:
        query = query.where(
            sa.tuple_(items.c.created_at, items.c.id)
            > sa.tuple_(sa.literal(after[0]), sa.literal(uuid.UUID(after[1])))
        )
    return [_item(r) for r in (await session.execute(query)).all()]
