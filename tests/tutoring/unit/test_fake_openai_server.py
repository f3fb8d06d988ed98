"""FakeOpenAI speaks the wire format: chat.completion bodies, the error shape, Retry-After,
Authorization, SSE streaming, and a CLI for running it as a separate process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import httpx
import openai
import pytest

from services.tutoring.testing.openai_server import Fail, FakeOpenAI, Reply, Stall

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "How do I reverse a list?"}]}


def test_chat_completion_shape_and_recording():
    with FakeOpenAI() as server:
        server.script(Reply("Use reversed() or slicing.", prompt_tokens=9, completion_tokens=5))
        response = httpx.post(f"{server.base_url}/chat/completions", json=CHAT, headers={"X-Trace": "t1"})
        assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
        assert response.status_code == 200
        body = response.json()
        assert body["object"] == "chat.completion" and body["model"] == "gpt-4o-mini"
        assert isinstance(body["id"], str) and isinstance(body["created"], int)
        assert body["choices"] == [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Use reversed() or slicing."},
                "finish_reason": "stop",
            }
        ]
        assert body["usage"] == {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}
        (request,) = server.requests
        assert request.body == CHAT and request.headers["x-trace"] == "t1"
        # The script is used up: the deterministic default answers next, the same way twice.
        first = httpx.post(f"{server.base_url}/chat/completions", json=CHAT).json()
        second = httpx.post(f"{server.base_url}/chat/completions", json=CHAT).json()
        text = first["choices"][0]["message"]["content"]
        assert text == second["choices"][0]["message"]["content"]
        assert "gpt-4o-mini" in text and "How do I reverse a list?" in text


def test_errors_have_the_openai_shape_and_retry_after():
    with FakeOpenAI() as server:
        server.script(Fail(429, retry_after=2), Fail(500, message="boom"))
        limited = httpx.post(f"{server.base_url}/chat/completions", json=CHAT)
        assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
        error = limited.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["code"] == "rate_limit_exceeded"
        broken = httpx.post(f"{server.base_url}/chat/completions", json=CHAT)
        assert broken.status_code == 500 and broken.json()["error"]["message"] == "boom"
        assert "retry-after" not in broken.headers
        invalid = httpx.post(f"{server.base_url}/chat/completions", json={"model": "m"})
        assert invalid.status_code == 400 and invalid.json()["error"]["param"] == "messages"
        assert httpx.post(f"{server.base_url}/nowhere", json=CHAT).status_code == 404
        assert server.pending == 0


def test_authorization_is_checked_when_a_key_is_set():
    with FakeOpenAI(api_key="sk-right") as server:
        missing = httpx.post(f"{server.base_url}/chat/completions", json=CHAT)
        wrong = httpx.post(
            f"{server.base_url}/chat/completions", json=CHAT, headers={"Authorization": "Bearer no"}
        )
        right = httpx.post(
            f"{server.base_url}/chat/completions", json=CHAT, headers={"Authorization": "Bearer sk-right"}
        )
        assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
        assert missing.json()["error"]["code"] == "invalid_api_key"
        assert len(server.requests) == 3
        models = httpx.get(f"{server.base_url}/models", headers={"Authorization": "Bearer sk-right"})
        assert models.json()["object"] == "list"


def test_streaming_with_the_openai_client():
    async def stream(base_url: str) -> tuple[str, int | None]:
        client = openai.AsyncOpenAI(base_url=base_url, api_key="any", max_retries=0)
        try:
            chunks = await client.chat.completions.create(
                **CHAT, stream=True, stream_options={"include_usage": True}
            )
            text, completion_tokens = "", None
            async for chunk in chunks:
                assert chunk.object == "chat.completion.chunk"
                if chunk.choices:
                    text += chunk.choices[0].delta.content or ""
                if chunk.usage:
                    completion_tokens = chunk.usage.completion_tokens
            return text, completion_tokens
        finally:
            await client.close()

    with FakeOpenAI() as server:
        server.script(Reply("Slicing:  items[::-1] works.", completion_tokens=4))
        assert asyncio.run(stream(server.base_url)) == ("Slicing:  items[::-1] works.", 4)
        assert server.requests[0].body["stream"] is True


def test_stall_answers_late_and_stop_does_not_wait_for_it():
    with FakeOpenAI() as server:
        server.script(Stall(0.3, then=Reply("late")))
        started = time.monotonic()
        late = httpx.post(f"{server.base_url}/chat/completions", json=CHAT)
        assert time.monotonic() - started >= 0.3
        assert late.json()["choices"][0]["message"]["content"] == "late"
        server.script(Stall(30))
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{server.base_url}/chat/completions", json=CHAT, timeout=0.2)
        started = time.monotonic()
    assert time.monotonic() - started < 3  # leaving the block woke the stalled handler


def test_runs_as_a_separate_process():
    help_text = subprocess.run(
        [sys.executable, "-m", "services.tutoring.testing.openai_server", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    assert "--port" in help_text and "--api-key" in help_text

    with subprocess.Popen(
        [sys.executable, "-m", "services.tutoring.testing.openai_server", "--port", "0", "--api-key", "k"],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            base_url = proc.stdout.readline().strip()
            assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
            auth = {"Authorization": "Bearer k"}
            response = httpx.post(f"{base_url}/chat/completions", json=CHAT, headers=auth)
            assert response.status_code == 200 and response.json()["object"] == "chat.completion"
        finally:
            proc.terminate()
            assert proc.wait(timeout=10) == 0
