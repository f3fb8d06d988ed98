"""Stand-ins for the third-party SaaS ends of ops alerting (Slack's incoming webhook, PagerDuty's Events
API v2): a local HTTP server that records what it receives, and a minimal Channel that posts to it.

The real provider clients are services/notify/channels/ (built in parallel); the receiver only needs
the Channel contract (services/notify/channels/base.py), which this one keeps: one POST per message,
2xx = Sent, 5xx/429 = RetryableResponse, other 4xx = TerminalResponse.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web

from services.notify.channels.base import BodyFormat, Outgoing, ReadStatus, Sent
from services.runtime.outbound import RetryableResponse, TerminalResponse


@dataclass
class FakeProvider:
    """An HTTP server on a free loopback port recording every JSON body posted to it."""

    received: list[dict[str, Any]] = field(default_factory=list)
    fail_with: int | None = None  # answer this status instead of 200
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> FakeProvider:
        app = web.Application()
        app.router.add_post("/hook", self._post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    async def _post(self, request: web.Request) -> web.Response:
        if self.fail_with is not None:
            return web.Response(status=self.fail_with, text="provider failing")
        self.received.append(await request.json())
        self.arrived.set()
        return web.json_response({"ok": True, "id": str(len(self.received))})

    async def wait(self, count: int, timeout: float) -> list[dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.received) < count:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(
                    f"{count} message(s) expected, {len(self.received)} arrived: {self.received}"
                )
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), left)
        return self.received

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@dataclass
class WebhookChannel:
    """Posts {"subject", "text", "extra"} to a FakeProvider (Slack: text; PagerDuty: extra's event)."""

    name: str
    url: str
    body_format: BodyFormat = "markdown"
    max_length: int = 40_000
    supports_read_receipts: bool = False
    client: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=5.0))

    async def send(self, message: Outgoing) -> Sent:
        try:
            reply = await self.client.post(
                self.url,
                json={
                    "address": message.address,
                    "subject": message.subject,
                    "text": message.body,
                    "urgency": message.urgency,
                    "extra": dict(message.extra),
                    "delivery_id": str(message.delivery_id),
                },
            )
        except httpx.TransportError as exc:
            raise RetryableResponse(repr(exc), destination=self.name, status=None, retry_after=None) from exc
        if reply.status_code >= 500 or reply.status_code == 429:
            raise RetryableResponse(
                reply.text, destination=self.name, status=reply.status_code, retry_after=None
            )
        if reply.status_code >= 400:
            raise TerminalResponse(
                reply.text, destination=self.name, status=reply.status_code, body=reply.text
            )
        return Sent(json.loads(reply.text).get("id"))

    async def resolve(self, email: str) -> str | None:
        return email  # a webhook has one target; the address is what was asked for, for the checks

    async def read_status(self, message: Outgoing, sent: Sent) -> ReadStatus:
        return ReadStatus(None)

    async def aclose(self) -> None:
        await self.client.aclose()
