"""The documentation index (domain/docs.py): BM25 on hand-made documents, then the real index of this
interpreter's documentation answering questions outside the concept map, quoting verbatim and citing."""

from __future__ import annotations

import pytest

from services.tutoring.domain import concepts, docs
from services.tutoring.domain.docs import Doc, Index


def _doc(name: str, text: str, kind: str = "member") -> Doc:
    return Doc(f"pydoc:{name}", name, name, kind, text)


def test_words_are_lower_case_identifiers_with_plurals_folded():
    assert docs.words("Decorators wrap Functions; classes, properties and __init__") == [
        "decorator",
        "wrap",
        "function",
        "class",
        "property",
        "and",
        "__init__",
    ]
    assert docs.query_words("How do decorators work in Python?") == ["decorator"]


def test_bm25_prefers_the_rarer_word_and_the_denser_document():
    index = Index(
        [
            _doc("a", "spam spam spam eggs"),
            _doc("b", "spam eggs ham ham ham ham ham ham ham ham ham ham ham ham"),
            _doc("c", "eggs toast"),
            _doc("d", "eggs bacon"),
        ]
    )
    assert index.idf("spam") > index.idf("egg")  # in 2 documents of 4 against 4 of 4 ("eggs" folded)
    ranked = [h.ref for h in index.search("spam")]
    assert ranked == ["pydoc:a", "pydoc:b"]  # more occurrences in a shorter document first
    assert {h.ref for h in index.search("toast eggs", limit=4)} == {f"pydoc:{n}" for n in "abcd"}
    assert index.search("toast eggs")[0].ref == "pydoc:c"
    assert index.search("toast")[0].coverage == pytest.approx(1.0)
    assert index.search("nothing here") == []


def test_a_documents_name_counts_even_when_its_text_does_not_say_it():
    index = Index([_doc("itertools.groupby", "make an iterator of consecutive keys"), _doc("x", "keys")])
    assert index.search("groupby")[0].ref == "pydoc:itertools.groupby"


def test_the_reference_outranks_a_module_member_with_the_same_text():
    index = Index(
        [
            _doc("mod.thing", "yield a value", "member"),
            Doc("pydoc:topics/y", "Y", "y", "topic", "yield a value"),
        ]
    )
    assert index.search("yield")[0].ref == "pydoc:topics/y"


def test_the_excerpt_is_the_paragraph_with_the_question_words_verbatim():
    text = (
        "Title\n*****\n\nSomething unrelated here.\n\nA decorator wraps a function.\nIt returns one.\n\nMore."
    )
    index = Index([_doc("t", text)])
    hit = index.search("what is a decorator")[0]
    assert hit.excerpt == "A decorator wraps a function.\nIt returns one." and hit.excerpt in text


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("how do decorators work?", "pydoc:topics/function"),
        ("explain generators and yield", "pydoc:topics/yield"),
        ("what does enumerate do", "pydoc:builtins.enumerate"),
        ("how do I sort a list", "pydoc:builtins.list.sort"),
        ("how does async await work", "pydoc:topics/async"),
        ("how do I use itertools.groupby", "pydoc:itertools.groupby"),
        ("what is a context manager", "pydoc:topics/context-managers"),
    ],
)
def test_the_interpreters_documentation_answers_questions_outside_the_concept_map(question, expected):
    hits = docs.search(question, 3)
    assert expected in [h.ref for h in hits], hits
    for hit in hits:
        assert hit.excerpt and hit.excerpt in docs.text(hit.ref)


def test_look_up_quotes_and_cites_the_documentation_and_says_so():
    explanation = concepts.look_up("how do decorators work?")
    assert explanation is not None
    refs = [s.ref for s in explanation.sources]
    assert "pydoc:topics/function" in refs
    assert 'help("function")' in explanation.text and "decorator" in explanation.text.lower()
    for source in explanation.sources:
        assert source.excerpt in concepts.doc_text(source.ref)  # verbatim


@pytest.mark.parametrize("question", ["what is the capital of France?", "what is a flibbertigibbet"])
def test_look_up_has_nothing_for_what_the_documentation_does_not_cover(question):
    assert concepts.look_up(question) is None


def test_the_index_is_built_once_per_process():
    assert docs.index() is docs.index()
    assert len(docs.index().docs) > 3000  # topics, builtins and the standard library


def test_a_common_word_does_not_pull_a_question_into_the_concept_map():
    assert concepts.explain("explain generators and yield", "new") is None  # not a lesson on `and`
    assert concepts.explain("what does and do", "new").concept == "booleans and logic"
    assert concepts.explain("what is an if statement", "new").concept == "if statement"
