"""The debug agent's offline brain: why a student's program fails, as a ladder of hints and a fix.

    diagnose(code, error, question) -> Diagnosis

The ladder gives away a little more at each rung, so a student who only needs a nudge gets a nudge:

    hints[0]  where to look     the line and the construct, and a question to ask about it
    hints[1]  what is wrong     the mistake and the concept behind it, without code that fixes it
    fix       how to fix it     the change, with the corrected line(s) (`fix_code`)

and `fixed_code` is the whole corrected program when one change clearly fixes it (and compiles).

Order of the checks: the code's own syntax error first (the compiler is the authority, whatever error
was pasted); then the exception in `error` (debug_runtime.py); then, with no error, what the code alone
shows (debug_loops.py: loops and recursion that never end; a name that is never defined; an index one
past the end). A problem predicted from the code gets the same problem key as the error it raises later.

`problem_key` identifies "this problem" for one student across attempts: a hash of the cause, the
exception type and what the problem is about (the misspelled name, the loop's condition, the divisor),
not of line numbers, so editing other lines keeps the key and a different mistake changes it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from services.tutoring.domain import tracebacks
from services.tutoring.domain.debug_loops import infinite_loop, recursion_finding, recursion_without_base_case
from services.tutoring.domain.debug_runtime import diagnose_error, predict_index_error
from services.tutoring.domain.debug_syntax import diagnose_syntax
from services.tutoring.domain.findings import Finding
from services.tutoring.domain.source import (
    BUILTIN_NAMES,
    bound_names,
    cap,
    has_star_import,
    parse,
    short_hash,
    syntax_error,
)

_SYNTAX_KINDS = frozenset({"SyntaxError", "IndentationError", "TabError"})
_MODULE_NAMES = frozenset({"__name__", "__file__", "__doc__", "__builtins__", "__spec__", "__loader__"})
_NEVER_ENDS = re.compile(r"never (ends|stops|finish)|infinite|forever|hangs?\b|stuck|timed? ?out|freez", re.I)


@dataclass(frozen=True)
class Diagnosis:
    problem_key: str
    exception_type: str  # "" for problems that raise nothing (a loop that never ends)
    line: int  # 1-based, 0 when unknown
    cause: str  # a slug: "name-typo", "infinite-loop-unchanged-condition", ... "unknown"
    hints: tuple[str, str]
    fix: str
    fixed_code: str
    references: tuple[str, ...]  # keys of pydoc_data.topics.topics
    fix_code: str = ""  # the corrected line(s) shown in `fix`; never part of a hint


def diagnose(code: str, error: str = "", question: str = "") -> Diagnosis:
    code, error, question = cap(code), cap(error), cap(question)
    return _diagnosis(_finding(code, error, question))


def problem_key(cause: str, exception_type: str, basis: str) -> str:
    return short_hash(cause, exception_type, basis)


def _finding(code: str, error: str, question: str) -> Finding:
    parsed = tracebacks.parse(error) if error.strip() else None
    if code.strip():
        bad = syntax_error(code)
        if bad is not None:
            return diagnose_syntax(code, type(bad).__name__, bad.msg or "", bad.lineno or 0, bad.offset or 0)
    elif parsed is not None and parsed.exception_type in _SYNTAX_KINDS:
        return diagnose_syntax("", parsed.exception_type, parsed.message, parsed.line)
    tree = parse(code) if code.strip() else None
    if parsed is not None and parsed.exception_type not in _SYNTAX_KINDS:
        return diagnose_error(code, tree, parsed)
    if tree is not None:
        found = _predicted(code, tree)
        if found is not None:
            return found
    return _unknown(code, question, error)


def _predicted(code: str, tree: ast.Module) -> Finding | None:
    """A problem the code shows before it runs, in the order a student meets them."""
    found = infinite_loop(code, tree)
    if found is not None:
        return found
    if recursion_without_base_case(tree) is not None:
        return recursion_finding(code, tree, None)
    undefined = _first_undefined_name(tree)
    if undefined is not None:
        name, line = undefined
        predicted = tracebacks.ParsedError("NameError", f"name '{name}' is not defined", line, ())
        return diagnose_error(code, tree, predicted)
    return predict_index_error(code, tree)


def _first_undefined_name(tree: ast.Module) -> tuple[str, int] | None:
    if has_star_import(tree):
        return None
    known = bound_names(tree) | BUILTIN_NAMES | _MODULE_NAMES
    loads = [
        (n.lineno, n.col_offset, n.id)
        for n in ast.walk(tree)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id not in known
    ]
    if not loads:
        return None
    line, _col, name = min(loads)
    return name, line


def _unknown(code: str, question: str, error: str) -> Finding:
    if _NEVER_ENDS.search(question) or _NEVER_ENDS.search(error):
        hints = (
            "Look at each loop in your program: for each one, which line is supposed to make it stop?",
            "A loop ends only when its condition becomes False or a `break` runs. If the values in the "
            "condition never reach the stopping point (or the `break` is never reached), it runs forever.",
        )
        fix = (
            "Print the loop's variables at the start of each pass to watch them change, and make sure "
            "every pass moves them toward the stopping condition."
        )
        references: tuple[str, ...] = ("while", "for", "break")
    else:
        hints = (
            "Run your program with a small input you can work out by hand, and add `print()` calls to "
            "see the values of your variables at each step.",
            "Find the first step where a value differs from what you worked out by hand: the mistake is "
            "in the code just before that step.",
        )
        fix = "Correct the line that produced the first wrong value, then run the program again to check."
        references = ()
    # Nothing recognized: the problem is this program with this error, so unrelated programs do not
    # share one ladder (edits that keep the program's structure keep the key).
    return Finding(
        cause="unknown",
        line=0,
        hints=hints,
        fix=fix,
        key_basis=_program_basis(code, error),
        references=references,
    )


def _program_basis(code: str, error: str) -> str:
    try:
        shape = ast.dump(ast.parse(code), include_attributes=False) if code.strip() else ""
    except (SyntaxError, ValueError, RecursionError):
        shape = " ".join(code.split())
    last = next((line.strip() for line in reversed(error.splitlines()) if line.strip()), "")
    return f"{shape}|{last}"


def _diagnosis(found: Finding) -> Diagnosis:
    return Diagnosis(
        problem_key=problem_key(found.cause, found.exception_type, found.key_basis),
        exception_type=found.exception_type,
        line=found.line,
        cause=found.cause,
        hints=found.hints,
        fix=found.fix,
        fixed_code=found.fixed_code,
        references=found.references,
        fix_code=found.fix_code,
    )
