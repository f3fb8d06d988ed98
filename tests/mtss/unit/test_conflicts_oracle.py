"""Conflict detection agrees with the brute-force definition on random schedules (hypothesis), for
the full scan and for one adjustment checked against everything booked."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.mtss.domain.conflicts import Booking, Conflict, brute_force, conflicts_for, scan

T0 = datetime(2026, 9, 7, 8, 0, tzinfo=UTC)
ROOMS = st.sampled_from(["", "101", "102", "Library"])
PEOPLE = st.sampled_from(["", "f1", "f2", "f3"])
STUDENTS = st.frozensets(st.sampled_from(["s1", "s2", "s3", "s4", "s5"]), max_size=3)


@st.composite
def bookings(draw) -> list[Booking]:
    n = draw(st.integers(min_value=0, max_value=40))
    out = []
    for i in range(n):
        start = draw(st.integers(min_value=0, max_value=40))  # 15-minute slots: touching is common
        length = draw(st.integers(min_value=0, max_value=6))  # zero-length sessions book nothing
        out.append(
            Booking(
                session_id=f"s{i:03d}",
                starts_at=T0 + timedelta(minutes=15 * start),
                ends_at=T0 + timedelta(minutes=15 * (start + length)),
                room=draw(ROOMS),
                facilitator_id=draw(PEOPLE),
                student_ids=draw(STUDENTS),
            )
        )
    return out


@settings(max_examples=300, deadline=None)
@given(bookings())
def test_the_sweep_line_finds_exactly_the_pairs_the_oracle_finds(booked):
    assert scan(booked) == brute_force(booked)


@settings(max_examples=300, deadline=None)
@given(bookings(), st.data())
def test_an_adjustment_is_refused_with_exactly_the_sessions_it_would_double_book(booked, data):
    if not booked:
        return
    moved = data.draw(st.sampled_from(booked))
    expected = {c for c in brute_force(booked) if moved.session_id in (c.a, c.b)}
    got = conflicts_for(moved, [b for b in booked if b is not moved] + [moved])
    assert set(got) == expected
    assert len(got) == len(set(got))


def test_touching_sessions_do_not_conflict_and_overlapping_ones_do_per_resource():
    a = Booking(
        "a", T0, T0 + timedelta(minutes=30), room="101", facilitator_id="f1", student_ids=frozenset({"s1"})
    )
    b = Booking("b", T0 + timedelta(minutes=30), T0 + timedelta(minutes=60), room="101", facilitator_id="f1")
    c = Booking(
        "c", T0 + timedelta(minutes=10), T0 + timedelta(minutes=20), room="102", student_ids=frozenset({"s1"})
    )
    assert scan([a, b, c]) == {Conflict("student", "s1", "a", "c")}
    # Room names compare without case: "Library" and "library" are the same room.
    d = Booking("d", T0, T0 + timedelta(minutes=30), room="Library")
    e = Booking("e", T0, T0 + timedelta(minutes=30), room="library")
    assert scan([d, e]) == {Conflict("room", "library", "d", "e")}
