"""Schedules → sessions: an RFC 5545 recurrence rule expanded in the school's time zone.

Why wall-clock times and not UTC: a reading group "Mondays at 09:00" meets at 09:00 on both sides
of a daylight-saving change, so the rule is expanded on naive local date-times (dateutil's rrule)
and each occurrence is then placed in the zone (zoneinfo). RFC 5545 §3.3.5 says what to do with the
two awkward cases, and `datetime.replace(tzinfo=zone)` with fold=0 does exactly that:

- a local time that does not exist (the spring-forward gap, 02:30 in America/New_York) is read with
  the offset *before* the gap, so it lands at 03:30 local time;
- a local time that happens twice (fall back, 01:30) is the *first* of the two.

Holidays remove every session of that local date; exceptions (RFC 5545 EXDATE, by date) remove the
one meeting of the schedule on that date; extra dates (RDATE) add meetings outside the rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from services.runtime.errors import Violations
from services.runtime.zones import zone_named

MAX_SESSIONS = 2000  # a year of daily sessions with room to spare; a rule making more is a mistake
MAX_RULE_LEN = 500
MIN_DURATION, MAX_DURATION = 5, 480


@dataclass(frozen=True)
class Schedule:
    """When an intervention meets. `rrule` is the RRULE value without its "RRULE:" prefix
    (FREQ=WEEKLY;BYDAY=MO,WE,FR); UNTIL and COUNT are allowed but the intervention's end date bounds
    the expansion anyway."""

    rrule: str
    start_time: time  # local wall-clock time in `time_zone`
    duration_minutes: int
    time_zone: str
    holidays: tuple[date, ...] = ()
    exceptions: tuple[date, ...] = ()
    extra_dates: tuple[date, ...] = ()


@dataclass(frozen=True)
class Occurrence:
    starts_at: datetime  # aware, UTC
    ends_at: datetime  # aware, UTC
    local_date: date  # the school's date of the meeting (the attendance day)


zone_of = zone_named


def check_schedule(v: Violations, s: Schedule | None, path: str) -> None:
    """Every problem of a schedule as field violations; the rule is parsed here so a bad RRULE is a
    400 naming the field, never a 500 from the expansion."""
    if s is None:
        v.add(path, "is required")
        return
    if not s.rrule.strip():
        v.add(f"{path}.rrule", "is required")
    elif len(s.rrule) > MAX_RULE_LEN:
        v.add(f"{path}.rrule", f"must be at most {MAX_RULE_LEN} characters")
    else:
        problem = rule_problem(s.rrule)
        if problem:
            v.add(f"{path}.rrule", problem)
    if zone_of(s.time_zone) is None:
        v.add(f"{path}.time_zone", "must be an IANA time zone such as America/New_York")
    if not MIN_DURATION <= s.duration_minutes <= MAX_DURATION:
        v.add(f"{path}.duration_minutes", f"must be between {MIN_DURATION} and {MAX_DURATION}")


def rule_problem(rule: str) -> str:
    """What is wrong with an RRULE value, or "" when nothing is."""
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if "\n" in text or "DTSTART" in text.upper():
        return "must be one RRULE value (FREQ=...;...), without DTSTART"
    if not text.upper().startswith("FREQ=") and ";FREQ=" not in text.upper():
        return "must name FREQ (e.g. FREQ=WEEKLY;BYDAY=MO,WE)"
    try:
        rrulestr(text, dtstart=datetime(2000, 1, 1))
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        return f"is not a valid RFC 5545 RRULE: {err}"
    if "FREQ=SECONDLY" in text.upper() or "FREQ=MINUTELY" in text.upper() or "FREQ=HOURLY" in text.upper():
        return "must repeat daily or less often"
    return ""


def place(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of local wall-clock `at` on `day`, by RFC 5545's rules (module docstring)."""
    return datetime.combine(day, at).replace(tzinfo=zone, fold=0).astimezone(UTC)


def expand(s: Schedule, first_day: date, last_day: date) -> list[Occurrence]:
    """The meetings from first_day to last_day inclusive, in time order. Assumes check_schedule
    passed. Raises ValueError when the rule makes more than MAX_SESSIONS meetings."""
    zone = zone_of(s.time_zone)
    assert zone is not None, "check_schedule first"
    text = s.rrule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    rule = rrulestr(text, dtstart=datetime.combine(first_day, s.start_time))
    end = datetime.combine(last_day, time.max)
    days: set[date] = set()
    for occurrence in rule.xafter(datetime.combine(first_day, s.start_time), inc=True):
        if occurrence > end:
            break
        days.add(occurrence.date())
        if len(days) > MAX_SESSIONS:
            raise ValueError(f"the schedule makes more than {MAX_SESSIONS} sessions")
    days.update(d for d in s.extra_dates if first_day <= d <= last_day)
    days.difference_update(s.holidays)
    days.difference_update(s.exceptions)
    length = timedelta(minutes=s.duration_minutes)
    out = []
    for day in sorted(days):
        start = place(day, s.start_time, zone)
        # The end is start + duration in elapsed time: a session crossing a change lasts as planned.
        out.append(Occurrence(starts_at=start, ends_at=start + length, local_date=day))
    return out
