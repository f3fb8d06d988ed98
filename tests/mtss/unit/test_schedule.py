"""Schedules expanded into sessions in the school's time zone, across daylight-saving changes, with
holidays, exceptions and extra dates; bad rules are field violations."""

from datetime import UTC, date, datetime, time

import pytest

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
