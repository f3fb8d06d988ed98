"""Double-booking detection for rooms, facilitators and students.

Two sessions conflict when they share a resource (the same room, the same facilitator, or a student
enrolled in both) and their time intervals overlap. Intervals are half-open, [start, end): a session
ending at 10:00 and one starting at 10:00 do not conflict. Cancelled sessions book nothing.

`scan` is a sweep line per resource: sort the resource's sessions by start, keep the ones still
running in a heap keyed by end; each new session conflicts with every running one. O(n log n + k)
for k conflicting pairs. `conflicts_for` checks one candidate (an adjustment) against the booked
sessions. `brute_force` is the O(n²) definition itself, kept here as the oracle the property test
compares both with (tests/mtss/unit/test_conflicts_oracle.py).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Booking:
    session_id: str
    starts_at: datetime
    ends_at: datetime
    room: str = ""
    facilitator_id: str = ""
    student_ids: frozenset[str] = frozenset()


@dataclass(frozen=True, order=True)
class Conflict:
    """`kind` is room, facilitator or student; `resource` the room name or the user's id; the two
    sessions are ordered (a < b) so a pair is reported once."""

    kind: str
    resource: str
    a: str
    b: str


def resources(b: Booking) -> Iterator[tuple[str, str]]:
    if b.room:
        yield ("room", b.room.casefold())
    if b.facilitator_id:
        yield ("facilitator", b.facilitator_id)
    for s in b.student_ids:
        yield ("student", s)


def overlaps(x: Booking, y: Booking) -> bool:
    return x.starts_at < y.ends_at and y.starts_at < x.ends_at


def _pair(kind: str, resource: str, x: str, y: str) -> Conflict:
    return Conflict(kind, resource, *sorted((x, y)))


def scan(bookings: Iterable[Booking]) -> set[Conflict]:
    """Every conflicting pair among `bookings` (the full scan before a schedule is published)."""
    by_resource: dict[tuple[str, str], list[Booking]] = defaultdict(list)
    for b in bookings:
        if b.ends_at <= b.starts_at:
            continue  # empty intervals book nothing
        for key in resources(b):
            by_resource[key].append(b)
    found: set[Conflict] = set()
    for (kind, resource), group in by_resource.items():
        if len(group) < 2:
            continue
        group.sort(key=lambda b: b.starts_at)
        running: list[tuple[datetime, int, Booking]] = []
        for i, b in enumerate(group):
            while running and running[0][0] <= b.starts_at:
                heapq.heappop(running)
            for _, _, other in running:
                if other.session_id != b.session_id:
                    found.add(_pair(kind, resource, other.session_id, b.session_id))
            heapq.heappush(running, (b.ends_at, i, b))
    return found


def conflicts_for(candidate: Booking, booked: Iterable[Booking]) -> list[Conflict]:
    """The conflicts a candidate (a moved, re-roomed or reassigned session) would create with the
    booked sessions; the candidate's own id among them is ignored (it is the session being moved)."""
    mine = set(resources(candidate))
    if not mine or candidate.ends_at <= candidate.starts_at:
        return []
    out: set[Conflict] = set()
    for other in booked:
        if other.session_id == candidate.session_id or not overlaps(candidate, other):
            continue
        if other.ends_at <= other.starts_at:
            continue
        for key in mine.intersection(resources(other)):
            out.add(_pair(key[0], key[1], candidate.session_id, other.session_id))
    return sorted(out)


def brute_force(bookings: list[Booking]) -> set[Conflict]:
    """The definition, pair by pair: the oracle for `scan` and `conflicts_for`."""
    found: set[Conflict] = set()
    for i, x in enumerate(bookings):
        for y in bookings[i + 1 :]:
            if x.session_id == y.session_id:
                continue
            if x.ends_at <= x.starts_at or y.ends_at <= y.starts_at or not overlaps(x, y):
                continue
            for kind, resource in set(resources(x)) & set(resources(y)):
                found.add(_pair(kind, resource, x.session_id, y.session_id))
    return found
