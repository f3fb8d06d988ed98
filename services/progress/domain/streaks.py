"""Streaks: consecutive active days, counted in the student's own time zone (an IANA name).

A day is a calendar day on the student's wall clock, so a streak survives DST changes (23- and 25-hour
days) and big offsets (Pacific/Kiritimati, UTC+14; Pacific/Pago_Pago, UTC-11), and two activities on
either side of UTC midnight are one day when they are one local day. "The next day" is the local date
that begins when `day` ends, so a date the zone skipped (Pacific/Apia jumped from 29 to 31 December
2011) is not a missed day.

State per student is O(1): the current and longest streak, the last active local date, and a bitmask of
which of the RECENT_DAYS days up to that date were active (for the activity-drop rule in struggle.py).
An activity older than the last active day never breaks the streak and is never counted twice: it only
sets its bit in the mask (the streak itself is not rebuilt, which would need the history).
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

RECENT_DAYS = 28
_MASK = (1 << RECENT_DAYS) - 1


@dataclass(frozen=True)
class StreakState:
    current: int = 0
    longest: int = 0
    last_active_date: date | None = None
    # bit i set: the student was active on the local day i days before last_active_date.
    recent_days: int = 0


def local_date(at: datetime, tz: str) -> date:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("activity times must be aware datetimes (UTC)")
    return at.astimezone(zoneinfo.ZoneInfo(tz)).date()


def next_day(day: date, tz: str) -> date:
    """The local date that starts when `day` ends: day + 1, except across a date the zone skipped."""
    zone = zoneinfo.ZoneInfo(tz)
    midnight = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    return midnight.astimezone(UTC).astimezone(zone).date()


def record_activity(state: StreakState, at: datetime, tz: str) -> StreakState:
    """The state after an activity at `at` (aware) by a student living in `tz`."""
    day = local_date(at, tz)
    last = state.last_active_date
    if last is None:
        return StreakState(current=1, longest=max(state.longest, 1), last_active_date=day, recent_days=1)
    if day == last:
        return state
    if day < last:
        back = (last - day).days
        return replace(state, recent_days=state.recent_days | (1 << back)) if back < RECENT_DAYS else state
    current = state.current + 1 if day == next_day(last, tz) else 1
    recent = ((state.recent_days << (day - last).days) | 1) & _MASK
    return StreakState(current, max(state.longest, current), day, recent)


def current_streak(state: StreakState, now: datetime, tz: str) -> int:
    """The streak as of `now`: still current today and the day after the last active day (the student
    has until their midnight to keep it), 0 once a whole local day has passed without activity."""
    if state.last_active_date is None:
        return 0
    today = local_date(now, tz)
    return state.current if today <= next_day(state.last_active_date, tz) else 0


def missed_days(state: StreakState, now: datetime, tz: str) -> int:
    """Whole local days since the last active day without activity (today, not over yet, is not one)."""
    if state.last_active_date is None:
        return 0
    return max(0, (local_date(now, tz) - next_day(state.last_active_date, tz)).days)


def active_days(state: StreakState, days: int) -> int:
    """On how many of the `days` local days ending at the last active day (inclusive) the student was
    active. `days` is capped at RECENT_DAYS."""
    window = (1 << min(days, RECENT_DAYS)) - 1
    return (state.recent_days & window).bit_count()
