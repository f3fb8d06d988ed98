"""A traceback as a student pastes it (or as the sandbox captured it), read into its parts.

What a student pastes is untidy: a full CPython traceback, a SyntaxError block with its caret line, a
chain of exceptions ("During handling of the above exception, another exception occurred:"), or just
the last line. The exception that matters is the last one printed: chained tracebacks print the original
first and the one that ended the program last.

The student's line is the last frame in a file that is not part of Python or an installed package:
"<string>", "<stdin>", "main.py", "/work/main.py" are the student's; "/usr/lib/python3.11/json/..." or
"<frozen runpy>" are not. A traceback that never passes through the student's file gives line 0.
"""

from __future__ import annotations

import builtins
import re
import textwrap
from dataclasses import dataclass

from services.tutoring.domain.source import cap

Frame = tuple[str, int, str]  # (file, line, function); function is "" for a SyntaxError's location


@dataclass(frozen=True)
class ParsedError:
    exception_type: str  # without its module: "__main__.BadInput" -> "BadInput"
    message: str  # the first line of the message, "" when there is none
    line: int  # 1-based line in the student's code, 0 when unknown
    frames: tuple[Frame, ...]


_HEADERS = ("Traceback (most recent call last):", "Exception Group Traceback (most recent call last):")
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]*)", line (?P<line>\d+)(?:, in (?P<function>.+))?\s*$')
_EXCEPTION = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::(?P<message>.*))?$")
_GUTTER = re.compile(r"^ *[|+] ?")  # exception groups draw "  | " in front of their tracebacks
_LIBRARY_FILE = re.compile(
    r"(^<frozen )|([/\\](lib|Lib)[/\\]python\d[\w.]*[/\\])|site-packages|dist-packages|([/\\]lib[/\\]python)"
    r"|(Python3\d*[/\\]Lib[/\\])"
)
_BUILTIN_EXCEPTIONS = frozenset(
    name
    for name in dir(builtins)
    if isinstance(getattr(builtins, name), type) and issubclass(getattr(builtins, name), BaseException)
)
_EXCEPTION_SUFFIXES = ("Error", "Exception", "Warning", "Exit", "Interrupt", "Iteration")


def parse(error: str) -> ParsedError | None:
    """Read the last exception in `error`: its type, message, the student's line and the frames of its
    traceback. None when `error` holds no exception."""
    lines = textwrap.dedent(cap(error).replace("\r\n", "\n").replace("\r", "\n")).split("\n")
    if any("Exception Group Traceback" in line for line in lines):
        lines = [_GUTTER.sub("", line, count=1) for line in lines]
    starts = [i for i, line in enumerate(lines) if line.strip() in _HEADERS]
    body = lines[starts[-1] + 1 :] if starts else lines
    frames: list[Frame] = []
    for text in body:
        frame = _FRAME.match(text)
        if frame:
            frames.append((frame["file"], int(frame["line"]), (frame["function"] or "").strip()))
            continue
        if not text.strip() or text[:1].isspace():
            continue  # source lines, carets, "[Previous line repeated 996 more times]"
        found = _exception_line(text.rstrip(), strict=not frames)
        if found is not None:
            name, message = found
            return ParsedError(name, message, _student_line(frames), tuple(frames))
        if not starts:
            frames = []  # prose before a bare error line is not part of it
    return None


def is_library_file(path: str) -> bool:
    """True for Python's own files and installed packages, which are never the student's."""
    return bool(_LIBRARY_FILE.search(path))


def looks_like_exception(name: str) -> bool:
    short = name.rsplit(".", 1)[-1]
    return short in _BUILTIN_EXCEPTIONS or short.endswith(_EXCEPTION_SUFFIXES)


def _exception_line(text: str, *, strict: bool) -> tuple[str, str] | None:
    """(type, message) when `text` is an exception line. Below a traceback's frames any name counts
    (`__main__.OutOfStock`); without them (`strict`), only names that look like exceptions do:
    "Note: see above" is prose, "ValueError: bad" is not."""
    match = _EXCEPTION.match(text)
    if not match:
        return None
    name = match["type"]
    if strict and not looks_like_exception(name):
        return None
    return name.rsplit(".", 1)[-1], (match["message"] or "").strip()


def _student_line(frames: list[Frame]) -> int:
    for file, line, _function in reversed(frames):
        if not is_library_file(file):
            return line
    return 0
