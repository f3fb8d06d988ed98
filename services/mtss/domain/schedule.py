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

from dateutil import parser
from dateutil.rrule import rrulestr

from services.runtime.errors import Violations
from services.runtime.zones import zone_named

MAX_SESSIONS = 2000  # a year of daily sessions with room to spare; a rule making more is a mistake
MAX_RULE_LEN = 500
MAX_SETPOS = 7  # "the last weekday of the month" is one; each position is a pass over every period
DAY_OR_LONGER = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
# The Gregorian calendar repeats every 400 years: 146,097 days, exactly 20,871 weeks, so month
# lengths, leap days, weekdays and ISO week numbers are the same 400 years on. See `expand`.
CYCLE_YEARS = 400
LAST_SHIFTED_YEAR = 9998  # date.max is in 9999; dateutil stops there
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
    if zone_named(s.time_zone) is None:
        v.add(f"{path}.time_zone", "must be an IANA time zone such as America/New_York")
    if not MIN_DURATION <= s.duration_minutes <= MAX_DURATION:
        v.add(f"{path}.duration_minutes", f"must be between {MIN_DURATION} and {MAX_DURATION}")


def rule_parts(rule: str) -> list[tuple[str, str]]:
    """The NAME=VALUE parts of an RRULE value, upper-cased, in order (as dateutil reads them)."""
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    parts = []
    for pair in text.split(";"):
        name, _, value = pair.partition("=")
        parts.append((name.strip().upper(), value.strip().upper()))
    return parts


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
    parts = dict(rule_parts(text))
    if parts.get("FREQ") not in DAY_OR_LONGER:
        return "must repeat daily or less often"
    for name in ("BYHOUR", "BYMINUTE", "BYSECOND"):
        if "," in parts.get(name, ""):
            # A session starts once a day, at the schedule's start_time: a list here would make
            # up to 86,400 occurrences a day for the expansion to walk through.
            return f"{name} may name one value: a session starts once a day, at start_time"
    if "BYEASTER" in parts:
        return "BYEASTER is not part of RFC 5545"
    if len(parts.get("BYSETPOS", "").split(",")) > MAX_SETPOS:
        return f"BYSETPOS may name at most {MAX_SETPOS} positions"
    return ""


def place(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of local wall-clock `at` on `day`, by RFC 5545's rules (module docstring)."""
    return datetime.combine(day, at).replace(tzinfo=zone, fold=0).astimezone(UTC)


def _shifted(day: date, years: int) -> date:
    return day.replace(year=day.year + years)  # exact: a multiple of CYCLE_YEARS keeps 29 February


def expand(s: Schedule, first_day: date, last_day: date) -> list[Occurrence]:
    """The meetings from first_day to last_day inclusive, in time order. Assumes check_schedule
    passed (so at most one occurrence a day: FREQ is DAILY or longer, one BYHOUR/BYMINUTE/BYSECOND).
    Raises ValueError when the rule makes more than MAX_SESSIONS meetings, or none in the range.

    Why the expansion runs 400·k years later: dateutil's generator looks for the next occurrence
    period by period and stops only at one (past UNTIL, COUNT or our end) or at year 9999, so a rule
    that never or seldom matches (FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30) walks every day to 9999,
    seconds of CPU, UNTIL or not. The calendar repeats every 400 years, so the same rule expanded
    over the same dates moved by a multiple of 400 years into the 9600s gives the same dates, and the
    walk past `last_day` is at most ~400 years of periods (under 0.5 s for the worst DAILY rule).
    UNTIL is taken out of the rule and applied here, on the unshifted dates."""
    zone = zone_named(s.time_zone)
    assert zone is not None, "check_schedule first"
    parts = rule_parts(s.rrule)
    until = next((v for n, v in parts if n == "UNTIL"), "")
    end = datetime.combine(last_day, time.max)
    if until:
        # As dateutil reads it (a date is its midnight); check_schedule refused a zoned one.
        end = min(end, parser.parse(until).replace(tzinfo=None))
    years = CYCLE_YEARS * ((LAST_SHIFTED_YEAR - last_day.year) // CYCLE_YEARS)
    body = ";".join(f"{n}={v}" for n, v in parts if n != "UNTIL")
    rule = rrulestr(body, dtstart=datetime.combine(_shifted(first_day, years), s.start_time))
    shifted_end = end.replace(year=end.year + years) if end.date() >= first_day else None
    days: set[date] = set()
    occurrences = iter(rule) if shifted_end else iter(())
    made = 0
    while True:
        try:
            occurrence = next(occurrences)
        except StopIteration:
            break
        except (ValueError, OverflowError):
            break  # dateutil reached past date.max: long after shifted_end, nothing left to take
        except (IndexError, KeyError, TypeError) as err:  # dateutil's own failure on odd rules
            raise ValueError(f"cannot be expanded ({type(err).__name__}): simplify the rule") from err
        assert shifted_end is not None
        if occurrence > shifted_end:
            break
        made += 1  # every occurrence counts, not only new days: the bound is on the iterations
        if made > MAX_SESSIONS:
            raise ValueError(f"the schedule makes more than {MAX_SESSIONS} sessions")
        days.add(_shifted(occurrence.date(), -years))
    in_range = {d for d in s.extra_dates if first_day <= d <= last_day}
    if not days and not in_range:
        raise ValueError(f"makes no sessions between {first_day} and {last_day}")
    days.update(in_range)
    days.difference_update(s.holidays)
    days.difference_update(s.exceptions)
    length = timedelta(minutes=s.duration_minutes)
    out = []
    for day in sorted(days):
        start = place(day, s.start_time, zone)
        # The end is start + duration in elapsed time: a session crossing a change lasts as planned.
        out.append(Occurrence(starts_at=start, ends_at=start + length, local_date=day))
    return out
