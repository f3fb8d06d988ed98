"""interventions without the mesh: parsing and validating a policy file, and replaying stored signals
for BacktestPolicy.

    .venv/bin/python -m bench.interventions_policies [--parses 2000] [--signals 10000]

Targets (issue #13):
- parse and validate one policy file (YAML front matter, JSON Schema Draft 2020-12, templates, CEL):
  <= 5 ms (seed: < 100 ms). Each shipped policy is parsed cold (no cache: `parse` caches nothing but
  the compiled schema and CEL programs, which a server holds for its whole life).
- backtest of 10,000 stored signals <= 5 s: the engine's replay of the policies in force and of the
  candidate (domain/backtest.py), 200 students over 5 days, the shipped policies. The database read
  of the window is measured by bench.interventions_pipeline through BacktestPolicy.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import Figures, figures, report
from services.interventions.domain.backtest import backtest
from services.interventions.domain.engine import Signal
from services.interventions.domain.policy import parse

POLICIES = Path(__file__).resolve().parent.parent / "policies"


def signals(n: int, students: int, seed: int = 7) -> list[Signal]:
    rng = random.Random(seed)
    ids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(students)]
    start = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
    out = []
    for i in range(n):
        at = start + timedelta(seconds=rng.uniform(0, 5 * 86400))
        kind = rng.choice(["struggle.detected", "hint.requested", "work.session", "sandbox.executed"])
        out.append(
            Signal(
                id=f"s{i}",
                tenant_id="t",
                student_id=rng.choice(ids),
                kind=kind,
                occurred_at=at,
                rule=rng.choice(["repeated_error", "wheel_spinning"]),
                topic=rng.choice(["loops", "lists", "dicts"]),
                error="NameError",
                minutes=rng.uniform(10, 90),
                teacher_ids=("teacher",),
            )
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--parses", type=int, default=2000)
    parser.add_argument("--signals", type=int, default=10000)
    args = parser.parse_args()
    files = [(p.name, p.read_text()) for p in sorted(POLICIES.glob("*.md")) if p.name != "README.md"]
    latencies = []
    began = time.perf_counter()
    for i in range(args.parses):
        name, content = files[i % len(files)]
        t = time.perf_counter()
        parse(content + f"\n<!-- {i} -->\n", name)  # a different text each time: nothing cached by content
        latencies.append(time.perf_counter() - t)
    parse_fig = figures("parse and validate one policy file", 1, latencies, 0, time.perf_counter() - began)
    parse_fig.target = "p99 <= 5 ms"
    parse_fig.verdict = "meets" if parse_fig.p99_ms <= 5 else "misses"

    in_force = [parse(c, n) for n, c in files]
    candidate = parse(
        (POLICIES / "review_concept.md").read_text().replace("cooldown_minutes: 120", "cooldown_minutes: 30"),
        "review_concept.md",
    )
    replay = signals(args.signals, 200)
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        result = backtest(replay, in_force, candidate, {})
        runs.append(time.perf_counter() - t)
    bt = figures(f"backtest of {args.signals} signals (both replays)", 1, runs, 0, sum(runs))
    bt.target = "<= 5 s"
    bt.verdict = "meets" if bt.p99_ms <= 5000 else "misses"
    report(
        "interventions_policies",
        [parse_fig, bt],
        {"flips": len(result.flips), "sent_before": result.sent_before, "sent_after": result.sent_after},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["Figures"]
