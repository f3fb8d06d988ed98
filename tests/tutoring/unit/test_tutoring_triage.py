"""triage.classify: routes, confidence that reflects agreeing signals, reasons and topics."""

import pytest

from services.tutoring.domain.source import MAX_INPUT_CHARS
from services.tutoring.domain.topics import TOPICS, detect_topic, vocabulary_weight
from services.tutoring.domain.triage import Route, Triage, classify

LOOP = "i = 0\nwhile i < 10:\n    print(i)\n"
NAME_ERROR = (
    "Traceback (most recent call last):\n"
    '  File "main.py", line 1, in <module>\n'
    "NameError: name 'pritn' is not defined\n"
)
DOUBLE = "def double(x):\n    return x * 2\n"


def test_the_loop_that_never_ends_is_a_debug_request_about_loops():
    t = classify("why does my loop never end?", LOOP)
    assert (t.route, t.topic) == (Route.DEBUG, "loops")
    assert t.confidence >= 0.6  # no model needed
    assert "never end" in t.reason and "code" in t.reason


@pytest.mark.parametrize(
    ("text", "code", "error", "route", "topic"),
    [
        ("", "pritn('hi')", NAME_ERROR, Route.DEBUG, "variables"),
        (NAME_ERROR, "", "", Route.DEBUG, "exceptions"),
        ("ZeroDivisionError: division by zero", "", "", Route.DEBUG, "exceptions"),
        ("my code prints the wrong output", "x = 1\nprint(x + 1)\n", "", Route.DEBUG, "variables"),
        ("it doesn't work", "nums = [1, 2]\nprint(nums[2])\n", "", Route.DEBUG, "lists"),
        ("can you review my code?", DOUBLE, "", Route.CODE_REVIEW, "functions"),
        ("is this good?", DOUBLE, "", Route.CODE_REVIEW, "functions"),
        (
            "How could I improve this?\n```python\nfor i in range(len(xs)):\n    print(xs[i])\n```",
            "",
            "",
            Route.CODE_REVIEW,
            "loops",
        ),
        ("give me a practice problem on loops", "", "", Route.EXERCISE, "loops"),
        ("I want a challenge with dictionaries", "", "", Route.EXERCISE, "dicts"),
        ("what is a list comprehension?", "", "", Route.CONCEPT, "comprehensions"),
        ("explain the difference between a list and a tuple", "", "", Route.CONCEPT, "lists"),
        ("how does a for loop work", "", "", Route.CONCEPT, "loops"),
        ("what does the return statement do", "", "", Route.CONCEPT, "functions"),
        ("explain recursion", "", "", Route.CONCEPT, "recursion"),
        ("what does this do?", "squares = [n * n for n in range(5)]\n", "", Route.CONCEPT, "comprehensions"),
        ("what is the capital of France?", "", "", Route.OFF_TOPIC, ""),
        ("what should I cook for dinner tonight", "", "", Route.OFF_TOPIC, ""),
        ("", "", "", Route.UNCLEAR, ""),
        ("   \n\t", "", "", Route.UNCLEAR, ""),
        ("asdfghjkl", "", "", Route.UNCLEAR, ""),
        ("?!?! ...", "", "", Route.UNCLEAR, ""),
        ("hi", "", "", Route.UNCLEAR, ""),
        ("help please", "", "", Route.UNCLEAR, ""),
    ],
)
def test_routes(text, code, error, route, topic):
    t = classify(text, code, error)
    assert (t.route, t.topic) == (route, topic), t


def test_reasons_quote_what_was_seen():
    assert classify("", "x", NAME_ERROR).reason.startswith("a traceback is attached (NameError)")
    assert classify("what is a list comprehension?").reason == "asks 'what is a list comprehension'"
    assert classify("what is the capital of France?").reason == "no Python terms, code or error"


def test_confidence_grows_with_agreeing_signals():
    one = classify("I get an error").confidence  # a debug word, nothing else
    two = classify("I get an error", LOOP).confidence  # ... with code
    three = classify("I get an error", LOOP, NAME_ERROR).confidence  # ... and the traceback
    assert one < 0.6 <= two < three <= 0.95


def test_conflicting_signals_lower_confidence():
    clear = classify("can you review my code?", DOUBLE)
    mixed = classify("explain why my loop never ends, and review it", LOOP)
    assert mixed.confidence < clear.confidence


def test_weak_words_alone_are_not_python():
    assert vocabulary_weight("what should I cook for dinner") < 2
    assert vocabulary_weight("how does a for loop work") >= 2


def test_empty_is_certain_and_gibberish_fairly_sure():
    assert classify("").confidence == 0.95
    assert classify("asdfghjkl").confidence == 0.7
    assert classify("qwerty uiop").confidence < 0.6


def test_code_only_is_a_low_confidence_review():
    t = classify("", DOUBLE)
    assert t.route == Route.CODE_REVIEW and t.confidence < 0.6


def test_topics_are_from_the_shared_vocabulary():
    assert set(TOPICS) >= {
        "loops", "functions", "lists", "dicts", "strings", "recursion", "classes", "exceptions",
        "comprehensions", "variables", "conditionals", "files", "modules",
    }  # fmt: skip
    for text in (
        "what is a class",
        "how do I open a file",
        "how do I import a module",
        "what is an f-string",
    ):
        assert classify(text).topic in TOPICS


def test_topic_from_code_and_error_when_the_text_names_none():
    import ast

    assert detect_topic("help", ast.parse("d = {}\nprint(d['k'])")) == "dicts"
    assert detect_topic("", None, "RecursionError") == "recursion"
    assert detect_topic("nothing here") == ""


def test_route_values_are_the_wire_names():
    assert [r.value for r in Route] == ["concept", "debug", "code_review", "exercise", "off_topic", "unclear"]


def test_deterministic_and_bounded():
    t = classify("why does my loop never end?", LOOP)
    assert t == classify("why does my loop never end?", LOOP)
    assert isinstance(t, Triage) and 0.0 <= t.confidence <= 1.0


def test_huge_inputs_are_capped():
    t = classify(
        "what is a loop? " * (MAX_INPUT_CHARS // 4), "x = 1\n" * MAX_INPUT_CHARS, "E" * MAX_INPUT_CHARS
    )
    assert isinstance(t, Triage)
