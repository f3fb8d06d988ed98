"""Wakes StreamConversation calls when an answer for their conversation is published on
learning.responses (a core NATS subscription in every API process: fan-out, not a queue)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from services.tutoring import convert

RESPONSES = "learning.responses"


class Notifier:
    """Wakes StreamConversation calls when an answer for their conversation is published on
    learning.responses (a core NATS subscription in every API process: fan-out, not a queue). The
    database stays the source of truth: a woken stream reads what is new, and streams also look
    every `poll_seconds` in case a notification was missed."""

    def __init__(self, poll_seconds: float = 2.0):
        self.poll_seconds = poll_seconds
        self._watchers: dict[str, set[asyncio.Event]] = {}
        self._sub: Any = None

    async def start(self, nc: Any) -> None:
        if nc is not None:
            self._sub = await nc.subscribe(RESPONSES, cb=self._on_message)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def _on_message(self, msg: Any) -> None:
        try:
            conversation_id = convert.conversation_of_response(msg.data)
        except Exception:  # not ours to judge here; the stream's poll still finds the message
            return
        for waiter in self._watchers.get(conversation_id, ()):
            waiter.set()

    @contextlib.contextmanager
    def watch(self, conversation_id: str) -> Any:
        waiter = asyncio.Event()
        self._watchers.setdefault(conversation_id, set()).add(waiter)
        try:
            yield waiter
        finally:
            watchers = self._watchers.get(conversation_id)
            if watchers is not None:
                watchers.discard(waiter)
                if not watchers:
                    del self._watchers[conversation_id]
