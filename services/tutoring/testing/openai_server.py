"""A small, real OpenAI-compatible HTTP server for tests and offline demos.

Why a real server and not a mocked SDK: the provider layer's value is in how it reacts to the wire
(status codes, `Retry-After`, slow answers, malformed bodies). Driving the real `openai` client
against real HTTP tests exactly that, and the same server can stand in for the provider when the
mesh runs as separate processes (`python -m services.tutoring.testing.openai_server --port N`).

Stdlib only (`ThreadingHTTPServer` on a background thread), so it works from sync tests, from
asyncio tests (the event loop is never blocked by the server) and from another process.

    with FakeOpenAI() as server:
        server.script(Fail(429, retry_after=1), Reply("Use a for loop."))
        ... point OPENAI_BASE_URL at server.base_url ...
        assert len(server.requests) == 2

Wire format: POST /v1/chat/completions → chat.completion (or SSE chat.completion.chunk events
when `stream` is true); errors are {"error": {message, type, param, code}}; GET /v1/models.
"""

from __future__ import annotations

import argparse
import itertools
import json
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = [
    "Behaviour",
    "Fail",
    "FakeOpenAI",
    "RecordedRequest",
    "Reply",
    "Responder",
    "Stall",
    "tutor_echo",
]


@dataclass(frozen=True)
class Reply:
    """A successful completion. Token counts default to a word count of the prompt / the content."""

    content: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str = "stop"


@dataclass(frozen=True)
class Fail:
    """An error status with the OpenAI error body; `retry_after` (seconds) sets the Retry-After header."""

    status: int
    retry_after: float | None = None
    message: str = ""


@dataclass(frozen=True)
class Stall:
    """Waits `seconds` (longer than the client's timeout), then answers with `then` or the default."""

    seconds: float
    then: Reply | Fail | None = None


Behaviour = Reply | Fail | Stall
Responder = Callable[[Mapping[str, Any]], Behaviour]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-cased names
    body: Any  # the parsed JSON body; None if absent or not JSON


_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_denied", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
_ERROR_MESSAGES = {
    400: "Invalid request.",
    401: "Incorrect API key provided.",
    403: "You are not allowed to use this model.",
    404: "The model does not exist or you do not have access to it.",
    429: "Rate limit reached for requests. Please try again later.",
}


def tutor_echo(body: Mapping[str, Any]) -> Reply:
    """The default responder: deterministic, names the model and the learner's first words, so tests
    can tell which agent/model and which prompt produced an answer."""
    model = str(body.get("model", "unknown-model"))
    last_user = next(
        (str(m.get("content", "")) for m in reversed(body.get("messages") or []) if m.get("role") == "user"),
        "",
    )
    first_words = " ".join(last_user.split()[:6]) or "your question"
    return Reply(f"[{model}] About “{first_words}”: try a small example first, then check each step.")


def _words(text: object) -> int:
    return len(str(text).split())


class FakeOpenAI:
    """A scripted OpenAI-compatible server on 127.0.0.1 and a free port, on a background thread."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        default: Responder = tutor_echo,
    ):
        self.host = host
        self.port = port
        self.api_key = api_key  # when set, requests need "Authorization: Bearer <api_key>" (else 401)
        self.default: Responder = default
        self._script: deque[Behaviour] = deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer((self.host, self.port), handler)
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes stalled handlers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """What OPENAI_BASE_URL should be: includes /v1, as the openai client expects."""
        return f"http://{self.host}:{self.port}/v1"

    # -- scripting ---------------------------------------------------------------------------------

    def script(self, *behaviours: Behaviour) -> None:
        """Queues behaviours, consumed one per chat request; afterwards `default` answers."""
        with self._lock:
            self._script.extend(behaviours)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._script)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _next(self, body: Mapping[str, Any]) -> Behaviour:
        with self._lock:
            if self._script:
                return self._script.popleft()
        return self.default(body)

    def _wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def _completion_id(self) -> str:
        return f"chatcmpl-fake-{next(self._ids)}"


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAI
    server_version = "FakeOpenAI/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read server.requests instead

    def do_GET(self) -> None:
        self.fake._record(RecordedRequest("GET", self.path, self._headers(), None))
        if not self._authorized():
            return
        if self.path.rstrip("/") == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
        else:
            self._error(404, f"Unknown path {self.path}", code="unknown_url")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self.fake._record(RecordedRequest("POST", self.path, self._headers(), body))
        if not self._authorized():
            return
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._error(404, f"Unknown path {self.path}", code="unknown_url")
            return
        if not isinstance(body, dict):
            self._error(400, "The request body must be a JSON object.")
            return
        if not body.get("model"):
            self._error(400, "you must provide a model parameter", param="model")
            return
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            self._error(400, "'messages' must be a non-empty array", param="messages")
            return
        self._behave(self.fake._next(body), body)

    def _behave(self, behaviour: Behaviour, body: dict[str, Any]) -> None:
        if isinstance(behaviour, Stall):
            self.fake._wait(behaviour.seconds)
            behaviour = behaviour.then or self.fake.default(body)
            if isinstance(behaviour, Stall):  # a default that stalls again: answer anyway
                behaviour = tutor_echo(body)
        try:
            if isinstance(behaviour, Fail):
                self._fail(behaviour)
            elif body.get("stream"):
                self._stream(behaviour, body)
            else:
                self._json(200, self._chat_completion(behaviour, body))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. timed out during a Stall)

    # -- responses ---------------------------------------------------------------------------------

    def _chat_completion(self, reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
        prompt, completion = self._tokens(reply, body)
        return {
            "id": self.fake._completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.content},
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }

    def _stream(self, reply: Reply, body: dict[str, Any]) -> None:
        """SSE: a role chunk, one chunk per word, a finish chunk, [optional usage chunk], [DONE]."""
        cid, created, model = self.fake._completion_id(), int(time.time()), body["model"]

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            choices = [{"index": 0, "delta": delta, "finish_reason": finish}] if delta or finish else []
            event = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
                **extra,
            }
            return f"data: {json.dumps(event)}\n\n".encode()

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        self.wfile.write(chunk({"role": "assistant", "content": ""}))
        for piece in _pieces(reply.content):
            self.wfile.write(chunk({"content": piece}))
        self.wfile.write(chunk({}, reply.finish_reason))
        if (body.get("stream_options") or {}).get("include_usage"):
            prompt, completion = self._tokens(reply, body)
            usage = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
            self.wfile.write(chunk({}, None, usage=usage))
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _tokens(self, reply: Reply, body: dict[str, Any]) -> tuple[int, int]:
        prompt = reply.prompt_tokens
        if prompt is None:
            prompt = sum(_words(m.get("content", "")) for m in body["messages"] if isinstance(m, dict))
        completion = reply.completion_tokens if reply.completion_tokens is not None else _words(reply.content)
        return prompt, completion

    def _fail(self, fail: Fail) -> None:
        headers = {"Retry-After": _seconds(fail.retry_after)} if fail.retry_after is not None else {}
        message = fail.message or _ERROR_MESSAGES.get(
            fail.status, "The server had an error processing your request."
        )
        self._error(fail.status, message, headers=headers)

    def _error(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        kind, default_code = _ERROR_TYPES.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None)
        )
        error = {"message": message, "type": kind, "param": param, "code": code or default_code}
        self._json(status, {"error": error}, headers)

    def _json(self, status: int, payload: object, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", f"req-fake-{len(self.fake.requests)}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    # -- helpers -----------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers.items()}

    def _authorized(self) -> bool:
        expected = self.fake.api_key
        if expected is None or self.headers.get("Authorization") == f"Bearer {expected}":
            return True
        self._error(401, _ERROR_MESSAGES[401])
        return False


def _pieces(text: str) -> Iterator[str]:
    """Word-sized deltas that concatenate back to `text` exactly."""
    start = 0
    for i, ch in enumerate(text):
        if ch == " " and i > start:
            yield text[start:i]
            start = i
    if start < len(text):
        yield text[start:]


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.tutoring.testing.openai_server",
        description="Serve a fake OpenAI-compatible chat-completions API until interrupted. "
        "Prints the base URL (for OPENAI_BASE_URL) on the first line of stdout.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: a free port)")
    parser.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY' (default: any)")
    args = parser.parse_args(argv)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    with FakeOpenAI(host=args.host, port=args.port, api_key=args.api_key) as server:
        sys.stdout.write(server.base_url + "\n")
        sys.stdout.flush()
        while not done.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
