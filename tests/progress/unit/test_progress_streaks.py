"""Streaks: consecutive active days on the student's own calendar, across DST changes and big offsets."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.progress.domain.streaks import (
    StreakState,
    active_days,
    current_streak,
    missed_days,
    next_day,
    record_activity,
)


def at(tz: str, local: str) -> datetime:
    """A local wall-clock time in `tz`, as the aware UTC datetime the intake would hand over."""
    return datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)


def record(tz: str, *locals_: str, state: StreakState | None = None) -> StreakState:
    s = state or StreakState()
    for local in locals_:
        s = record_activity(s, at(tz, local), tz)
    return s


@pytest.mark.parametrize(
    ("tz", "change"),
    [
        ("Europe/Berlin", "2024-03-31"),  # spring forward: 02:00 -> 03:00, a 23-hour day
        ("Europe/Berlin", "2024-10-27"),  # fall back: 03:00 -> 02:00, a 25-hour day
        ("America/New_York", "2024-03-10"),
        ("America/New_York", "2024-11-03"),
    ],
)
def test_dst_days_count_as_one_day_each(tz, change):
    d = date.fromisoformat(change)
    before, after = d - timedelta(days=1), d + timedelta(days=1)
    s = record(tz, f"{before}T23:30", f"{d}T00:30", f"{d}T23:30", f"{after}T00:30")
    assert (s.current, s.longest, s.last_active_date) == (3, 3, after)
    # the edges of the DST day alone: 00:30 and 23:30 are one day, not two
    assert record(tz, f"{d}T00:30", f"{d}T23:30").current == 1
    # 00:30 on the DST day and 23:30 the next day are 47, 46 or 48 hours apart, but consecutive days
    assert record(tz, f"{d}T00:30", f"{after}T23:30").current == 2


def test_a_missed_day_breaks_the_streak_and_longest_remembers():
    tz = "Europe/Berlin"
    s = record(tz, "2024-05-01T09:00", "2024-05-02T09:00", "2024-05-03T09:00", "2024-05-05T09:00")
    assert (s.current, s.longest) == (1, 3)
    s = record(tz, "2024-05-06T20:00", state=s)
    assert (s.current, s.longest) == (2, 3)


def test_two_activities_the_same_day_count_once():
    s = record("Europe/Berlin", "2024-05-01T08:00", "2024-05-01T21:00")
    assert (s.current, s.longest, s.recent_days) == (1, 1, 0b1)


def test_both_sides_of_utc_midnight_are_one_local_day():
    # New York, 1 June: 19:00 EDT is 23:00 UTC on 1 June, 21:00 EDT is 01:00 UTC on 2 June
    first, second = at("America/New_York", "2024-06-01T19:00"), at("America/New_York", "2024-06-01T21:00")
    assert first.date() != second.date()
    s = record("America/New_York", "2024-06-01T19:00", "2024-06-01T21:00")
    assert (s.current, s.last_active_date) == (1, date(2024, 6, 1))


def test_an_older_activity_neither_breaks_nor_double_counts():
    tz = "Europe/Berlin"
    s = record(tz, "2024-05-01T10:00", "2024-05-02T10:00", "2024-05-03T10:00")
    late = record(tz, "2024-05-02T18:00", "2024-04-20T10:00", state=s)  # already counted; long ago
    assert (late.current, late.longest, late.last_active_date) == (3, 3, date(2024, 5, 3))
    # the late day before the streak is noted for the activity-drop rule, not added to the streak
    before = record(tz, "2024-04-29T10:00", state=s)
    assert before.current == 3 and active_days(before, 7) == 4


def test_big_offsets_decide_the_day():
    # the same two UTC instants, 09:00 and 10:30 on 1 January:
    # Kiritimati (UTC+14): 23:00 on 1 Jan and 00:30 on 2 Jan -> two days
    # Pago Pago (UTC-11):  22:00 and 23:30 on 31 Dec         -> one day
    first, second = datetime(2024, 1, 1, 9, 0, tzinfo=UTC), datetime(2024, 1, 1, 10, 30, tzinfo=UTC)
    kiritimati = record_activity(
        record_activity(StreakState(), first, "Pacific/Kiritimati"), second, "Pacific/Kiritimati"
    )
    pago_pago = record_activity(
        record_activity(StreakState(), first, "Pacific/Pago_Pago"), second, "Pacific/Pago_Pago"
    )
    assert (kiritimati.current, kiritimati.last_active_date) == (2, date(2024, 1, 2))
    assert (pago_pago.current, pago_pago.last_active_date) == (1, date(2023, 12, 31))


def test_a_date_the_zone_skipped_is_not_a_missed_day():
    # Samoa moved across the date line: 29 December 2011 was followed by 31 December
    assert next_day(date(2011, 12, 29), "Pacific/Apia") == date(2011, 12, 31)
    s = record("Pacific/Apia", "2011-12-29T20:00", "2011-12-31T09:00")
    assert s.current == 2


def test_current_streak_holds_today_and_tomorrow_and_breaks_after_a_missed_day():
    tz = "America/New_York"
    s = record(tz, "2024-03-09T22:00", "2024-03-10T23:30")  # 2 days, across spring forward
    assert current_streak(s, at(tz, "2024-03-10T23:59"), tz) == 2  # today
    assert current_streak(s, at(tz, "2024-03-11T23:59"), tz) == 2  # yesterday: still time to keep it
    assert current_streak(s, at(tz, "2024-03-12T00:01"), tz) == 0  # 11 March passed without activity
    assert current_streak(StreakState(), at(tz, "2024-03-12T00:01"), tz) == 0
    assert missed_days(s, at(tz, "2024-03-11T12:00"), tz) == 0
    assert missed_days(s, at(tz, "2024-03-14T12:00"), tz) == 3  # 11, 12 and 13 March


def test_the_recent_days_mask_counts_active_days():
    tz = "Europe/Berlin"
    s = record(tz, "2024-05-01T10:00", "2024-05-02T10:00", "2024-05-04T10:00", "2024-05-07T10:00")
    # 7 May is bit 0, 4 May bit 3, 2 May bit 5, 1 May bit 6
    assert s.recent_days == 0b1101001
    assert active_days(s, 7) == 4 and active_days(s, 4) == 2
    # more than RECENT_DAYS later the old days fall off the mask
    assert record(tz, "2024-07-01T10:00", state=s).recent_days == 0b1


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError, match="aware"):
        record_activity(StreakState(), datetime(2024, 1, 1, 12), "Europe/Berlin")
