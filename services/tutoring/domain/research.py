"""The `research` capability: a topic researched in Python's own documentation, offline — the concepts
agent's sources (the concept map's lessons, then the BM25 index of the interpreter's documentation,
services/tutoring/domain/docs.py) — as a summary, key points and the sources cited.

Nothing is invented: the summary is a concept-map lesson written for the requested difficulty, or the
best passage quoted verbatim; each key point is the first sentence of a cited passage. The workflows
context calls it as the first step of its templates (ResearchTopic over gRPC).

With a model configured the same sources are the grounding of a prompt (prompts.research) and the
model writes the summary and key points (`from_model` reads its answer); the sources stay the ones
found here, and the tokens the provider reported travel with the result for the caller's ledger.
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
    # What the model spent writing it, as the provider's `usage` reported it (0 offline).
    prompt_tokens: int = 0
    completion_tokens: int = 0


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


KEY_POINTS_HEADING = "Key points:"
MAX_MODEL_POINTS = 8


def from_model(
    grounded: Research, text: str, model: str, prompt_tokens: int, completion_tokens: int
) -> Research:
    """The model's answer (a summary paragraph, then "Key points:" and one "- point" a line) over the
    grounded result: its sources are kept; key points it did not give are the grounded ones, so an
    answer that ignored the format still yields a usable result rather than an empty list."""
    head, _, tail = text.partition(KEY_POINTS_HEADING)
    summary = squash(head.removeprefix("Summary:").strip()) or grounded.summary
    points = tuple(
        line.strip()[2:].strip() for line in tail.splitlines() if line.strip().startswith(("- ", "* "))
    )
    return Research(
        summary=summary,
        key_points=tuple(p for p in points if p)[:MAX_MODEL_POINTS] or grounded.key_points,
        sources=grounded.sources,
        produced_by=model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )


HEADLINE = "Headline:"
TAKEAWAYS_HEADING = "Takeaways:"
MAX_TAKEAWAYS = 3


@dataclass(frozen=True)
class Analysis:
    """The workflows pipeline's analysis of a brief, written by the model (AnalyseResearch)."""

    headline: str
    takeaways: tuple[str, ...]
    produced_by: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


def analysis_from_model(text: str, model: str, prompt_tokens: int, completion_tokens: int) -> Analysis | None:
    """The model's answer ("Headline: ...", then "Takeaways:" and one "- point" a line); None without
    a "Headline:" line (an answer that ignored the format is no analysis)."""
    head, _, tail = text.partition(TAKEAWAYS_HEADING)
    said = [line.strip() for line in head.splitlines() if line.strip().startswith(HEADLINE)]
    headline = squash(said[0].removeprefix(HEADLINE)) if said else ""
    if not headline:
        return None
    points = [line.strip()[2:].strip() for line in tail.splitlines() if line.strip().startswith(("- ", "* "))]
    return Analysis(
        headline, tuple(p for p in points if p)[:MAX_TAKEAWAYS], model, prompt_tokens, completion_tokens
    )
