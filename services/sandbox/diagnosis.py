"""What happened to a program, in words a student can act on: the verdict of a run and, when the program
failed, which exception it raised and on which of its own lines.

Pure logic over the program's text and its stderr: no gRPC, SQLAlchemy or NATS, and nothing here runs
student code. `check_syntax` only compiles; it runs in the service's interpreter, which must be the same
minor Python version as the sandbox's (3.11 on both sides today), or the grammar and messages differ.
"""

from __future__ import annotations

import enum
import errno
import re
import signal
import warnings
from dataclasses import dataclass

# Where the engine puts the program inside the sandbox; tracebacks name this file.
STUDENT_FILE = "/work/main.py"
# The name check_syntax compiles under. Compile-time warnings (SyntaxWarning for `x is 1`,
# DeprecationWarning for "\d") carry it as their module, so one filter can silence exactly them.
_COMPILE_NAME = "<learnflow-student-program>"
_COMPILE_WARNINGS = re.escape(_COMPILE_NAME) + r"\Z"
# That filter as the warnings module stores it, to add it only once.
_SILENCE_COMPILE_WARNINGS = ("ignore", None, Warning, re.compile(_COMPILE_WARNINGS), 0)
# Deaths by these signals count as "ran out of memory" when stderr says so (see verdict_for).
_MEMORY_SIGNALS = frozenset({signal.SIGKILL, signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT})
_MEMORY_WORDS = re.compile(r"MemoryError|Cannot allocate memory|[Oo]ut of memory")


class Verdict(enum.StrEnum):
    OK = "OK"
    RUNTIME_ERROR = "RUNTIME_ERROR"
    TIMED_OUT = "TIMED_OUT"
    MEMORY_EXCEEDED = "MEMORY_EXCEEDED"
    OUTPUT_EXCEEDED = "OUTPUT_EXCEEDED"
    SYNTAX_ERROR = "SYNTAX_ERROR"
    REJECTED = "REJECTED"


@dataclass(frozen=True)
class Diagnosis:
    """The failure, located in the student's program. `line` is 0 and `source_line` "" when unknown."""

    exception_type: str
    message: str
    line: int
    source_line: str


def source_line(code: str, line: int) -> str:
    """Line `line` (1-based) of `code`, stripped; "" when out of range. Lines are split the way Python
    numbers them (\\n, \\r\\n, \\r), not the way str.splitlines does (which also splits on \\f and others)."""
    if line <= 0:
        return ""
    lines = code.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return lines[line - 1].strip() if line <= len(lines) else ""


def check_syntax(code: str) -> Diagnosis | None:
    """Compile `code` without running it: None when Python accepts it, else where and why it does not.

    SyntaxError, IndentationError and TabError carry a line. Null bytes (ValueError on 3.11) and
    absurdly nested code, which exhausts the parser or compiler (RecursionError, MemoryError), have none.
    """
    # Added once and kept, rather than catch_warnings() around compile(), which is not thread-safe.
    # (Re-adding it on every call would reset every module's "warn once" memory each time.)
    if _SILENCE_COMPILE_WARNINGS not in warnings.filters:
        warnings.filterwarnings("ignore", module=_COMPILE_WARNINGS)
    try:
        compile(code, _COMPILE_NAME, "exec", dont_inherit=True)
    except SyntaxError as e:  # IndentationError and TabError are subclasses
        line = e.lineno or 0
        return Diagnosis(type(e).__name__, e.msg, line, source_line(code, line))
    except ValueError as e:
        return Diagnosis(type(e).__name__, str(e), 0, "")
    except (RecursionError, MemoryError) as e:
        return Diagnosis(type(e).__name__, "the program is nested too deeply for Python to compile", 0, "")
    return None


_HEADER = "Traceback (most recent call last):"
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]*)", line (?P<line>\d+)')
_EXCEPTION = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<message>.*))?$")
# Exception groups draw a gutter ("  | ", "  + ") in front of every line of their tracebacks.
_GUTTER = re.compile(r"^ *[|+] ?")


def diagnose(stderr: str, code: str, filename: str = STUDENT_FILE) -> Diagnosis | None:
    """Read the last traceback in `stderr`: the exception's type without its module (`__main__.MyError`
    -> `MyError`), the first line of its message, and the deepest frame in the student's file (`filename`)
    with that line taken from `code`. None when stderr holds no exception.

    The last traceback is the one that ended the program: chained exceptions print the original first.
    A traceback that never passed through the student's file (an error raised while Python started, say)
    keeps line 0.
    """
    lines = stderr.splitlines()
    if "Exception Group Traceback" in stderr:
        lines = [_GUTTER.sub("", line, count=1) for line in lines]
    starts = [i for i, line in enumerate(lines) if line.rstrip().endswith(_HEADER)]
    # A SyntaxError raised while Python reads the file itself has no header, only a frame and the error.
    if not starts:
        return _read_traceback(lines, code, filename, seen_frame=False)
    # Several processes (a fork bomb) may interleave their tracebacks, and the last one may be cut
    # short when the process tree is killed: then the latest complete one tells what happened.
    for start in reversed(starts):
        found = _read_traceback(lines[start + 1 :], code, filename, seen_frame=True)
        if found is not None:
            return found
    return None


def _read_traceback(body: list[str], code: str, filename: str, *, seen_frame: bool) -> Diagnosis | None:
    line_no = 0
    for text in body:
        frame = _FRAME.match(text)
        if frame:
            seen_frame = True
            if frame["file"] == filename:
                line_no = int(frame["line"])
            continue
        if text[:1].isspace() or not text:
            continue  # source lines, carets, "[Previous line repeated N more times]"
        exception = _EXCEPTION.match(text.rstrip())
        if exception and seen_frame:
            name = exception["type"].rsplit(".", 1)[-1]
            message = (exception["message"] or "").strip()
            return Diagnosis(name, message, line_no, source_line(code, line_no))
    return None


def signal_diagnosis(signum: int) -> Diagnosis:
    """For a program killed by a signal, which leaves no traceback (a segfault in C code, say)."""
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    description = signal.strsignal(signum) or name
    return Diagnosis(name, f"the program was killed by {name} ({description})", 0, "")


def verdict_for(
    *,
    timed_out: bool,
    output_exceeded: bool,
    exit_code: int,
    diagnosis: Diagnosis | None,
    stderr: str,
) -> Verdict:
    """The verdict of a program that ran (REJECTED and SYNTAX_ERROR are decided before anything runs).

    Precedence: TIMED_OUT > OUTPUT_EXCEEDED > MEMORY_EXCEEDED > RUNTIME_ERROR > OK. `exit_code` is the
    program's exit status, negative (-N) when a signal N killed it.

    MEMORY_EXCEEDED, kept simple: the memory limit is an rlimit, so an allocation beyond it fails and
    Python raises MemoryError (or OSError ENOMEM, from mmap); a program that dies of that is
    MEMORY_EXCEEDED. C code that does not check its allocations, or a stack that cannot grow, dies of a
    signal instead (SIGSEGV, SIGBUS, SIGABRT, SIGKILL); that counts as MEMORY_EXCEEDED only when `stderr`
    (its end) says memory ran out, as CPython's "Fatal Python error: ... MemoryError" does, otherwise
    it is a RUNTIME_ERROR like any crash. (The process's peak memory would be the better witness, but
    it cannot be observed without a cgroup; see engine._reaper.) A program that catches its MemoryError
    and exits 0 is OK.
    """
    if timed_out:
        return Verdict.TIMED_OUT
    if output_exceeded:
        return Verdict.OUTPUT_EXCEEDED
    if exit_code == 0:
        return Verdict.OK
    if diagnosis is not None and _out_of_memory(diagnosis):
        return Verdict.MEMORY_EXCEEDED
    if exit_code < 0 and -exit_code in _MEMORY_SIGNALS and _MEMORY_WORDS.search(stderr):
        return Verdict.MEMORY_EXCEEDED
    return Verdict.RUNTIME_ERROR


def _out_of_memory(diagnosis: Diagnosis) -> bool:
    if diagnosis.exception_type == "MemoryError":
        return True
    return diagnosis.exception_type == "OSError" and diagnosis.message.startswith(f"[Errno {errno.ENOMEM}]")
