"""Secrets never reach a log line: the JSON formatter masks them in messages, fields and tracebacks."""

from __future__ import annotations

import json
import logging

from services.runtime.logs import MASK, JsonFormatter, redact


def line(msg: str, *args: object, exc: BaseException | None = None, **extra: object) -> dict:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, None)
    if exc is not None:
        try:
            raise exc
        except BaseException as raised:
            record.exc_info = (type(raised), raised, raised.__traceback__)
    record.__dict__.update(extra)
    return json.loads(JsonFormatter().format(record))


def test_fields_named_like_secrets_are_masked_and_others_kept():
    out = line(
        "created", password="hunter2-hunter2", client_secret="abc", api_key="k", email="a@b.c", tokens=42
    )
    assert out["password"] == out["client_secret"] == out["api_key"] == MASK
    assert out["email"] == "a@b.c" and out["tokens"] == 42  # a count is not a secret


def test_secrets_in_free_text_are_masked():
    out = line(
        "request %s failed", "POST /v1/users?password=hunter2-hunter2&x=1", error='{"refresh_token": "r-123"}'
    )
    assert "hunter2" not in json.dumps(out) and "r-1" not in json.dumps(out)
    assert "x=1" in out["msg"]


def test_a_traceback_quoting_a_secret_is_masked():
    out = line("crashed", exc=ValueError("bad login: password='hunter2-hunter2'"))
    assert "hunter2" not in out["exc"] and "ValueError" in out["exc"]


def test_bearer_tokens_anywhere():
    assert redact("Authorization: Bearer eyJhbGciOiJFUzI1NiJ9.e30.sig") == "Authorization: Bearer ***"
    assert redact("token_count=5 and a tokenizer") == "token_count=5 and a tokenizer"
