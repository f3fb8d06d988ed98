"""Signals in, decisions out: which policies a signal satisfies (with the condition trace, the
teacher-readable "why"), then which of them reach the student: canary membership, shadow mode, the
daily cap in the student's time zone, per-intervention cool-downs and, when several compete for one
signal, the most urgent. Pure: the service feeds it what it read under the student's lock, the
backtest what it replayed, so both decide by the same code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import celpy

from services.interventions.domain.policy import Condition, Policy, compile_expression, number
from services.runtime.zones import zone_named

DAILY_CAP = 3
SENT, SUPPRESSED, SHADOW = "sent", "suppressed", "shadow"


@dataclass(frozen=True)
class Signal:
    """Something a student did or went through, from any producer. The facts a condition may read
    are the fields named in policy.FIELDS."""

    id: str
    tenant_id: str
    student_id: str
    kind: str
    occurred_at: datetime
    topic: str = ""
    key: str = ""
    rule: str = ""
    error: str = ""
    severity: str = ""
    verdict: str = ""
    minutes: float = 0.0
    count: int = 0
    explanation: str = ""
    teacher_ids: tuple[str, ...] = ()
    source: str = ""  # the event id or producer's id it came from, for idempotency

    def fact(self, name: str) -> Any:
        return getattr(self, name)

    def facts(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "topic": self.topic,
            "key": self.key,
            "rule": self.rule,
            "error": self.error,
            "severity": self.severity,
            "verdict": self.verdict,
            "minutes": self.minutes,
            "count": self.count,
        }


@dataclass(frozen=True)
class TraceStep:
    """One condition, whether it held and the value it saw."""

    condition: str
    held: bool
    value: str


@dataclass(frozen=True)
class Match:
    policy: Policy
    held: bool
    trace: tuple[TraceStep, ...]


@dataclass(frozen=True)
class Decision:
    """What happened to one matched policy for one signal. `status` is sent, suppressed (with the
    reason) or shadow (would-have, never sent; the reason says what would have happened)."""

    policy: Policy
    status: str
    reason: str
    urgency: int
    trace: tuple[TraceStep, ...]
    local_day: date


@dataclass
class StudentState:
    """What the arbitration needs to know about a student, read under the student's lock: how many
    interventions reached them on the local day, and when each intervention last did."""

    sent_today: int = 0
    last_sent: dict[str, datetime] = field(default_factory=dict)


def zone(name: str) -> ZoneInfo:
    return zone_named(name) or ZoneInfo("UTC")


def local_day(moment: datetime, time_zone: str) -> date:
    return moment.astimezone(zone(time_zone)).date()


def in_canary(student_id: str, policy_id: str, percent: int) -> bool:
    """A stable choice of `percent` % of students: the same student is in or out on every replica
    and every decision, and each policy picks its own students."""
    digest = hashlib.sha256(f"{policy_id}:{student_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


def _between(policy: Policy, moment: datetime, time_zone: str) -> TraceStep | None:
    if policy.between is None:
        return None
    start, until = (time.fromisoformat(t) for t in policy.between)
    now = moment.astimezone(zone(time_zone)).time().replace(second=0, microsecond=0)
    held = start <= now < until if start <= until else (now >= start or now < until)
    return TraceStep(
        f"time of day between {policy.between[0]} and {policy.between[1]}", held, now.strftime("%H:%M")
    )


# How many of the student's signals of a kind had the same value of a fact within a window ending
# at the signal: (kind, fact name, value, since) -> count, this signal included.
RepeatCounter = Callable[[str, str, str, datetime], int]


def _condition(c: Condition, signal: Signal, repeats: RepeatCounter) -> TraceStep:
    if c.kind == "repeated":
        value = str(signal.fact(c.same))
        n = repeats(signal.kind, c.same, value, signal.occurred_at - timedelta(minutes=c.within_minutes))
        return TraceStep(c.describe(), n >= int(c.value), f"{n} times ({c.same} {value or '(none)'})")
    if c.kind == "expression":
        try:
            result = compile_expression(c.expression).evaluate({"signal": celpy.json_to_cel(signal.facts())})
            held = bool(result) if isinstance(result, bool | celpy.celtypes.BoolType) else False
            return TraceStep(c.describe(), held, str(result))
        except Exception as exc:  # a runtime CEL error (no such field, a type clash) makes it false
            return TraceStep(c.describe(), False, f"error: {exc}")
    seen = signal.fact(c.field)
    if c.kind in ("is", "is_one_of"):
        held = any(_same(seen, v) for v in (c.value if c.kind == "is_one_of" else (c.value,)))
    else:
        # A value that is not a finite number (a version stored before parse refused it) never holds.
        fact, bound = number(seen), number(c.value)
        held = (
            fact is not None
            and bound is not None
            and (fact >= bound if c.kind == "at_least" else fact <= bound)
        )
    return TraceStep(c.describe(), held, str(seen) if seen != "" else "(none)")


def _same(seen: Any, value: Any) -> bool:
    """A text fact equals a value written the same; a numeric fact one that is the same number (45
    is 45.0; "ten" is no number, so never)."""
    if isinstance(seen, str):
        return seen == str(value)
    fact, wanted = number(seen), number(value)
    return fact is not None and fact == wanted


def match(policy: Policy, signal: Signal, time_zone: str, repeats: RepeatCounter) -> Match:
    """Whether `signal` satisfies `policy`, with every condition evaluated (not only up to the first
    false one), so the trace says everything that held and everything that did not."""
    steps = [TraceStep(f"signal is {policy.signal}", signal.kind == policy.signal, signal.kind)]
    if signal.kind == policy.signal:
        steps += [_condition(c, signal, repeats) for c in policy.conditions]
        if (step := _between(policy, signal.occurred_at, time_zone)) is not None:
            steps.append(step)
    return Match(policy, all(s.held for s in steps), tuple(steps))


def arbitrate(
    signal: Signal,
    matches: Sequence[Match],
    state: StudentState,
    time_zone: str,
    *,
    cap: int = DAILY_CAP,
) -> list[Decision]:
    """The decisions for the policies a signal satisfied. Most urgent first (ties: the policy id,
    so the order is stable); student-facing interventions compete: the first that passes its
    cool-down and the cap is sent and the others are suppressed as outranked. Teacher alerts do not
    compete nor count toward the cap (they tell teachers, they do not tire the student). Canary
    policies apply only to their students; shadow ones are stored with what would have happened.
    `state` is updated with what was sent, so a caller replaying signals (the backtest) carries it on."""
    day = local_day(signal.occurred_at, time_zone)
    out: list[Decision] = []
    winner: Policy | None = None
    for m in sorted((m for m in matches if m.held), key=lambda m: (-m.policy.urgency, m.policy.id)):
        p = m.policy
        if p.mode == "canary" and not in_canary(signal.student_id, p.id, p.canary_percent):
            continue  # outside the canary the candidate version does not exist for this student
        reason = ""
        last = state.last_sent.get(p.intervention)
        if p.counts_toward_cap and winner is not None:
            reason = (
                f"outranked: {winner.intervention} (urgency {winner.urgency}) "
                f"won over {p.intervention} (urgency {p.urgency})"
            )
        # In signal time, both ways: signals of one student may be decided out of order.
        elif last is not None and abs(signal.occurred_at - last) < timedelta(minutes=p.cooldown_minutes):
            ago = int(abs(signal.occurred_at - last).total_seconds() // 60)
            reason = (
                f"cool-down: {p.intervention} reached this student {ago} minutes ago "
                f"(cool-down {p.cooldown_minutes} minutes)"
            )
        elif p.counts_toward_cap and state.sent_today >= cap:
            reason = (
                f"daily cap: {state.sent_today} interventions already reached this student on "
                f"{day.isoformat()} ({time_zone or 'UTC'}; at most {cap} a day)"
            )
        if p.mode == "shadow":
            out.append(
                Decision(
                    p,
                    SHADOW,
                    f"would have been suppressed: {reason}" if reason else "would have been sent",
                    p.urgency,
                    m.trace,
                    day,
                )
            )
            continue
        if reason:
            out.append(Decision(p, SUPPRESSED, reason, p.urgency, m.trace, day))
            continue
        out.append(Decision(p, SENT, "", p.urgency, m.trace, day))
        state.last_sent[p.intervention] = signal.occurred_at
        if p.counts_toward_cap:
            state.sent_today += 1
            winner = p
    return out


def variables(signal: Signal, policy: Policy, student_name: str) -> dict[str, Any]:
    """What a template may name, for this signal."""
    return {
        "student_name": student_name or "there",
        "duration": _whole(signal.minutes),
        "topic": signal.topic,
        "error": signal.error,
        "rule": signal.rule,
        "count": signal.count,
        "explanation": signal.explanation,
        "policy_title": policy.title,
    }


def _whole(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"
