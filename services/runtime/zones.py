"""IANA time zones by name, for every context: one answer to "is this a zone?" whatever the input."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone_named(name: str) -> ZoneInfo | None:
    """The zone of that name (Europe/Berlin), or None for anything that is not one: unknown, empty,
    malformed (a path, a NUL), longer than 64 characters, or a folder of the tz database ("America",
    "Etc"), which Python's zoneinfo answers with IsADirectoryError rather than ZoneInfoNotFoundError
    when it reads the tzdata package."""
    if not name or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
