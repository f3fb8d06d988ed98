"""A local Notion: the slice of Notion's public REST API the workflows context uses, on real HTTP.

Why a real server: what matters is how the client reacts to the wire — Notion's limits (2,000
characters a rich text, 100 blocks a request: a request over either is refused with 400 as Notion
does), 429 with Retry-After, 5xx — and the same server stands in for Notion under `make up` (the
workflows context starts one in-process when WORKFLOWS_NOTION_URL is empty) and in tests, which read
what it received.

Wire format (Notion-Version 2022-06-28):
    POST  /v1/pages                       {parent: {database_id}, properties, children} -> page
    GET   /v1/pages/{id}                  -> page
    GET   /v1/blocks/{id}/children        ?start_cursor&page_size -> {results, has_more, next_cursor}
    PATCH /v1/blocks/{id}/children        {children} -> {results}
    POST  /v1/databases/{id}/query        {filter: {property, rich_text: {equals}}} -> {results}
Errors are {"object": "error", "status", "code", "message"}. Any database id is accepted (created on
first use); the bearer token must match when one is set.

Fault injection: `fail_next(n, status, retry_after)` answers the next n requests with that status;
`hold_after_create_seconds` answers a page creation late (a worker can be killed
between Notion creating the page and hearing of it); `fault_rate` answers that share of requests
(chosen at random) with 503 — before doing anything, so a
failed request changed nothing; `crash_after_create` drops the connection after a page is created
(the page exists, the client never hears of it: the case of a worker that dies after creating).

    with LocalNotion.running() as notion:          # a thread of its own, for sync tests
        ... WORKFLOWS_NOTION_URL=notion.url ...
        assert len(notion.pages) == 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

MAX_TEXT = 2000
MAX_BLOCKS = 100


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    status: int
    body: Any


@dataclass
class Page:
    id: str
    parent: dict[str, Any]
    properties: dict[str, Any]
    children: list[dict[str, Any]] = field(default_factory=list)
    created: float = field(default_factory=time.monotonic)  # when it was made (benchmarks time it)

    @property
    def title(self) -> str:
        for prop in self.properties.values():
            if isinstance(prop, dict) and "title" in prop:
                return "".join(r["text"]["content"] for r in prop["title"])
        return ""

    def resource(self) -> dict[str, Any]:
        return {
            "object": "page",
            "id": self.id,
            "parent": self.parent,
            "properties": self.properties,
            "url": f"https://www.notion.so/{self.id.replace('-', '')}",
        }


class LocalNotion:
    def __init__(self, token: str = "", seed: int | None = None) -> None:
        self.token = token
        self.pages: dict[str, Page] = {}
        self.by_title: dict[str, Page] = {}  # the latest page of each title (benchmarks look pages up)
        self.received: list[Received] = []
        self.fault_rate = 0.0
        self.crash_after_create = 0  # pages whose creation drops the connection
        self.delay_seconds = 0.0
        self.hold_after_create_seconds = 0.0  # the page exists; the answer comes this much later
        self._fail: list[tuple[int, float | None]] = []
        self._rng = random.Random(seed)  # noqa: S311 (fault injection, not security)
        self._lock = threading.Lock()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, count: int, status: int = 429, retry_after: float | None = None) -> None:
        with self._lock:
            self._fail += [(status, retry_after)] * count

    def calls(self, method: str | None = None, prefix: str = "") -> list[Received]:
        with self._lock:
            return [
                r
                for r in self.received
                if (method is None or r.method == method) and r.path.startswith(prefix)
            ]

    # --- running ---------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/v1/pages", self._create_page)
        app.router.add_get("/v1/pages/{id}", self._get_page)
        app.router.add_get("/v1/blocks/{id}/children", self._children)
        app.router.add_patch("/v1/blocks/{id}/children", self._append)
        app.router.add_post("/v1/databases/{id}/query", self._query)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @classmethod
    @contextlib.contextmanager
    def running(cls, **kw: Any) -> Iterator[LocalNotion]:
        """The server on a thread with its own event loop (sync tests, benchmarks)."""
        server = cls(**kw)
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(server.start())
            ready.set()
            loop.run_forever()

        thread = threading.Thread(target=serve, name="local-notion", daemon=True)
        thread.start()
        if not ready.wait(10):
            raise RuntimeError("the local Notion server did not start")
        try:
            yield server
        finally:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

    # --- the API ---------------------------------------------------------------------------------

    async def _gate(self, request: web.Request) -> tuple[Any, web.Response | None]:
        """Authentication, injected faults and the body: (body, None) or (_, the error answer)."""
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        body: Any = None
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                return None, self._record(
                    request, body, _error(400, "invalid_json", "Error parsing JSON body.")
                )
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return body, self._record(request, body, _error(401, "unauthorized", "API token is invalid."))
        with self._lock:
            injected = self._fail.pop(0) if self._fail else None
            if injected is None and self.fault_rate and self._rng.random() < self.fault_rate:
                injected = (503, None)
        if injected is not None:
            status, retry_after = injected
            answer = _error(status, "rate_limited" if status == 429 else "service_unavailable", "injected")
            if retry_after is not None:
                answer.headers["Retry-After"] = f"{retry_after:g}"
            return body, self._record(request, body, answer)
        return body, None

    def _record(self, request: web.Request, body: Any, response: web.Response) -> web.Response:
        with self._lock:
            self.received.append(Received(request.method, request.path, response.status, body))
        return response

    async def _create_page(self, request: web.Request) -> web.StreamResponse:
        body, refused = await self._gate(request)
        if refused is not None:
            return refused
        problem = _check_children(body.get("children") or []) if isinstance(body, dict) else "body"
        parent = body.get("parent") if isinstance(body, dict) else None
        if (
            problem
            or not isinstance(parent, dict)
            or not (parent.get("database_id") or parent.get("page_id"))
        ):
            return self._record(
                request, body, _error(400, "validation_error", problem or "parent is required")
            )
        page = Page(str(uuid.uuid4()), parent, body.get("properties") or {}, list(body.get("children") or []))
        crash = False
        with self._lock:
            self.pages[page.id] = page
            self.by_title[page.title] = page
            if self.crash_after_create > 0:
                self.crash_after_create -= 1
                crash = True
        held = time.monotonic()
        while time.monotonic() - held < self.hold_after_create_seconds:  # noqa: ASYNC110 (released early when reset from another thread)
            await asyncio.sleep(0.05)
        response = self._record(request, body, web.json_response(page.resource()))
        if crash:  # the page exists; the caller hears nothing
            assert request.transport is not None
            request.transport.close()
        return response

    async def _get_page(self, request: web.Request) -> web.Response:
        body, refused = await self._gate(request)
        if refused is not None:
            return refused
        page = self.pages.get(request.match_info["id"])
        if page is None:
            return self._record(request, body, _error(404, "object_not_found", "Could not find page."))
        return self._record(request, body, web.json_response(page.resource()))

    async def _children(self, request: web.Request) -> web.Response:
        body, refused = await self._gate(request)
        if refused is not None:
            return refused
        page = self.pages.get(request.match_info["id"])
        if page is None:
            return self._record(request, body, _error(404, "object_not_found", "Could not find block."))
        start = int(request.query.get("start_cursor") or 0)
        size = min(int(request.query.get("page_size") or 100), 100)
        results = page.children[start : start + size]
        more = start + size < len(page.children)
        payload = {
            "object": "list",
            "results": results,
            "has_more": more,
            "next_cursor": str(start + size) if more else None,
        }
        return self._record(request, body, web.json_response(payload))

    async def _append(self, request: web.Request) -> web.Response:
        body, refused = await self._gate(request)
        if refused is not None:
            return refused
        page = self.pages.get(request.match_info["id"])
        children = body.get("children") if isinstance(body, dict) else None
        if page is None:
            return self._record(request, body, _error(404, "object_not_found", "Could not find block."))
        problem = _check_children(children or []) if isinstance(children, list) else "children is required"
        if problem:
            return self._record(request, body, _error(400, "validation_error", problem))
        with self._lock:
            page.children.extend(children or [])
        return self._record(request, body, web.json_response({"object": "list", "results": children}))

    async def _query(self, request: web.Request) -> web.Response:
        body, refused = await self._gate(request)
        if refused is not None:
            return refused
        database = request.match_info["id"]
        wanted = ((body or {}).get("filter") or {}) if isinstance(body, dict) else {}
        prop, equals = wanted.get("property"), (wanted.get("rich_text") or {}).get("equals")
        found = []
        for page in list(self.pages.values()):
            if page.parent.get("database_id") != database:
                continue
            if prop is not None:
                value = page.properties.get(prop, {}).get("rich_text") or []
                if "".join(r["text"]["content"] for r in value) != equals:
                    continue
            found.append(page.resource())
        return self._record(
            request, body, web.json_response({"object": "list", "results": found, "has_more": False})
        )


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {"object": "error", "status": status, "code": code, "message": message}, status=status
    )


def _check_children(children: list[Any]) -> str:
    """Notion's request limits, as Notion states them in its 400s."""
    if len(children) > MAX_BLOCKS:
        return f"body.children.length should be ≤ `{MAX_BLOCKS}`, instead was `{len(children)}`."
    for i, block in enumerate(children):
        kind = block.get("type") if isinstance(block, dict) else None
        rich = (block.get(kind) or {}).get("rich_text") if kind else None
        if not isinstance(rich, list):
            return f"body.children[{i}] should be a block with rich_text"
        for j, r in enumerate(rich):
            content = ((r or {}).get("text") or {}).get("content", "")
            if len(content) > MAX_TEXT:
                where = f"body.children[{i}].{kind}.rich_text[{j}].text.content.length"
                return f"{where} should be ≤ `{MAX_TEXT}`, instead was `{len(content)}`."
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=7701)
    args = parser.parse_args(argv)

    async def serve() -> None:
        server = LocalNotion()
        await server.start(port=args.port)
        sys.stdout.write(f"local Notion on {server.url}\n")
        sys.stdout.flush()
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
