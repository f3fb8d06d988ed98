"""Code review, offline: what a reviewer would say about a submission, from its syntax tree and tokens
(review_checks.py) and from what happened when the sandbox ran it.

    review(code, run) -> Review(comments, quality, summary)

Comments are "correctness" (the program does, or will do, the wrong thing: it does not compile, it
crashed, it never finished, code that can never run, a shared mutable default it changes) or "style"
(it works but reads worse: unused names, `== None`, `range(len(x))`, shadowed builtins, long lines,
naming, missing docstrings, bare `except:`, `global`). They come sorted by line.

Quality feeds mastery (progress records a review as an observation with this score), so it is simple
and monotone — more problems never raise it:

    quality = 0                       when the code is empty, does not compile, or the sandbox rejected it
    quality = 1 - 0.35 * C - min(0.25, 0.05 * S) + bonus, clamped to [0, 1], rounded to 2 decimals

    C = correctness comments, S = style comments (at most MAX_PER_CHECK per check), bonus = 0.05 when
    the run ended OK and C = 0.

Why these weights: progress calls a topic "familiar" from 0.70. A program without correctness problems
stays at 0.75 or more however untidy it is (style never costs more than 0.25), and a single
correctness problem brings it to 0.65 or less — working code counts as familiar, buggy code does not.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.tutoring.domain.debug_loops import infinite_loop
from services.tutoring.domain.debug_runtime import diagnose_error
from services.tutoring.domain.debug_syntax import diagnose_syntax
from services.tutoring.domain.review_checks import CORRECTNESS, STYLE, Comment, static_comments
from services.tutoring.domain.source import cap, parse, syntax_error
from services.tutoring.domain.tracebacks import ParsedError

__all__ = ["Comment", "Review", "RunResult", "quality", "review"]

CORRECTNESS_PENALTY = 0.35
STYLE_PENALTY = 0.05
STYLE_PENALTY_CAP = 0.25
CLEAN_RUN_BONUS = 0.05
VERDICTS = (
    "ok",
    "runtime_error",
    "timed_out",
    "syntax_error",
    "memory_exceeded",
    "output_exceeded",
    "rejected",
)


@dataclass(frozen=True)
class RunResult:
    """What the sandbox said about a run. `verdict` is one of VERDICTS (the sandbox's upper-case names
    are accepted too); `line` is the failing line of the student's code, 0 when unknown."""

    verdict: str
    exception_type: str = ""
    message: str = ""
    line: int = 0
    stdout: str = ""


@dataclass(frozen=True)
class Review:
    comments: tuple[Comment, ...]
    quality: float  # 0..1, see the module docstring
    summary: str


def review(code: str, run: RunResult | None = None) -> Review:
    code = cap(code)
    verdict = run.verdict.strip().lower() if run is not None else ""
    if not code.strip():
        return Review((), 0.0, "There's no code to review yet.")
    bad = syntax_error(code)
    if bad is not None:
        found = diagnose_syntax(code, type(bad).__name__, bad.msg or "", bad.lineno or 0, bad.offset or 0)
        comment = Comment(
            found.line, CORRECTNESS, f"Python can't read this program: {found.hints[1]}", found.fix
        )
        return Review(
            (comment,), 0.0, f"Python can't read this program yet (line {found.line}): fix that first."
        )
    tree = parse(code)
    comments = static_comments(tree, code) if tree is not None else []
    comments += _run_comments(code, run)
    comments = sorted(set(comments), key=lambda c: (c.line, c.kind != CORRECTNESS, c.message))
    score = 0.0 if verdict in ("rejected", "syntax_error") else quality(comments, clean_run=verdict == "ok")
    return Review(tuple(comments), score, _summary(comments, score))


def quality(comments: list[Comment] | tuple[Comment, ...], *, clean_run: bool = False) -> float:
    correctness = sum(1 for c in comments if c.kind == CORRECTNESS)
    style = sum(1 for c in comments if c.kind == STYLE)
    score = 1.0 - CORRECTNESS_PENALTY * correctness - min(STYLE_PENALTY_CAP, STYLE_PENALTY * style)
    if clean_run and correctness == 0:
        score += CLEAN_RUN_BONUS
    return round(min(1.0, max(0.0, score)), 2)


def _run_comments(code: str, run: RunResult | None) -> list[Comment]:
    if run is None:
        return []
    verdict = run.verdict.strip().lower()
    tree = parse(code)
    if verdict == "runtime_error":
        kind = run.exception_type or "an error"
        error = ParsedError(run.exception_type or "Exception", run.message, run.line, ())
        found = diagnose_error(code, tree, error)
        where = f" on line {found.line}" if found.line else ""
        said = f": {run.message}" if run.message else ""
        return [Comment(found.line, CORRECTNESS, f"The program crashed with {kind}{where}{said}.", found.fix)]
    if verdict == "timed_out":
        loop = infinite_loop(code, tree) if tree is not None else None
        if loop is not None:
            return [
                Comment(
                    loop.line, CORRECTNESS, f"The program didn't finish in time: {loop.hints[1]}", loop.fix
                )
            ]
        return [
            Comment(
                run.line,
                CORRECTNESS,
                "The program didn't finish in time — most likely a loop that never ends (or waits for "
                "input that never comes).",
                "Check that every loop's condition eventually becomes False, and that you call input() "
                "only as many times as there are input lines.",
            )
        ]
    if verdict == "memory_exceeded":
        return [
            Comment(
                run.line,
                CORRECTNESS,
                "The program ran out of memory: something keeps growing — usually a list or string inside "
                "a loop that never ends.",
                "Find the loop that adds to a list or string and make sure it stops.",
            )
        ]
    if verdict == "output_exceeded":
        return [
            Comment(
                run.line,
                CORRECTNESS,
                "The program printed far more than expected — usually a `print` inside a loop that never "
                "ends.",
                "Check the loop around your print() calls: does its condition ever become False?",
            )
        ]
    if verdict == "syntax_error":
        return [
            Comment(
                run.line,
                CORRECTNESS,
                f"The sandbox couldn't compile the program: {run.message}",
                "Fix the syntax error first.",
            )
        ]
    if verdict == "rejected":
        return [
            Comment(
                0,
                CORRECTNESS,
                "The sandbox refused to run this program (it is too large or contains invalid characters).",
                "Submit the program's source text only, under 64 KiB.",
            )
        ]
    return []


def _summary(comments: list[Comment], score: float) -> str:
    correctness = sum(1 for c in comments if c.kind == CORRECTNESS)
    style = len(comments) - correctness
    if not comments:
        return f"No problems found: the code is clean and readable. Quality {score:.2f}."
    parts = []
    if correctness:
        parts.append(f"{correctness} correctness issue{'s' if correctness != 1 else ''}")
    if style:
        parts.append(f"{style} style suggestion{'s' if style != 1 else ''}")
    first = next(c for c in comments if c.kind == CORRECTNESS) if correctness else comments[0]
    where = f"line {first.line}" if first.line else "the program"
    return f"{' and '.join(parts)}; start with {where}: {first.message} Quality {score:.2f}."
