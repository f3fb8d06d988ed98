"""tracebacks.parse: full tracebacks, syntax errors, chains, bare lines, and junk."""

import subprocess
import sys

import pytest

from services.tutoring.domain.source import MAX_INPUT_CHARS
from services.tutoring.domain.tracebacks import ParsedError, is_library_file, parse

NAME_ERROR = """Traceback (most recent call last):
  File "<string>", line 3, in <module>
NameError: name 'x' is not defined
"""

SYNTAX_ERROR = """  File "/work/main.py", line 2
    if x == 1
             ^
SyntaxError: expected ':'
"""

INDENTATION_ERROR = """  File "main.py", line 3
    print(x)
    ^
IndentationError: expected an indented block after 'if' statement on line 2
"""

CHAINED = """Traceback (most recent call last):
  File "main.py", line 2, in <module>
    x = int("abc")
        ^^^^^^^^^^
ValueError: invalid literal for int() with base 10: 'abc'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "main.py", line 4, in <module>
    print(1 / 0)
          ~~^~~
ZeroDivisionError: division by zero
"""

THROUGH_THE_STDLIB = """Traceback (most recent call last):
  File "/work/main.py", line 5, in <module>
    json.loads(text)
  File "/usr/lib/python3.11/json/__init__.py", line 346, in loads
    return _default_decoder.decode(s)
  File "/usr/lib/python3.11/json/decoder.py", line 355, in raw_decode
    raise JSONDecodeError("Expecting value", s, err.value) from None
json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)
"""


def test_full_traceback():
    assert parse(NAME_ERROR) == ParsedError(
        "NameError", "name 'x' is not defined", 3, (("<string>", 3, "<module>"),)
    )


def test_syntax_error_block_with_caret():
    parsed = parse(SYNTAX_ERROR)
    assert parsed == ParsedError("SyntaxError", "expected ':'", 2, (("/work/main.py", 2, ""),))


def test_indentation_error_block():
    parsed = parse(INDENTATION_ERROR)
    assert parsed is not None
    assert (parsed.exception_type, parsed.line) == ("IndentationError", 3)
    assert parsed.message == "expected an indented block after 'if' statement on line 2"


def test_chained_exceptions_use_the_last():
    parsed = parse(CHAINED)
    assert parsed is not None
    assert (parsed.exception_type, parsed.message, parsed.line) == (
        "ZeroDivisionError",
        "division by zero",
        4,
    )
    assert parsed.frames == (("main.py", 4, "<module>"),)


def test_student_line_skips_library_frames_and_module_prefix():
    parsed = parse(THROUGH_THE_STDLIB)
    assert parsed is not None
    assert parsed.exception_type == "JSONDecodeError"
    assert parsed.line == 5
    assert len(parsed.frames) == 3


def test_bare_one_line_error():
    assert parse("ZeroDivisionError: division by zero") == ParsedError(
        "ZeroDivisionError", "division by zero", 0, ()
    )
    assert parse("KeyError: 'colour'\n") == ParsedError("KeyError", "'colour'", 0, ())


def test_pasted_with_indentation_and_windows_line_endings():
    pasted = "    " + NAME_ERROR.replace("\n", "\r\n    ")
    parsed = parse(pasted)
    assert parsed is not None and (parsed.exception_type, parsed.line) == ("NameError", 3)


def test_real_recursion_traceback_from_cpython():
    program = "def f(n):\n    return f(n)\n\nf(1)\n"
    stderr = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True).stderr
    parsed = parse(stderr)
    assert parsed is not None
    assert (parsed.exception_type, parsed.line) == ("RecursionError", 2)


def test_custom_exception_after_a_traceback():
    text = 'Traceback (most recent call last):\n  File "main.py", line 7, in <module>\n__main__.OutOfStock\n'
    parsed = parse(text)
    assert parsed is not None and (parsed.exception_type, parsed.message, parsed.line) == (
        "OutOfStock",
        "",
        7,
    )


@pytest.mark.parametrize(
    "text",
    ["", "   \n", "my program doesn't work", "Note: this is fine", "hello there: friend", "x = 1\nprint(x)"],
)
def test_no_exception_is_none(text):
    assert parse(text) is None


def test_huge_input_is_capped_not_fatal():
    junk = ("spam " * 20 + "\n") * (MAX_INPUT_CHARS // 50)
    assert parse(junk + NAME_ERROR) is None  # the error is beyond the cap
    assert parse(NAME_ERROR + junk) is not None


@pytest.mark.parametrize(
    ("path", "library"),
    [
        ("<string>", False),
        ("<stdin>", False),
        ("main.py", False),
        ("/work/main.py", False),
        ("/usr/lib/python3.11/json/decoder.py", True),
        ("/root/.pyenv/versions/3.11.7/lib/python3.11/random.py", True),
        ("/app/.venv/lib/python3.11/site-packages/requests/api.py", True),
        ("<frozen runpy>", True),
        ("C:\\Python311\\Lib\\json\\decoder.py", True),
    ],
)
def test_library_files(path, library):
    assert is_library_file(path) is library
