"""The `research` capability: a topic researched in Python's own documentation, offline — the concepts
agent's sources (the concept map's lessons, then the BM25 index of the interpreter's documentation,
services/tutoring/domain/docs.py) — as a summary, key points and the sources cited.

Nothing is invented: the summary is a concept-map lesson written for the requested difficulty, or the
best passage quoted verbatim; each key point is the first sentence of a cited passage. The workflows
context calls it as the first step of its templates (ResearchTopic over gRPC).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.tutoring.domain import concepts, docs
from services.tutoring.domain.source import squash

DEFAULT_SOURCES = 5
# The concept map's tiers (concepts.explain takes a mastery level).
_LEVEL = {"beginner": "new", "intermediate": "familiar", "advanced": "proficient"}
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z`(\"'])")
_MAX_POINT = 300


@dataclass(frozen=True)
class Research:
    summary: str
    key_points: tuple[str, ...]
    sources: tuple[concepts.Source, ...]
    produced_by: str = "offline"


def first_sentence(text: str) -> str:
    flat = squash(text)
    sentence = _SENTENCE.split(flat, maxsplit=1)[0]
    return sentence if len(sentence) <= _MAX_POINT else sentence[: _MAX_POINT - 1].rstrip() + "…"


def research(topic: str, difficulty: str = "", max_sources: int = 0) -> Research:
    """Builds the documentation index on first use (about a second): call it off the event loop."""
    limit = max_sources or DEFAULT_SOURCES
    lesson = concepts.explain(topic, _LEVEL.get(difficulty or "intermediate", "familiar"))
    found: list[concepts.Source] = list(lesson.sources) if lesson else []
    seen = {s.ref for s in found}
    for hit in docs.search(topic, limit):
        if hit.excerpt and hit.ref not in seen:
            seen.add(hit.ref)
            found.append(concepts.Source(hit.title, hit.ref, hit.excerpt))
    sources = tuple(found[:limit])
    points = tuple(dict.fromkeys(first_sentence(s.excerpt) for s in sources if s.excerpt))
    if lesson is not None:
        summary = lesson.text
    elif sources:
        summary = f"Python's documentation on {topic}: {squash(sources[0].excerpt)}"
    else:
        summary = f"Python's documentation has nothing close enough to {topic!r}."
    return Research(summary, points, sources)
