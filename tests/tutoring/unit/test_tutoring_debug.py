"""debug.diagnose: the hint ladder for each kind of mistake, fixes that really fix, and hints that don't
give the fix away."""

import difflib
import subprocess
import sys
from pydoc_data.topics import topics

import pytest

from services.tutoring.domain.debug import Diagnosis, diagnose
from services.tutoring.domain.source import MAX_INPUT_CHARS


def traceback(line: int, error: str, file: str = "main.py") -> str:
    return f'Traceback (most recent call last):\n  File "{file}", line {line}, in <module>\n{error}\n'


LOOP = "i = 0\nwhile i < 10:\n    print(i)\n"
WHILE_TRUE = 'while True:\n    answer = input("Again? ")\n    print(answer)\n'
PRITN = 'name = "Ada"\npritn("Hello", name)\n'
TOTL = "total = 0\nfor price in [3, 4]:\n    total = totl + price\nprint(total)\n"
AVERAGE = "scores = []\naverage = sum(scores) / len(scores)\nprint(average)\n"
RANGE_PLUS_ONE = "nums = [1, 2, 3]\nfor i in range(len(nums) + 1):\n    print(nums[i])\n"
LEN_INDEX = "nums = [1, 2, 3]\nlast = nums[len(nums)]\nprint(last)\n"
KEY_TYPO = 'stock = {"apple": 3, "banana": 5}\nprint(stock["aple"])\n'
KEY_MISSING = 'ages = {"ann": 12}\nprint(ages["bob"])\n'
STR_PLUS_INT = 'age = 14\nprint("You are " + age)\n'
INPUT_PLUS_ONE = 'age = input("Age? ")\nprint(age + 1)\n'
SORT_NONE = "nums = [3, 1, 2]\nnums = nums.sort()\nnums.append(4)\nprint(nums)\n"
MISSING_COLON = "x = 5\nif x > 3\n    print(x)\n"
NOT_INDENTED = "for n in range(3):\nprint(n)\n"
UNEXPECTED_INDENT = "x = 1\n    print(x)\n"
FACTORIAL = "def fact(n):\n    return n * fact(n - 1)\n\nprint(fact(5))\n"
COUNTDOWN = "def countdown(n):\n    print(n)\n    countdown(n - 1)\n\ncountdown(3)\n"
UNCLOSED = "print((1 + 2)\n"

CASES = {
    "loop": (LOOP, "", "why does my loop never end?"),
    "while-true": (WHILE_TRUE, "", ""),
    "pritn": (PRITN, traceback(2, "NameError: name 'pritn' is not defined"), ""),
    "totl": (TOTL, traceback(3, "NameError: name 'totl' is not defined"), ""),
    "zero": (AVERAGE, traceback(2, "ZeroDivisionError: division by zero"), ""),
    "range": (RANGE_PLUS_ONE, traceback(3, "IndexError: list index out of range"), ""),
    "len-index": (LEN_INDEX, traceback(2, "IndexError: list index out of range"), ""),
    "key-typo": (KEY_TYPO, traceback(2, "KeyError: 'aple'"), ""),
    "key-missing": (KEY_MISSING, traceback(2, "KeyError: 'bob'"), ""),
    "str-int": (STR_PLUS_INT, traceback(2, 'TypeError: can only concatenate str (not "int") to str'), ""),
    "input-int": (INPUT_PLUS_ONE, traceback(2, 'TypeError: can only concatenate str (not "int") to str'), ""),
    "none": (SORT_NONE, traceback(3, "AttributeError: 'NoneType' object has no attribute 'append'"), ""),
    "colon": (MISSING_COLON, "", ""),
    "indent": (NOT_INDENTED, "", ""),
    "unexpected-indent": (UNEXPECTED_INDENT, "", ""),
    "factorial": (FACTORIAL, "RecursionError: maximum recursion depth exceeded", ""),
    "countdown": (COUNTDOWN, "", ""),
    "bracket": (UNCLOSED, "", ""),
}


@pytest.fixture(scope="module")
def diagnoses() -> dict[str, Diagnosis]:
    return {name: diagnose(*args) for name, args in CASES.items()}


def test_the_loop_that_never_ends(diagnoses):
    d = diagnoses["loop"]
    assert (d.cause, d.exception_type, d.line) == ("infinite-loop-unchanged-condition", "", 2)
    where, what = d.hints
    assert "`while`" in where and "line 2" in where and "changes" in where
    assert "`i`" in what and "ever changes" in what and "stays True" in what
    assert "i += 1" in d.fix and "inside the loop" in d.fix
    assert d.fix_code == "i += 1"
    assert d.fixed_code == "i = 0\nwhile i < 10:\n    print(i)\n    i += 1\n"
    assert d.references == ("while",)


def test_counting_down_loop_gets_a_decrement():
    d = diagnose("n = 5\nwhile n > 0:\n    print(n)\n")
    assert d.fix_code == "n -= 1"
    assert d.fixed_code.endswith("    print(n)\n    n -= 1\n")


def test_fix_goes_after_the_whole_body_with_its_indentation():
    code = "i = 0\nwhile i < 3:\n  if i % 2:\n    print('odd')\n  print(i)\nprint('done')\n"
    d = diagnose(code)
    assert (
        d.fixed_code
        == "i = 0\nwhile i < 3:\n  if i % 2:\n    print('odd')\n  print(i)\n  i += 1\nprint('done')\n"
    )


@pytest.mark.parametrize(
    "code",
    [
        "i = 0\nwhile i < 10:\n    i += 1\n",
        "i = 0\nwhile i < 10:\n    print(i)\n    if i > 5:\n        break\n",
        "items = [1, 2]\nwhile items:\n    items.pop()\n",
        "line = ''\nwhile line != 'q':\n    line = input()\n",
        "while input() != 'q':\n    print('again')\n",
        "def f():\n    n = 0\n    while n < 3:\n        return n\n",
        "i = 0\ndef step():\n    global i\n    i += 1\nwhile i < 3:\n    step()\n",
        "while True:\n    if input() == 'q':\n        break\n",
    ],
)
def test_loops_that_can_end_are_not_called_infinite(code):
    assert not diagnose(code).cause.startswith("infinite-loop")


def test_while_true_without_break(diagnoses):
    d = diagnoses["while-true"]
    assert (d.cause, d.line, d.exception_type) == ("infinite-loop-no-break", 1, "")
    assert "`break`" in d.hints[1]
    assert d.references == ("while", "break")


def test_a_break_in_an_inner_loop_does_not_end_the_outer_one():
    code = "while True:\n    for x in range(3):\n        break\n"
    assert diagnose(code).cause == "infinite-loop-no-break"


def test_name_typos(diagnoses):
    pritn = diagnoses["pritn"]
    assert (pritn.cause, pritn.exception_type, pritn.line) == ("name-typo", "NameError", 2)
    assert pritn.fix_code == 'print("Hello", name)'
    assert "`print`" in pritn.fix and "`pritn`" in pritn.hints[1]
    assert pritn.fixed_code == 'name = "Ada"\nprint("Hello", name)\n'
    totl = diagnoses["totl"]
    assert totl.cause == "name-typo" and totl.fix_code == "total = total + price"
    assert "line 3" in totl.hints[0]


def test_undefined_name_without_a_close_match():
    d = diagnose("print(greeting)\n", traceback(1, "NameError: name 'greeting' is not defined"))
    assert (d.cause, d.line) == ("undefined-name", 1)
    assert "quotes" in d.hints[1] and d.fixed_code == ""


def test_a_name_error_is_predicted_with_the_same_key_as_when_it_happens():
    before = diagnose(TOTL)
    after = diagnose(TOTL, traceback(3, "NameError: name 'totl' is not defined"))
    assert before.cause == after.cause == "name-typo"
    assert before.problem_key == after.problem_key


def test_zero_division(diagnoses):
    d = diagnoses["zero"]
    assert (d.cause, d.exception_type, d.line) == ("zero-division", "ZeroDivisionError", 2)
    assert "`len(scores)`" in d.hints[0] and "empty" in d.hints[1]
    assert d.fix_code == "if len(scores) != 0:"


def test_a_bare_error_line_is_located_in_the_code():
    d = diagnose(AVERAGE, "ZeroDivisionError: division by zero")
    assert (d.cause, d.line) == ("zero-division", 2)


def test_off_by_one_range(diagnoses):
    d = diagnoses["range"]
    assert (d.cause, d.exception_type, d.line) == ("off-by-one-range", "IndexError", 3)
    assert "line 2" in d.hints[0]
    assert d.fix_code == "for i in range(len(nums)):"
    assert d.fixed_code == RANGE_PLUS_ONE.replace("len(nums) + 1", "len(nums)")


def test_off_by_one_is_seen_before_the_program_runs():
    d = diagnose(RANGE_PLUS_ONE)
    assert d.cause == "off-by-one-range" and d.line == 3
    assert d.problem_key == diagnose(*CASES["range"]).problem_key


def test_while_with_less_or_equal_len():
    code = "nums = [4, 5]\ni = 0\nwhile i <= len(nums):\n    print(nums[i])\n    i += 1\n"
    d = diagnose(code, traceback(4, "IndexError: list index out of range"))
    assert d.cause == "off-by-one-range" and d.fix_code == "while i < len(nums):"


def test_index_with_len(diagnoses):
    d = diagnoses["len-index"]
    assert (d.cause, d.line) == ("index-out-of-range", 2)
    assert d.fix_code == "last = nums[-1]"


def test_key_typo_and_missing_key(diagnoses):
    typo = diagnoses["key-typo"]
    assert (typo.cause, typo.exception_type, typo.line) == ("key-missing", "KeyError", 2)
    assert typo.fix_code == 'print(stock["apple"])'
    assert typo.fixed_code == KEY_TYPO.replace("aple", "apple")
    missing = diagnoses["key-missing"]
    assert missing.cause == "key-missing" and missing.fixed_code == ""
    assert "ages.get('bob')" in missing.fix and "'bob'" in missing.hints[1]


def test_str_plus_int(diagnoses):
    d = diagnoses["str-int"]
    assert (d.cause, d.exception_type) == ("type-mismatch-str-int", "TypeError")
    assert d.fix_code == 'print("You are " + str(age))'
    converted = diagnoses["input-int"]
    assert converted.fix_code == 'age = int(input("Age? "))'
    assert "input()" in converted.hints[1]
    assert converted.fixed_code == 'age = int(input("Age? "))\nprint(age + 1)\n'


def test_int_plus_str_the_other_way_round():
    code = 'count = 3\nprint(count + " apples")\n'
    error = traceback(2, "TypeError: unsupported operand type(s) for +: 'int' and 'str'")
    assert diagnose(code, error).fix_code == 'print(str(count) + " apples")'


def test_attribute_on_none_from_sort(diagnoses):
    d = diagnoses["none"]
    assert (d.cause, d.exception_type, d.line) == ("none-attribute", "AttributeError", 3)
    assert "line 2" in d.hints[1] and "None" in d.hints[1]
    assert d.fix_code == "nums.sort()"
    assert d.fixed_code == "nums = [3, 1, 2]\nnums.sort()\nnums.append(4)\nprint(nums)\n"


def test_none_from_a_function_without_return():
    code = "def double(x):\n    print(x * 2)\n\nresult = double(4)\nprint(result.bit_length())\n"
    error = traceback(5, "AttributeError: 'NoneType' object has no attribute 'bit_length'")
    d = diagnose(code, error)
    assert d.cause == "none-attribute" and "`double`" in d.hints[1] and "return" in d.fix


def test_missing_colon(diagnoses):
    d = diagnoses["colon"]
    assert (d.cause, d.exception_type, d.line) == ("missing-colon", "SyntaxError", 2)
    assert d.fix_code == "if x > 3:"
    assert d.references == ("if",)


def test_missing_colon_before_a_comment():
    d = diagnose("for n in range(3)  # count\n    print(n)\n")
    assert d.fix_code == "for n in range(3):  # count"
    assert d.fixed_code and compile(d.fixed_code, "<fixed>", "exec")


def test_indentation_errors(diagnoses):
    d = diagnoses["indent"]
    assert (d.cause, d.exception_type, d.line) == ("wrong-indentation", "IndentationError", 2)
    assert "line 1" in d.hints[1]
    assert d.fixed_code == "for n in range(3):\n    print(n)\n"
    unexpected = diagnoses["unexpected-indent"]
    assert unexpected.cause == "wrong-indentation" and unexpected.fixed_code == "x = 1\nprint(x)\n"


def test_unindent_that_matches_no_level():
    code = "if True:\n    x = 1\n  y = 2\n"
    d = diagnose(code)
    assert d.cause == "wrong-indentation" and d.line == 3
    assert d.fixed_code and compile(d.fixed_code, "<fixed>", "exec")


def test_tabs_and_spaces():
    d = diagnose("if True:\n        x = 1\n\ty = 2\n")
    assert d.cause == "wrong-indentation" and d.exception_type == "TabError"
    assert "\t" not in d.fixed_code


def test_unbalanced_brackets(diagnoses):
    d = diagnoses["bracket"]
    assert (d.cause, d.line) == ("unbalanced-brackets", 1)
    assert d.fixed_code == "print((1 + 2))\n"


def test_the_code_s_own_syntax_error_wins_over_a_stale_pasted_error():
    d = diagnose(MISSING_COLON, traceback(9, "NameError: name 'y' is not defined"))
    assert d.cause == "missing-colon"


def test_syntax_error_pasted_without_code():
    d = diagnose(
        "", "  File \"main.py\", line 4\n    while x < 3\n               ^\nSyntaxError: expected ':'\n"
    )
    assert (d.cause, d.line, d.exception_type) == ("missing-colon", 4, "SyntaxError")


def test_recursion_without_base_case(diagnoses):
    fact = diagnoses["factorial"]
    assert (fact.cause, fact.exception_type) == ("recursion-no-base-case", "RecursionError")
    assert "`fact`" in fact.hints[0] and "base case" in fact.hints[1]
    assert fact.fix_code == "if n <= 0:\n    return 1"
    countdown = diagnoses["countdown"]  # found before it runs
    assert countdown.cause == "recursion-no-base-case" and countdown.fix_code == "if n <= 0:\n    return"


def test_recursion_with_a_base_case_that_is_never_reached():
    code = "def f(n):\n    if n == 0:\n        return 0\n    return f(n - 2)\n\nf(5)\n"
    d = diagnose(code, "RecursionError: maximum recursion depth exceeded in comparison")
    assert d.cause == "recursion-base-case-unreached"
    same = "def f(n):\n    if n == 0:\n        return 0\n    return f(n)\n"
    assert diagnose(same, "RecursionError: maximum recursion depth exceeded").cause == "recursion-no-progress"


def test_unknown_problem_gets_general_but_useful_hints():
    d = diagnose("print(2 + 2)\n", question="it prints the wrong number")
    assert d.cause == "unknown" and d.line == 0 and d.fixed_code == ""
    assert "print()" in d.hints[0]
    never = diagnose("print(2 + 2)\n", question="it never ends")
    assert "loop" in never.hints[0]


def test_other_exceptions_get_the_generic_ladder():
    d = diagnose('int("abc")\n', traceback(1, "ValueError: invalid literal for int() with base 10: 'abc'"))
    assert (d.cause, d.exception_type, d.line) == ("unknown", "ValueError", 1)
    assert "invalid literal" in d.hints[1]


# A whole corrected program only where one change clearly fixes it; a guard or a loop exit needs the
# student's decision (what to do when the list is empty, when to stop).
NOT_DERIVABLE = {"while-true", "zero", "key-missing"}


def test_which_cases_have_a_whole_program_fix(diagnoses):
    assert {name for name, d in diagnoses.items() if not d.fixed_code} == NOT_DERIVABLE


@pytest.mark.parametrize("name", sorted(set(CASES) - NOT_DERIVABLE))
def test_fixed_code_really_fixes(name, diagnoses):
    """The corrected program compiles, runs to the end (with an input if it reads one), and the
    same diagnosis no longer finds the problem."""
    d = diagnoses[name]
    compile(d.fixed_code, "<fixed>", "exec")
    run = subprocess.run(
        [sys.executable, "-c", d.fixed_code], input="20\n", capture_output=True, text=True, timeout=5
    )
    assert run.returncode == 0, run.stderr
    assert diagnose(d.fixed_code).cause in ("unknown", "infinite-loop-no-break")


@pytest.mark.parametrize("name", sorted(CASES))
def test_hints_never_contain_the_fix(name, diagnoses):
    d = diagnoses[name]
    secrets = [line.strip() for line in d.fix_code.splitlines() if line.strip()]
    if d.fixed_code:
        original = CASES[name][0].splitlines()
        changed = [
            line[2:].strip()
            for line in difflib.ndiff(original, d.fixed_code.splitlines())
            if line.startswith("+ ") and line[2:].strip()
        ]
        secrets += [line for line in changed if line not in {o.strip() for o in original}]
    # A bare keyword or name ("return", "i") is vocabulary, not code: only real code lines are secrets.
    secrets = [secret for secret in secrets if len(secret.split()) > 1 or not secret.isidentifier()]
    for secret in secrets:
        for hint in d.hints:
            assert secret not in hint, (name, secret, hint)


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_diagnosis_is_complete(name, diagnoses):
    d = diagnoses[name]
    assert d.cause and d.cause != "unknown"
    assert all(hint.strip() for hint in d.hints) and d.fix.strip()
    assert d.hints[0] != d.hints[1]
    assert len(d.problem_key) == 12 and int(d.problem_key, 16) >= 0
    assert d.references and all(ref in topics for ref in d.references)


def test_problem_key_survives_edits_elsewhere_and_changes_with_the_mistake():
    base = diagnose(LOOP)
    edited = diagnose("# counting\ni = 0\nprint('start')\nwhile i   <   10:\n    print('i is', i)\n")
    assert edited.cause == base.cause and edited.problem_key == base.problem_key
    other = diagnose("j = 0\nwhile j < 5:\n    print(j)\n")
    assert other.problem_key != base.problem_key
    typo = diagnose(PRITN)
    assert typo.problem_key == diagnose('pritn("hi")\n').problem_key


def test_deterministic():
    for args in CASES.values():
        assert diagnose(*args) == diagnose(*args)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("", ""),
        ("   \n\n", ""),
        ("", "it crashed"),
        ("this is not python at all, just words", ""),
        ("x" * (MAX_INPUT_CHARS * 2), ""),
        ("(" * 500, ""),
        ("print('\x00')", ""),
        ("print(1)\n" * 20_000, "ZeroDivisionError: division by zero"),
        (
            "x = 1\n",
            "Traceback (most recent call last):\n"
            + '  File "main.py", line 99999, in <module>\n'
            + "KeyError: 'k'",
        ),
    ],
)
def test_odd_inputs_do_not_blow_up(code, error):
    d = diagnose(code, error)
    assert isinstance(d, Diagnosis) and d.hints[0] and d.fix
