"""concepts.explain: grounded in pydoc, with quotes that really are in the docs, and depth by level."""

import subprocess
import sys
from pydoc_data.topics import topics

import pytest

from services.tutoring.domain.concepts import (
    _CONCEPTS,
    LEVELS,
    MAX_EXCERPT,
    Explanation,
    doc_text,
    excerpt,
    explain,
    match,
)
from services.tutoring.domain.source import MAX_INPUT_CHARS, squash
from services.tutoring.domain.topics import TOPICS


@pytest.mark.parametrize(
    ("question", "concept"),
    [
        ("what is a list comprehension?", "list comprehension"),
        ("how does a for loop work?", "for loop"),
        ("explain while loops", "while loop"),
        ("what's the difference between a list and a tuple", "tuples"),
        ("what is a dictionary", "dictionaries"),
        ("how do I use try except", "exceptions and try/except"),
        ("what does len do", "len"),
        ("explain recursion", "recursion"),
        ("what is an f-string", "f-strings"),
        ("how does slicing work", "slicing"),
        ("what is a lambda function", "lambda"),
        ("when do I use elif", "if statement"),
        ("what does return do", "return"),
        ("what does None mean", "None"),
        ("how do I read a file", "files and with"),
        ("what is the // operator", "division and remainder"),
    ],
)
def test_questions_map_to_concepts(question, concept):
    explanation = explain(question, "new")
    assert explanation is not None and explanation.concept == concept


@pytest.mark.parametrize("question", ["", "   ", "what is the weather like?", "tell me a joke", "xyzzy"])
def test_unrecognised_questions_give_none(question):
    assert explain(question, "new") is None


@pytest.mark.parametrize("concept", _CONCEPTS, ids=lambda c: c.name)
@pytest.mark.parametrize("level", LEVELS)
def test_every_quote_is_verbatim_from_the_doc_it_cites(concept, level):
    explanation = explain(f"tell me about {concept.name}", level)
    assert explanation is not None
    quoted = [s for s in explanation.sources if s.excerpt]
    assert quoted, "every explanation quotes the docs"
    for source in explanation.sources:
        doc = doc_text(source.ref)
        assert doc, f"{source.ref} resolves to no documentation"
        assert source.excerpt in doc
        assert len(source.excerpt) <= MAX_EXCERPT
        if source.excerpt:
            assert f"“{squash(source.excerpt)}”" in explanation.text
    assert explanation.example in explanation.text or explanation.example.rstrip() in explanation.text


@pytest.mark.parametrize("concept", _CONCEPTS, ids=lambda c: c.name)
def test_every_concept_s_anchors_are_found(concept):
    """An anchor that is missing would silently fall back to the doc's first paragraph."""
    anchors = [(concept.ref, concept.anchor)] + [(concept.ref, a) for a in concept.deep] + list(concept.also)
    for ref, anchor in anchors:
        assert squash(anchor) in squash(doc_text(ref)), (ref, anchor)
    assert concept.topic in TOPICS


@pytest.mark.parametrize("concept", _CONCEPTS, ids=lambda c: c.name)
def test_examples_run(concept, tmp_path):
    run = subprocess.run(
        [sys.executable, "-c", concept.example], capture_output=True, text=True, timeout=5, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip()


def test_pydoc_refs_are_real_topic_keys():
    for concept in _CONCEPTS:
        for ref in [concept.ref, *(ref for ref, _ in concept.also)]:
            if ref.startswith("pydoc:topics/"):
                assert ref.removeprefix("pydoc:topics/") in topics


def test_depth_grows_with_mastery():
    new = explain("how does a for loop work", "new")
    familiar = explain("how does a for loop work", "familiar")
    mastered = explain("how does a for loop work", "mastered")
    assert new and familiar and mastered
    assert "repeats a block of code once for each item" in new.text
    assert "Worth knowing:" in familiar.text and "Details and edge cases" not in familiar.text
    assert "Details and edge cases" in mastered.text and "iterator" in mastered.text
    assert sum(len(s.excerpt) for s in mastered.sources) > sum(len(s.excerpt) for s in new.sources)
    assert len([s for s in new.sources if s.excerpt]) == 1
    assert explain("how does a for loop work", "attempted") == new
    assert explain("how does a for loop work", "proficient") == mastered


def test_unknown_level_is_treated_as_new():
    assert explain("what is a dictionary", "expert?") == explain("what is a dictionary", "new")


def test_the_comprehension_quote():
    explanation = explain("what is a list comprehension?", "new")
    assert explanation is not None
    assert explanation.sources[0].ref == "pydoc:topics/lists"
    assert "comprehension" in explanation.sources[0].excerpt
    assert explanation.topic == "comprehensions"


def test_builtin_docstrings_are_cited():
    explanation = explain("what does len() do", "new")
    assert explanation is not None and explanation.sources[0].ref == "pydoc:builtins.len"
    assert explanation.sources[0].excerpt == "Return the number of items in a container."


def test_excerpt_is_a_bounded_substring_even_for_a_missing_anchor():
    doc = topics["for"]
    assert excerpt(doc, "no such anchor").startswith('The "for" statement is used')
    long = excerpt(topics["typesmapping"], "A *mapping* object", sentences=50)
    assert long in topics["typesmapping"] and len(long) <= MAX_EXCERPT


def test_longest_phrase_wins():
    comprehension, loop = match("list comprehension"), match("for loop over a list")
    assert comprehension is not None and comprehension.name == "list comprehension"
    assert loop is not None and loop.name == "for loop"


def test_deterministic_and_huge_input():
    assert explain("what is a loop", "new") == explain("what is a loop", "new")
    assert isinstance(explain("loop " * MAX_INPUT_CHARS, "new"), Explanation)
