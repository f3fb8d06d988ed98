"""workflows's use cases. Each opens one unit of work, applies the domain rules, writes through the
store and stages its events in the outbox of the same transaction; each returns domain objects."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.runtime import pagination
from services.runtime.db import Database
from services.runtime.errors import NotFound, Violations
from services.runtime.events.outbox import Outbox
from services.runtime.request_context import Principal
from services.workflows import convert, domain, store
from services.workflows.domain import Item
from services.workflows.settings import WorkflowsConfig


class WorkflowsService:
    def __init__(self, db: Database, outbox: Outbox, config: WorkflowsConfig):
        self.db = db
        self.outbox = outbox
        self.config = config

    async def create_item(self, caller: Principal, display_name: str) -> Item:
        name = domain.clean_display_name(display_name)
        v = Violations()
        domain.check_display_name(v, name, "item.display_name")
        v.raise_if_any()
        new = Item(
            id=str(uuid.uuid4()), tenant_id=caller.tenant_id, display_name=name, created_by=caller.subject
        )
        async with self.db.transaction(caller.tenant_id) as session:
            created = await store.insert_item(session, new)
            await self.outbox.stage(session, "workflows.item.created", convert.item_created_event(created))
        return created

    async def get_item(self, caller: Principal, item_id: str) -> Item:
        async with self.db.transaction(caller.tenant_id) as session:
            item = await store.get_item(session, item_id)
        if item is None:
            raise NotFound(f"item {item_id} not found", reason="ITEM_NOT_FOUND")
        return item

    async def list_items(self, caller: Principal, page_size: int, page_token: str) -> tuple[list[Item], str]:
        size = pagination.page_size(page_size, default=self.config.default_page_size)
        # A forged or damaged token is INVALID_ARGUMENT (pagination.decode_token checks every field).
        position = pagination.decode_token(page_token, t=datetime, i=uuid.UUID)
        after = (position["t"], str(position["i"])) if position else None
        async with self.db.transaction(caller.tenant_id) as session:
            found = await store.list_items(session, limit=size + 1, after=after)
        token = ""
        if len(found) > size:
            last = found[size - 1]
            assert last.created_at is not None  # the store reads it from a NOT NULL column
            token = pagination.encode_token({"t": last.created_at.isoformat(), "i": last.id})
        return found[:size], token
