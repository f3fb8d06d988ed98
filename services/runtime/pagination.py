"""AIP-158 pagination: page_size (0 means the default, above the maximum is coerced down, negative is
invalid) and opaque page tokens that carry a keyset position."""

from __future__ import annotations

import base64
import json
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


def decode_token(token: str) -> dict[str, Any] | None:
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(value, dict):
            raise ValueError("not an object")
        return value
    except (ValueError, json.JSONDecodeError) as exc:
        raise InvalidArgument(
            "page_token is not valid",
            [FieldViolation("page_token", "use a next_page_token from a previous response")],
        ) from exc
