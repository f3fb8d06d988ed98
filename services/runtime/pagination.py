"""AIP-158 pagination: page_size (0 means the default, above the maximum is coerced down, negative is
invalid) and opaque page tokens that carry a keyset position."""

from __future__ import annotations

import base64
import json
import math
import uuid
from datetime import datetime, timedelta
from typing import Any

from services.runtime.errors import FieldViolation, InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def page_size(value: int, *, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    if value < 0:
        raise InvalidArgument("page_size must not be negative", [FieldViolation("page_size", "must be >= 0")])
    return min(value or default, maximum)


def encode_token(position: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def _bad_token(cause: str) -> InvalidArgument:
    return InvalidArgument(
        "page_token is not valid",
        [FieldViolation("page_token", f"use a next_page_token from a previous response ({cause})")],
    )


def _typed(value: Any, kind: type) -> Any:
    """One position field as `kind`, or ValueError: what a client sends back is never trusted. Within
    what the database stores too: an int fits a bigint, a string has no NUL and is valid UTF-8 (no
    lone surrogate from a JSON escape), a time has an offset PostgreSQL accepts."""
    if kind is str and isinstance(value, str):
        if "\x00" in value:
            raise ValueError("a NUL character")
        value.encode()  # UnicodeEncodeError (a ValueError) for a lone surrogate
        return value
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        if not -(2**63) <= value < 2**63:
            raise ValueError("an integer out of range")
        return value
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is float and number and math.isfinite(value):
        return float(value)
    if kind is datetime and isinstance(value, str):
        moment = datetime.fromisoformat(value)
        offset = moment.utcoffset()
        if offset is not None and abs(offset) < timedelta(hours=16):
            return moment
    if kind is uuid.UUID and isinstance(value, str):
        return uuid.UUID(value)
    raise ValueError(f"not a {kind.__name__}")


def decode_token(token: str, **fields: type) -> dict[str, Any] | None:
    """The keyset position a page token carries, None for the first page. `fields` names each key the
    position must have and its type (str, int, float, datetime with a time zone, uuid.UUID); values
    come back converted. A token that is not exactly that (damaged, forged, from another list) is
    INVALID_ARGUMENT, so no client-made value reaches a query as anything but the expected type."""
    if not fields:
        raise TypeError("decode_token: name the position's fields and their types")
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, json.JSONDecodeError) as exc:
        raise _bad_token("not a token") from exc
    if not isinstance(value, dict) or set(value) != set(fields):
        raise _bad_token("not a position of this list")
    try:
        return {name: _typed(value[name], kind) for name, kind in fields.items()}
    except ValueError as exc:
        raise _bad_token(str(exc)) from exc
