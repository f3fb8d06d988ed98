"""leaks: model-written hints that give the solution away, and stripping code out of them."""

import pytest

from services.tutoring.domain.debug import diagnose
from services.tutoring.domain.leaks import REPLACEMENT, leaked_code, strip_code
from services.tutoring.domain.source import MAX_INPUT_CHARS

SOLUTION = """def average(numbers):
    total = 0
    for number in numbers:
        total = total + number
    return total / len(numbers)

scores = [int(x) for x in input().split()]
print(average(scores))
"""


@pytest.mark.parametrize(
    "text",
    [
        "Try this:\n```python\nscores = [int(x) for x in input().split()]\n```",
        "You could write `return total / len(numbers)` at the end.",
        "Replace your last line with: print(average(scores))",
        "for number in numbers: total = total + number — that's all you need.",
        "The first line should be def average( numbers ) : and then the loop",
        "Just do   scores = [ int(x)   for x in input( ).split() ]",
        "Use  return   total/len(numbers)",
        "Here is the loop:\n\n    for number in numbers:\n        total = total + number\n",
    ],
)
def test_realistic_leaks(text):
    assert leaked_code(text, SOLUTION)


@pytest.mark.parametrize(
    "text",
    [
        "Look at the `while` loop on line 2: what changes `i`?",
        "Your function needs to add up the numbers before it divides. What should `total` start at?",
        "Think about what `len(numbers)` is when the list is empty.",
        "Which built-in function converts text to a number?",
        "Set `total = 0` before the loop.",  # a short line of a long solution says nothing new
        "",
        "Don't forget: it's the `for` loop's job, isn't it?",
        "¿Qué hace tu bucle? 🤔 «return» devuelve un valor",
    ],
)
def test_hints_that_do_not_leak(text):
    assert not leaked_code(text, SOLUTION)


def test_a_short_fix_leaks_when_stated_whole():
    fix = diagnose("i = 0\nwhile i < 10:\n    print(i)\n").fix_code
    assert fix == "i += 1"
    assert leaked_code("Add `i += 1` at the end of the loop body.", fix)
    assert leaked_code("just write i+=1", fix)
    assert not leaked_code("The variable `i` never changes inside the `while` loop.", fix)
    assert not leaked_code("What should happen to i on each pass? Increase it by one.", fix)


def test_min_tokens_is_the_line_threshold():
    line = "total = total + number"  # 5 tokens
    assert not leaked_code(f"write {line}", SOLUTION)
    assert leaked_code(f"write {line}", SOLUTION, min_tokens=5)


def test_long_shared_run_across_lines():
    text = "for number in numbers : total = total"  # 8 tokens spanning two solution lines
    assert leaked_code(text, SOLUTION)


def test_quotes_and_spacing_do_not_hide_a_copy():
    assert leaked_code("print('hello, ' + name)", 'print("hello, " + name)\n')


def test_non_python_solution_and_text_are_fine():
    assert not leaked_code("anything", "")
    assert not leaked_code("some words", "this is not ' python (((")
    assert leaked_code("copy: this is not ' python (((", "this is not ' python (((")


def test_strip_fenced_and_indented_code():
    text = (
        "Here's a hint.\n```python\nx = 1\nprint(x)\n```\nThen think.\n~~~\ny = 2\n~~~\n\n"
        "    for i in range(3):\n        print(i)\n\nDone."
    )
    assert strip_code(text) == (
        f"Here's a hint.\n{REPLACEMENT}\nThen think.\n{REPLACEMENT}\n\n{REPLACEMENT}\n\nDone."
    )


def test_strip_keeps_prose_lists_and_inline_code():
    text = "Steps:\n\n- read the input\n\n    (an indented continuation of the item)\n\nUse `len()` here."
    assert strip_code(text) == text
    assert strip_code("no code at all") == "no code at all"


def test_unterminated_fence_is_removed_to_the_end():
    assert strip_code("Look:\n```\nsecret = 42\nmore") == f"Look:\n{REPLACEMENT}"


def test_stripped_text_no_longer_leaks():
    text = "Try:\n```python\nscores = [int(x) for x in input().split()]\n```\nGood luck!"
    assert leaked_code(text, SOLUTION) and not leaked_code(strip_code(text), SOLUTION)


def test_huge_inputs():
    text = "word " * MAX_INPUT_CHARS
    assert not leaked_code(text, SOLUTION * 500)
    assert strip_code("```\n" + "x = 1\n" * MAX_INPUT_CHARS) == REPLACEMENT
