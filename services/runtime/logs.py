"""Structured JSON logs on stdout, one object per line, carrying correlation id, tenant and trace id."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

from services.runtime import request_context

_RESERVED = set(vars(logging.makeLogRecord({})))

# Secrets never reach a log line, whoever wrote it: a field whose name says it holds one is replaced,
# and in free text (messages, tracebacks, values) anything shaped like `password=...`,
# `"client_secret": "..."`, `?api_key=...` or `Bearer <token>` is masked. The services never log
# request bodies; this is the net under mistakes (an exception quoting its input, a URL with a query).
SECRET_NAME = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[-_]?key|authorization|credential|cookie", re.IGNORECASE
)
_SECRET_IN_TEXT = re.compile(
    r"""(?ix)
    ( (?<![a-z0-9_])
      (?:password|passwd|[a-z]*_password|client_secret|[a-z]*_secret|secret|api[-_]?key|apikey
        |access_token|refresh_token|id_token|wstoken|authorization)
      ["']? \s* [:=] \s* ["']? (?:bearer\s+)? )
    ( [^\s"'&,;}\]]+ )
    | ( \bbearer\s+ ) ( [A-Za-z0-9._~+/=-]{8,} )
    """
)
MASK = "***"


def redact(text: str) -> str:
    """`text` with every value that looks like a secret replaced by ***."""
    if not text:
        return text
    return _SECRET_IN_TEXT.sub(lambda m: (m.group(1) or m.group(3)) + MASK, text)


def _clean(key: str, value: Any) -> Any:
    if isinstance(value, str | bytes) and value and SECRET_NAME.search(key):
        return MASK
    if isinstance(value, str):
        return redact(value)
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        ctx = request_context.current()
        if ctx is not None:
            out["correlation_id"] = ctx.correlation_id
            if ctx.tenant_id:
                out["tenant_id"] = ctx.tenant_id
            if ctx.rpc:
                out["rpc"] = ctx.rpc
        trace_id = _trace_id()
        if trace_id:
            out["trace_id"] = trace_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = _clean(key, value)
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, default=str)


def _trace_id() -> str:
    try:
        from opentelemetry import trace
    except ImportError:  # pragma: no cover
        return ""
    span_ctx = trace.get_current_span().get_span_context()
    return format(span_ctx.trace_id, "032x") if span_ctx.is_valid else ""


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("nats", "asyncio", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
