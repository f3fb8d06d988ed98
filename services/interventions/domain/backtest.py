"""BacktestPolicy: replays stored signals against the policies in force and against the same set with
a candidate version in place, without sending anything, and says what would change: the decisions
that flip, the daily-cap hits per student and day, the urgency mix of what would be sent, and the
students affected. Both replays run the engine's own code (engine.match / engine.arbitrate) over an
in-memory history, so a backtest decides exactly as the live path would have.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from services.interventions.domain.engine import SENT, Signal, StudentState, arbitrate, local_day, match
from services.interventions.domain.policy import Policy


@dataclass(frozen=True)
class Flip:
    signal_id: str
    student_id: str
    occurred_at: datetime
    intervention: str
    before: str  # sent | suppressed | shadow | none
    after: str
    reason: str  # the candidate's reason when it suppresses


@dataclass(frozen=True)
class CapHit:
    student_id: str
    day: date
    count: int


@dataclass(frozen=True)
class BacktestReport:
    signals: int
    decisions_before: int
    decisions_after: int
    sent_before: int
    sent_after: int
    flips: tuple[Flip, ...]
    cap_hits: tuple[CapHit, ...]
    urgency_mix: tuple[tuple[str, int], ...]  # ("high", n), ("medium", n), ("low", n) of sent decisions
    students_affected: tuple[str, ...]


def urgency_band(urgency: int) -> str:
    return "high" if urgency >= 67 else "medium" if urgency >= 34 else "low"


def _replay(
    signals: Sequence[Signal], policies: Sequence[Policy], zones: Mapping[str, str]
) -> tuple[dict[str, dict[str, tuple[str, str]]], Counter[tuple[str, date]], Counter[str]]:
    """Per signal id: {intervention: (status, reason)}; cap hits per (student, day); sent urgency bands."""
    history: dict[tuple[str, str, str, str], list[datetime]] = defaultdict(list)
    states: dict[tuple[str, date], StudentState] = {}
    last_sent: dict[str, dict[str, datetime]] = defaultdict(dict)
    outcome: dict[str, dict[str, tuple[str, str]]] = {}
    caps: Counter[tuple[str, date]] = Counter()
    bands: Counter[str] = Counter()
    for s in signals:
        for fact in ("topic", "key", "error"):
            history[(s.student_id, s.kind, fact, str(getattr(s, fact)))].append(s.occurred_at)

        def repeats(kind: str, fact: str, value: str, since: datetime, s: Signal = s) -> int:
            times = history[(s.student_id, kind, fact, value)]
            return bisect.bisect_right(times, s.occurred_at) - bisect.bisect_left(times, since)

        tz = zones.get(s.student_id, "UTC")
        matches = [match(p, s, tz, repeats) for p in policies if p.signal == s.kind]
        day = local_day(s.occurred_at, tz)
        state = states.setdefault((s.student_id, day), StudentState(last_sent=last_sent[s.student_id]))
        decisions = arbitrate(s, matches, state, tz)
        outcome[s.id] = {d.policy.intervention: (d.status, d.reason) for d in decisions}
        for d in decisions:
            if d.reason.startswith("daily cap"):
                caps[(s.student_id, day)] += 1
            if d.status == SENT:
                bands[urgency_band(d.urgency)] += 1
    return outcome, caps, bands


def backtest(
    signals: Sequence[Signal], in_force: Sequence[Policy], candidate: Policy, zones: Mapping[str, str]
) -> BacktestReport:
    """`signals` in the order they occurred; `in_force` the tenant's policies now; the candidate
    replaces the one with its id (or joins them)."""
    ordered = sorted(signals, key=lambda s: (s.occurred_at, s.id))
    with_candidate = [p for p in in_force if p.id != candidate.id] + [candidate]
    before, _, _ = _replay(ordered, in_force, zones)
    after, caps, bands = _replay(ordered, with_candidate, zones)
    flips: list[Flip] = []
    for s in ordered:
        b, a = before[s.id], after[s.id]
        for intervention in sorted(set(b) | set(a)):
            was, now = b.get(intervention, ("none", "")), a.get(intervention, ("none", ""))
            if was[0] != now[0]:
                flips.append(Flip(s.id, s.student_id, s.occurred_at, intervention, was[0], now[0], now[1]))
    return BacktestReport(
        signals=len(ordered),
        decisions_before=sum(len(v) for v in before.values()),
        decisions_after=sum(len(v) for v in after.values()),
        sent_before=sum(1 for v in before.values() for st, _ in v.values() if st == SENT),
        sent_after=sum(1 for v in after.values() for st, _ in v.values() if st == SENT),
        flips=tuple(flips),
        cap_hits=tuple(CapHit(st, d, n) for (st, d), n in sorted(caps.items())),
        urgency_mix=tuple((band, bands.get(band, 0)) for band in ("high", "medium", "low")),
        students_affected=tuple(sorted({f.student_id for f in flips})),
    )


def pseudonymous(report: BacktestReport) -> BacktestReport:
    """The report with every student named "student 1", "student 2"... in order of appearance (the
    same student, the same name, within the report): what a teacher may see of a backtest over the
    whole tenant, whose students are mostly not theirs (docs/interventions.md, "Who sees whom")."""
    names: dict[str, str] = {}

    def name(student_id: str) -> str:
        return names.setdefault(student_id, f"student {len(names) + 1}")

    return replace(
        report,
        flips=tuple(replace(f, student_id=name(f.student_id)) for f in report.flips),
        cap_hits=tuple(replace(c, student_id=name(c.student_id)) for c in report.cap_hits),
        students_affected=tuple(name(s) for s in report.students_affected),
    )
