"""review.review: static comments, the run's verdict, and the quality formula that feeds mastery."""

import pytest

from services.tutoring.domain.review import (
    CORRECTNESS_PENALTY,
    STYLE_PENALTY,
    Comment,
    Review,
    RunResult,
    quality,
    review,
)
from services.tutoring.domain.review_checks import MAX_PER_CHECK
from services.tutoring.domain.source import MAX_INPUT_CHARS

CLEAN = '''def average(numbers):
    """Return the mean of a non-empty list of numbers."""
    return sum(numbers) / len(numbers)


print(average([1, 2, 3]))
'''


def only(code: str, run: RunResult | None = None) -> Comment:
    comments = review(code, run).comments
    assert len(comments) == 1, comments
    return comments[0]


def test_clean_code():
    r = review(CLEAN)
    assert r.comments == () and r.quality == 1.0
    assert "No problems found" in r.summary
    assert review(CLEAN, RunResult("ok", stdout="2.0\n")).quality == 1.0


def test_syntax_error_is_one_correctness_comment_and_zero_quality():
    r = review("x = 5\nif x > 3\n    print(x)\n")
    assert r.quality == 0.0
    (comment,) = r.comments
    assert (comment.line, comment.kind) == (2, "correctness")
    assert "colon" in comment.message and "if x > 3:" in comment.suggestion


def test_empty_code():
    r = review("   \n")
    assert (r.comments, r.quality) == ((), 0.0)


@pytest.mark.parametrize(
    ("code", "line", "kind", "words"),
    [
        ("import os\nprint('hi')\n", 1, "style", "`os` is imported but never used"),
        ("def f():\n    x = 1\n    return 2\n\n\nprint(f())\n", 2, "style", "`x` is assigned"),
        ("for i in range(3):\n    print('hi')\n", 1, "style", "loop variable `i`"),
        ("def add(x, items=[]):\n    return items + [x]\n\n\nprint(add(1))\n", 1, "style", "mutable `[]`"),
        (
            "def add(x, items=[]):\n    items.append(x)\n    return items\n\n\nprint(add(1))\n",
            1,
            "correctness",
            "the function changes it",
        ),
        ("try:\n    print(1)\nexcept:\n    pass\n", 3, "style", "bare `except:`"),
        ("x = None\nif x == None:\n    print(x)\n", 2, "style", "compares with None"),
        ("ok = True\nif ok == True:\n    print(ok)\n", 2, "style", "compares with `True`"),
        ("xs = [1, 2]\nfor i in range(len(xs)):\n    print(xs[i])\n", 2, "style", "range(len(xs))"),
        ("list = [1, 2]\nprint(list)\n", 1, "style", "`list` is the name of a Python built-in"),
        ("x = '" + "a" * 120 + "'\nprint(x)\n", 1, "style", "characters long (more than 99)"),
        ("def MyFunc():\n    return 1\n\n\nprint(MyFunc())\n", 1, "style", "isn't in snake_case"),
        ("myValue = 1\nprint(myValue)\n", 1, "style", "`myValue`"),
        ("class my_thing:\n    pass\n\n\nprint(my_thing)\n", 1, "style", "CapWords"),
        (
            "def f(n):\n    a = n\n    b = a\n    c = b\n    d = c\n    return d\n\n\nprint(f(1))\n",
            1,
            "style",
            "has no docstring",
        ),
        ("def f():\n    return 1\n    print('never')\n\n\nprint(f())\n", 3, "correctness", "can never run"),
        (
            "count = 0\n\n\ndef bump():\n    global count\n    count += 1\n\n\nbump()\nprint(count)\n",
            5,
            "style",
            "`global count`",
        ),
        ("x = 1; print(x)\n", 1, "style", "`;`"),
    ],
)
def test_each_check(code, line, kind, words):
    comment = only(code)
    assert (comment.line, comment.kind) == (line, kind)
    assert words in comment.message
    assert comment.suggestion


def test_suggestions_are_specific():
    assert "`for item in xs:`" in only("xs = [1, 2]\nfor i in range(len(xs)):\n    print(xs[i])\n").suggestion
    enumerate_fits = only("xs = [1, 2]\nfor i in range(len(xs)):\n    print(i, xs[i])\n").suggestion
    assert "enumerate(xs)" in enumerate_fits
    assert "`x is None`" in only("x = None\nif x == None:\n    print(x)\n").suggestion
    assert "`my_value`" in only("myValue = 1\nprint(myValue)\n").suggestion


def test_names_that_are_fine():
    code = 'MAX_SIZE = 10\n_private = 1\n__all__ = ["MAX_SIZE"]\nfor _ in range(2):\n    print(MAX_SIZE)\n'
    assert review(code).comments == ()


def test_runtime_error_from_the_run():
    code = "scores = []\nprint(sum(scores) / len(scores))\n"
    r = review(code, RunResult("RUNTIME_ERROR", "ZeroDivisionError", "division by zero", 2))
    (comment,) = r.comments
    assert (comment.line, comment.kind) == (2, "correctness")
    assert "ZeroDivisionError on line 2" in comment.message
    assert "if len(scores) != 0:" in comment.suggestion
    assert r.quality == 1 - CORRECTNESS_PENALTY


def test_timed_out_points_at_the_loop():
    code = "i = 0\nwhile i < 3:\n    print(i)\n"
    (comment,) = review(code, RunResult("timed_out")).comments
    assert (comment.line, comment.kind) == (2, "correctness")
    assert "didn't finish" in comment.message and "i += 1" in comment.suggestion
    (other,) = review("n = int(input())\nprint(n)\n", RunResult("timed_out")).comments
    assert "loop that never ends" in other.message


@pytest.mark.parametrize(
    ("verdict", "words"),
    [
        ("memory_exceeded", "out of memory"),
        ("output_exceeded", "printed far more"),
        ("rejected", "refused"),
        ("syntax_error", "couldn't compile"),
    ],
)
def test_other_verdicts(verdict, words):
    r = review("print(1)\n", RunResult(verdict, message="bad"))
    assert any(words in c.message and c.kind == "correctness" for c in r.comments)
    if verdict in ("rejected", "syntax_error"):
        assert r.quality == 0.0


def test_quality_formula():
    style = Comment(1, "style", "s", "")
    bug = Comment(1, "correctness", "c", "")
    assert quality([]) == 1.0
    assert quality([style]) == round(1 - STYLE_PENALTY, 2) == 0.95
    assert quality([style] * 100) == 0.75  # style never costs more than 0.25
    assert quality([bug]) == 0.65
    assert quality([bug, bug]) == 0.3
    assert quality([bug] * 3) == 0.0  # floor
    assert quality([style], clean_run=True) == 1.0
    assert quality([bug], clean_run=True) == 0.65  # no bonus with a bug


def test_working_code_stays_familiar_and_buggy_code_does_not():
    """Progress calls a topic familiar from 0.70: the formula keeps the two apart."""
    messy = "import os\nimport sys\nmyList = [1]\nlist = 2\nx = None\nif x == None: print(x); print(myList)\n"
    assert review(messy).quality >= 0.75
    buggy = "def f():\n    return 1\n    print('x')\n\n\nprint(f())\n"
    assert review(buggy).quality <= 0.65


def test_comments_are_sorted_and_capped():
    code = "".join(f"import mod{i}\n" for i in range(20)) + "print('x')\n"
    r = review(code)
    assert len(r.comments) == MAX_PER_CHECK
    assert [c.line for c in r.comments] == sorted(c.line for c in r.comments)


def test_summary_names_the_first_correctness_issue():
    r = review("import os\n\n\ndef f():\n    return 1\n    print('never')\n\n\nprint(f())\n")
    assert r.summary.startswith("1 correctness issue and 1 style suggestion; start with line 6")


def test_deterministic_and_robust():
    for code in [
        "",
        "(((((",
        "x" * (MAX_INPUT_CHARS + 10),
        "print('ok')\n" * 8000,
        "\x00",
        "é = 1\nprint(é)\n",
    ]:
        r = review(code)
        assert isinstance(r, Review) and 0.0 <= r.quality <= 1.0
        assert r == review(code)
