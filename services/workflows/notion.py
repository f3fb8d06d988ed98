"""Notion over its REST API, through the runtime's OutboundClient (timeouts, in-line retries with
backoff, Retry-After, a circuit breaker per destination).

A page is created once per (run, step), even when the worker dies after Notion created it and before
the step was recorded: the page carries the step's key in a property ("LearnFlow key"), and every
attempt first asks the database for a page with that key. A found page is completed rather than made
again: blocks beyond the ones it already has are appended (Notion takes 100 blocks a request; a
page's first request carries the first 100).
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any

import httpx

from services.runtime.outbound import OutboundClient
from services.workflows.domain import notion_blocks

NOTION_VERSION = "2022-06-28"
KEY_PROPERTY = "LearnFlow key"
DESTINATION = "notion"

# The HTTP requests made on behalf of the current activity attempt: (method, path, status or 0 for a
# transport error). The usage ledger records one row per request (services/workflows/activities.py),
# so its sums reconcile with what the provider received.
CALLS: contextvars.ContextVar[list[tuple[str, str, int]] | None] = contextvars.ContextVar(
    "workflows_outbound_calls", default=None
)


class CountingTransport(httpx.AsyncBaseTransport):
    """httpx's transport, noting each request sent into CALLS (when an attempt collects them)."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        calls = CALLS.get()
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException:
            if calls is not None:
                calls.append((request.method, request.url.path, 0))
            raise
        if calls is not None:
            calls.append((request.method, request.url.path, response.status_code))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass(frozen=True)
class CreatedPage:
    page_id: str
    url: str
    blocks: int
    reused: bool  # found from an earlier attempt rather than created by this one


class Notion:
    def __init__(self, client: OutboundClient, base_url: str, token: str):
        self.client = client
        self.base = base_url.rstrip("/")
        self.headers = {"Notion-Version": NOTION_VERSION, "Authorization": f"Bearer {token or 'local'}"}

    async def _call(
        self, method: str, path: str, body: Any = None, params: Any = None, *, idempotent: bool | None = None
    ) -> Any:
        response = await self.client.request(
            method,
            self.base + path,
            destination=DESTINATION,
            idempotent=idempotent,
            json=body,
            params=params,
            headers=self.headers,
        )
        return response.json()

    async def find_page(self, database_id: str, key: str) -> dict[str, Any] | None:
        found = await self._call(
            "POST",
            f"/v1/databases/{database_id}/query",
            {"filter": {"property": KEY_PROPERTY, "rich_text": {"equals": key}}, "page_size": 1},
            idempotent=True,  # a read, sent as POST
        )
        results = found.get("results") or []
        return results[0] if results else None

    async def count_children(self, page_id: str) -> int:
        count, cursor = 0, None
        while True:
            params = {"page_size": 100, **({"start_cursor": cursor} if cursor else {})}
            page = await self._call("GET", f"/v1/blocks/{page_id}/children", params=params)
            count += len(page.get("results") or [])
            cursor = page.get("next_cursor")
            if not page.get("has_more") or not cursor:
                return count

    async def create_page(self, database_id: str, title: str, markdown: str, key: str) -> CreatedPage:
        blocks = notion_blocks.to_blocks(markdown)
        existing = await self.find_page(database_id, key)
        if existing is not None:
            page_id, url = existing["id"], existing.get("url", "")
            have = await self.count_children(page_id)
        else:
            first = notion_blocks.chunks(blocks)[0]
            made = await self._call(
                "POST",
                "/v1/pages",
                {
                    "parent": {"database_id": database_id},
                    "properties": {
                        "title": {
                            "title": [
                                {"type": "text", "text": {"content": t}}
                                for t in notion_blocks.split_text(title)
                            ]
                        },
                        KEY_PROPERTY: {"rich_text": [{"type": "text", "text": {"content": key}}]},
                    },
                    "children": first,
                },
            )
            page_id, url, have = made["id"], made.get("url", ""), len(first)
        for chunk in notion_blocks.chunks(blocks[have:]):
            if chunk:
                await self._call("PATCH", f"/v1/blocks/{page_id}/children", {"children": chunk})
        return CreatedPage(page_id, url, len(blocks), existing is not None)
