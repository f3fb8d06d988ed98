"""Schedules expanded into sessions in the school's time zone, across daylight-saving changes, with
holidays, exceptions and extra dates; bad rules are field violations."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from dateutil.rrule import rrulestr

from services.mtss.domain.schedule import Schedule, check_schedule, expand
from services.runtime.errors import Violations

NY = "America/New_York"


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_weekly_meeting_keeps_its_wall_clock_time_across_the_fall_change():
    s = Schedule("FREQ=WEEKLY;BYDAY=MO,WE", time(9, 0), 30, NY)
    got = expand(s, date(2026, 10, 26), date(2026, 11, 4))
    assert [o.local_date for o in got] == [
        date(2026, 10, 26),
        date(2026, 10, 28),
        date(2026, 11, 2),
        date(2026, 11, 4),
    ]
    # 09:00 EDT (UTC-4) before 1 November 2026, 09:00 EST (UTC-5) after.
    assert got[0].starts_at == _utc(2026, 10, 26, 13, 0)
    assert got[2].starts_at == _utc(2026, 11, 2, 14, 0)
    assert all((o.ends_at - o.starts_at).total_seconds() == 1800 for o in got)


def test_holidays_exceptions_and_extra_dates():
    s = Schedule(
        "FREQ=WEEKLY;BYDAY=MO,WE",
        time(9, 0),
        30,
        NY,
        holidays=(date(2026, 11, 2),),
        exceptions=(date(2026, 10, 28),),
        extra_dates=(date(2026, 10, 30), date(2027, 1, 1)),  # the second is outside the range
    )
    got = expand(s, date(2026, 10, 26), date(2026, 11, 4))
    assert [o.local_date for o in got] == [date(2026, 10, 26), date(2026, 10, 30), date(2026, 11, 4)]


def test_a_time_in_the_spring_gap_moves_forward_and_a_repeated_time_is_the_first():
    # 14 March 2027 02:30 does not exist in New York: RFC 5545 reads it with the offset before the
    # gap (UTC-5), which is 03:30 EDT.
    gap = expand(Schedule("FREQ=DAILY", time(2, 30), 30, NY), date(2027, 3, 13), date(2027, 3, 15))
    assert [o.starts_at for o in gap] == [
        _utc(2027, 3, 13, 7, 30),
        _utc(2027, 3, 14, 7, 30),
        _utc(2027, 3, 15, 6, 30),
    ]
    # 1 November 2026 01:30 happens twice; the first (EDT, UTC-4) is used.
    twice = expand(Schedule("FREQ=DAILY;COUNT=1", time(1, 30), 30, NY), date(2026, 11, 1), date(2026, 11, 1))
    assert [o.starts_at for o in twice] == [_utc(2026, 11, 1, 5, 30)]


def test_the_end_date_bounds_a_rule_without_until():
    got = expand(
        Schedule("FREQ=WEEKLY;BYDAY=TU", time(10, 0), 45, "Europe/Berlin"),
        date(2026, 1, 1),
        date(2026, 12, 31),
    )
    assert len(got) == 52 and got[0].local_date == date(2026, 1, 6)


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        (Schedule("", time(9), 30, NY), "s.rrule"),
        (Schedule("BYDAY=MO", time(9), 30, NY), "s.rrule"),
        (Schedule("FREQ=WEEKLY;BYDAY=XX", time(9), 30, NY), "s.rrule"),
        (Schedule("FREQ=MINUTELY", time(9), 30, NY), "s.rrule"),
        (Schedule("DTSTART:20260101T000000\nRRULE:FREQ=DAILY", time(9), 30, NY), "s.rrule"),
        (Schedule("FREQ=WEEKLY", time(9), 30, "Mars/Olympus"), "s.time_zone"),
        (Schedule("FREQ=WEEKLY", time(9), 0, NY), "s.duration_minutes"),
    ],
)
def test_bad_schedules_are_field_violations(schedule, field):
    v = Violations()
    check_schedule(v, schedule, "s")
    assert field in {i.field for i in v.items}


def test_a_good_schedule_has_no_violations():
    v = Violations()
    check_schedule(
        v, Schedule("RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20270601T000000", time(9), 30, NY), "s"
    )
    assert v.items == []


# --- the expansion's bound --------------------------------------------------------------------------

EVERY_SECOND = (
    "FREQ=DAILY;BYHOUR="
    + ",".join(map(str, range(24)))
    + ";BYMINUTE="
    + ",".join(map(str, range(60)))
    + ";BYSECOND="
    + ",".join(map(str, range(60)))
)


@pytest.mark.parametrize(
    "rule",
    [
        EVERY_SECOND,  # 86,400 occurrences a day
        "FREQ=DAILY;BYHOUR=9,10",
        "FREQ=YEARLY;BYEASTER=0",  # dateutil's, not RFC 5545's (and not on the 400-year cycle)
        "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=1,2,3,4,5,-1,-2,-3",
        "FREQ=HOURLY",
        "FREQ=WEEKLY;FREQ=SECONDLY",  # the last FREQ is the one dateutil keeps
    ],
)
def test_a_rule_making_more_than_one_occurrence_a_day_is_refused(rule):
    v = Violations()
    check_schedule(v, Schedule(rule, time(9), 30, NY), "s")
    assert {i.field for i in v.items} == {"s.rrule"}


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=DAILY;BYMONTHDAY=31;BYMONTH=4,6,9,11",
        "FREQ=DAILY;BYYEARDAY=366;BYMONTH=1",
        "FREQ=DAILY;BYSETPOS=2",
        "FREQ=WEEKLY;BYDAY=MO;UNTIL=18991231",  # ends before the intervention begins
    ],
)
@pytest.mark.parametrize("first", [date(1900, 1, 1), date(2026, 8, 3), date(2998, 12, 27)])
def test_a_rule_making_no_occurrence_in_the_range_is_refused_and_does_not_walk_to_9999(rule, first):
    """dateutil stops only at an occurrence or at year 9999: these rules walked every day to 9999 (4
    to 7 s each); expanded 400·k years on, the walk is at most ~400 years."""
    v = Violations()
    check_schedule(v, Schedule(rule, time(9), 30, NY), "s")
    assert v.items == []
    with pytest.raises(ValueError, match="makes no sessions"):
        expand(Schedule(rule, time(9), 30, NY), first, min(first + timedelta(days=400), date(2999, 12, 31)))


def test_extra_dates_alone_still_make_sessions():
    s = Schedule("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", time(9), 30, NY, extra_dates=(date(2026, 9, 1),))
    assert [o.local_date for o in expand(s, date(2026, 8, 3), date(2026, 12, 1))] == [date(2026, 9, 1)]


def test_every_occurrence_counts_towards_the_cap_not_only_new_days():
    with pytest.raises(ValueError, match="more than 2000"):
        expand(Schedule(EVERY_SECOND, time(9), 30, NY), date(2026, 1, 1), date(2026, 1, 2))


def test_a_rule_dateutil_cannot_expand_is_a_value_error():
    rule = "FREQ=YEARLY;BYDAY=" + ",".join(f"{n}MO" for n in range(1, 54)) + ";BYMONTH=2"
    with pytest.raises(ValueError, match="cannot be expanded"):
        expand(Schedule(rule, time(9), 30, NY), date(2026, 1, 1), date(2026, 12, 31))


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=WEEKLY;BYDAY=MO,WE",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;WKST=SU",
        "FREQ=DAILY;INTERVAL=3",
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29",  # leap days: 2000 is one, 1900 and 2100 are not
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",  # the last weekday of the month
        "FREQ=MONTHLY;BYDAY=2TU,-1FR",
        "FREQ=MONTHLY;BYMONTHDAY=-1,15",
        "FREQ=YEARLY;BYWEEKNO=1,53;BYDAY=MO",
        "FREQ=YEARLY;BYYEARDAY=1,-1,60",
        "FREQ=WEEKLY;BYDAY=FR;COUNT=5",
        "FREQ=WEEKLY;BYDAY=FR;UNTIL=20000301T000000",
        "FREQ=DAILY;BYHOUR=8",  # before start_time: the first day has no meeting
    ],
)
@pytest.mark.parametrize(
    ("first", "last"),
    [
        (date(1900, 1, 1), date(1901, 2, 5)),
        (date(1999, 12, 1), date(2001, 1, 5)),
        (date(2099, 11, 20), date(2100, 12, 24)),
        (date(2026, 8, 3), date(2027, 9, 7)),
        (date(2998, 12, 1), date(2999, 12, 31)),
    ],
)
def test_the_shifted_expansion_gives_the_dates_dateutil_gives_in_place(rule, first, last):
    """The 400-year shift is exact: the same dates as dateutil expanding the rule where it is."""
    s = Schedule(rule, time(9), 30, "UTC")
    rule_set = rrulestr(rule, dtstart=datetime.combine(first, s.start_time))
    want = [
        d.date()
        for d in rule_set.between(
            datetime.combine(first, time.min), datetime.combine(last, time.max), inc=True
        )
    ]
    try:
        got = [o.local_date for o in expand(s, first, last)]
    except ValueError:
        got = []
    assert got == want
