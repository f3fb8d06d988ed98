"""The pipeline's analysis step, offline: a headline and the takeaways from the research, chosen by
rule (no model), so a run without a model still produces something worth posting. With a model
configured the activity asks it instead and falls back to this on any failure."""

from __future__ import annotations

from dataclasses import dataclass

WORDS_PER_MINUTE = 200
MAX_TAKEAWAYS = 3


@dataclass(frozen=True)
class Analysis:
    headline: str
    takeaways: tuple[str, ...]
    reading_minutes: int
    produced_by: str = "offline"


def analyse(topic: str, summary: str, key_points: str) -> Analysis:
    """`key_points` as the template renders them: one "- point" a line."""
    points = [line.strip()[2:].strip() for line in key_points.splitlines() if line.strip().startswith("- ")]
    takeaways = tuple(p for p in points if p)[:MAX_TAKEAWAYS]
    words = len(summary.split()) + sum(len(p.split()) for p in points)
    minutes = max(1, round(words / WORDS_PER_MINUTE))
    count = len(points)
    headline = f"{topic}: {count} key point{'s' if count != 1 else ''}, about {minutes} min to read"
    return Analysis(headline, takeaways, minutes)
