"""Findings for a program Python refuses to read: SyntaxError, IndentationError and TabError.

The compiler's own message says what it expected (3.11 messages: "expected ':'", "'(' was never
closed", "expected an indented block after 'if' statement on line 2", ...); this module turns the common
ones into a hint ladder and tries the one-line repair each suggests. A repair is offered as `fixed_code`
only when the repaired program compiles — a guess that leaves another syntax error is not a fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from services.tutoring.domain.findings import Finding
from services.tutoring.domain.source import (
    indentation,
    line_at,
    replace_line,
    split_lines,
    squash,
    syntax_error,
)

_HEADER_KEYWORDS = {
    "if": "if",
    "elif": "if",
    "else": "if",
    "while": "while",
    "for": "for",
    "def": "function",
    "class": "class",
    "try": "try",
    "except": "try",
    "finally": "try",
    "with": "with",
}
_BLOCK_AFTER = re.compile(r"expected an indented block after (?P<what>.+?) on line (?P<line>\d+)")
_NEVER_CLOSED = re.compile(r"'(?P<bracket>[(\[{])' was never closed")
_UNMATCHED = re.compile(r"unmatched '(?P<bracket>[)\]}])'")
_MISMATCH = re.compile(
    r"closing parenthesis '(?P<closing>[)\]}])' does not match opening parenthesis '(?P<opening>[(\[{])'"
)
_CLOSERS = {"(": ")", "[": "]", "{": "}"}


def diagnose_syntax(code: str, kind: str, message: str, line: int, offset: int = 0) -> Finding:
    """`kind` is SyntaxError, IndentationError or TabError; `offset` the 1-based column, 0 unknown."""
    source = line_at(code, line)
    if kind in ("IndentationError", "TabError"):
        return _indentation(code, kind, message, line)
    if message.startswith("expected ':'") and not _code_part(source).rstrip().endswith(":"):
        return _missing_colon(code, kind, line)
    if "Maybe you meant '==' or ':=' instead of '='" in message:
        return _assignment_in_condition(code, kind, message, line)
    for pattern in (_NEVER_CLOSED, _UNMATCHED, _MISMATCH):
        match = pattern.search(message)
        if match:
            return _brackets(code, kind, message, line, offset, match.groupdict())
    return _other(code, kind, message, line)


def _missing_colon(code: str, kind: str, line: int) -> Finding:
    source = line_at(code, line)
    stripped = source.strip()
    keyword = stripped.split(maxsplit=1)[0].rstrip(":(") if stripped else ""
    topic = _HEADER_KEYWORDS.get(keyword, "compound")
    fixed_line = _append_to_code(source, ":") if stripped else ""
    fixed_code = _compiling(replace_line(code, line, fixed_line)) if stripped else ""
    statement = f"`{keyword}` statement" if keyword in _HEADER_KEYWORDS else "statement"
    return Finding(
        cause="missing-colon",
        line=line,
        hints=(
            f"Python stopped reading your program at line {line}, where your {statement} starts. "
            "Look closely at how that line ends.",
            f"A line that starts a block — `if`, `elif`, `else`, `for`, `while`, `def`, `class`, `try` … — "
            f"must end with a colon, and line {line} doesn't have one.",
        ),
        fix=f"Put a colon at the end of line {line}" + (f": `{fixed_line.strip()}`." if stripped else "."),
        key_basis=squash(_code_part(source)),
        exception_type=kind,
        fix_code=fixed_line.strip(),
        fixed_code=fixed_code,
        references=(topic,),
    )


def _assignment_in_condition(code: str, kind: str, message: str, line: int) -> Finding:
    source = line_at(code, line)
    fixed_line = re.sub(r"(?<![=!<>:+\-*/%&|^])=(?!=)", "==", source, count=1)
    fixed_code = _compiling(replace_line(code, line, fixed_line))
    return Finding(
        cause="assignment-in-condition",
        line=line,
        hints=(
            f"Look at the condition on line {line}. Which operator compares two values?",
            "A single `=` stores a value in a variable; it can't be used to ask whether two values are "
            "equal, so Python refuses the condition.",
        ),
        fix=f"Compare with `==` instead of `=`: `{fixed_line.strip()}`."
        if fixed_code
        else "Compare with `==` instead of `=`.",
        key_basis=squash(source),
        exception_type=kind,
        fix_code=fixed_line.strip() if fixed_code else "",
        fixed_code=fixed_code,
        references=("comparisons",),
    )


def _indentation(code: str, kind: str, message: str, line: int) -> Finding:
    lines = split_lines(code)
    block = _BLOCK_AFTER.search(message)
    candidates: list[str] = []
    if kind == "TabError" or "inconsistent use of tabs" in message:
        hint2 = (
            "Your program mixes tabs and spaces for indentation. They can look the same on screen, but "
            "Python counts them differently, so it can't tell which block the lines belong to."
        )
        fix = "Indent with spaces only — 4 per level — and replace every tab at the start of a line."
        expanded = "\n".join(_expand_tabs(text) for text in lines)
        candidates = [expanded]
        fixed_line_no = line
    elif block:
        header = int(block["line"])
        hint2 = (
            f"The {block['what']} on line {header} starts a block, so the line after it must be indented "
            f"further than line {header} — line {line} isn't."
        )
        if line_at(code, line).strip() == "":
            hint2 = f"The {block['what']} on line {header} starts a block, but no indented line follows it."
        fix = (
            f"Indent line {line} by 4 more spaces than line {header} (and the other lines that belong "
            "inside the block)."
        )
        deeper = indentation(line_at(code, header)) + "    "
        candidates = [replace_line(code, line, deeper + line_at(code, line).lstrip())]
        fixed_line_no = line
    elif "unexpected indent" in message:
        previous = _previous_code_line(lines, line)
        hint2 = (
            f"Line {line} is indented further than the line before it, but nothing above it opens a new "
            "block (a block only starts after a line ending in `:`)."
        )
        fix = (
            f"Move line {line} back so it lines up with the line before it (remove the extra spaces at "
            "its start)."
        )
        candidates = [replace_line(code, line, indentation(previous) + line_at(code, line).lstrip())]
        fixed_line_no = line
    else:  # "unindent does not match any outer indentation level", "unexpected unindent"
        hint2 = (
            f"Line {line}'s indentation doesn't line up with any block above it: when you end a block, "
            "the next line must start exactly where an outer block's lines start."
        )
        fix = f"Give line {line} exactly the same indentation as the block it belongs to."
        candidates = [
            replace_line(code, line, level + line_at(code, line).lstrip())
            for level in _outer_levels(lines, line)
        ]
        fixed_line_no = line
    fixed_code = next((c for c in candidates if syntax_error(c) is None), "")
    fix_line = line_at(fixed_code, fixed_line_no) if fixed_code else ""
    if fix_line:
        fix += f" Like this: `{fix_line.rstrip()}` (note the spaces at the start)."
    return Finding(
        cause="wrong-indentation",
        line=line,
        hints=(
            f"Python stopped reading your program at line {line}. Compare how far that line is indented "
            "with the lines just above it.",
            hint2,
        ),
        fix=fix,
        # Indentation mistakes are one problem wherever they are: the key ignores the line's text.
        key_basis=f"{kind}:{_BLOCK_AFTER.sub('block', message).split(' (')[0]}",
        exception_type=kind,
        # The repaired line with its indentation: the same words as before, so only the spaces are news.
        fix_code=fix_line.rstrip() if fix_line else "",
        fixed_code=fixed_code,
        references=("compound",),
    )


def _brackets(
    code: str, kind: str, message: str, line: int, offset: int, found: dict[str, str | None]
) -> Finding:
    source = line_at(code, line)
    bracket = found.get("bracket") or found.get("closing") or ""
    candidates: list[str] = []
    if found.get("bracket") and bracket in _CLOSERS:  # never closed
        closer = _CLOSERS[bracket]
        hint2 = (
            f"A `{bracket}` opened on line {line} is never closed: every `{bracket}` needs a matching "
            f"`{closer}`."
        )
        fix = f"Add the missing `{closer}` where the bracketed part ends on line {line}."
        body = _code_part(source).rstrip()
        candidates.append(_append_to_code(source, closer))
        if body.endswith(":"):
            candidates.append(source.replace(body, body[:-1] + closer + ":", 1))
    elif found.get("bracket"):  # unmatched closer
        hint2 = f"Line {line} has a `{bracket}` with no opening bracket before it to match."
        fix = f"Remove the extra `{bracket}` on line {line} (or add the opening bracket it belongs to)."
        if offset > 0 and source[offset - 1 : offset] == bracket:
            candidates.append(source[: offset - 1] + source[offset:])
    else:
        opening, closing = found.get("opening") or "", found.get("closing") or ""
        hint2 = (
            f"On line {line} a `{opening}` is closed by a `{closing}`: brackets must be closed by their "
            "own kind."
        )
        fix = f"Close the `{opening}` with `{_CLOSERS.get(opening, '')}` instead of `{closing}`."
        if offset > 0 and source[offset - 1 : offset] == closing:
            candidates.append(source[: offset - 1] + _CLOSERS.get(opening, closing) + source[offset:])
    fixed_code = next(
        (
            c
            for c in (replace_line(code, line, candidate) for candidate in candidates)
            if syntax_error(c) is None
        ),
        "",
    )
    fix_line = line_at(fixed_code, line).strip() if fixed_code else ""
    if fix_line:
        fix += f" Line {line} becomes `{fix_line}`."
    return Finding(
        cause="unbalanced-brackets",
        line=line,
        hints=(
            f"Python stopped reading your program at line {line}. Count the opening and closing "
            "brackets — `(` `)`, `[` `]`, `{` `}` — on that line and pair them up.",
            hint2,
        ),
        fix=fix,
        key_basis=f"{bracket}:{squash(_code_part(source))}",
        exception_type=kind,
        fix_code=fix_line,
        fixed_code=fixed_code,
        references=("calls",) if bracket in "()" else ("lists",) if bracket in "[]" else ("dict",),
    )


def _other(code: str, kind: str, message: str, line: int) -> Finding:
    source = line_at(code, line).strip()
    where = f"line {line} (`{source}`)" if source else f"line {line}" if line else "your program"
    unterminated = "unterminated string literal" in message
    print_call = "Missing parentheses in call to 'print'" in message
    if unterminated:
        hint2 = "A piece of text on that line starts with a quote but never ends with the same quote."
        fix = f"Close the text on line {line} with the same kind of quote it starts with."
    elif print_call:
        hint2 = "In Python 3, `print` is a function: what you print has to go inside round brackets."
        fix = f"Put brackets around what you print on line {line}."
    else:
        hint2 = f"Python's own words: “{message}”. Something on that line doesn't follow Python's grammar."
        fix = (
            f"Compare line {line} with a similar line that works (or with an example from the lesson) "
            "and fix the difference."
        )
    cause = (
        "unterminated-string"
        if unterminated
        else "print-without-parentheses"
        if print_call
        else "syntax-error"
    )
    return Finding(
        cause=cause,
        line=line,
        hints=(
            f"Python couldn't read {where}. Look closely at the punctuation there: brackets, quotes, "
            "colons, commas and operators.",
            hint2,
        ),
        fix=fix,
        key_basis=f"{message}:{squash(source)}",
        exception_type=kind,
        references=("strings",) if unterminated else ("calls",) if print_call else ("compound",),
    )


def _code_part(line: str) -> str:
    """`line` without a trailing comment (a `#` outside quotes)."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#":
            return line[:i]
    return line


def _append_to_code(line: str, text: str) -> str:
    """`line` with `text` added at the end of its code, before any trailing comment."""
    code = _code_part(line)
    comment = line[len(code) :]
    stripped = code.rstrip()
    return stripped + text + (code[len(stripped) :] + comment if comment else "")


def _compiling(code: str) -> str:
    return code if syntax_error(code) is None else ""


def _expand_tabs(text: str) -> str:
    indent = indentation(text)
    return indent.expandtabs(4) + text[len(indent) :]


def _previous_code_line(lines: list[str], line: int) -> str:
    for text in reversed(lines[: max(line - 1, 0)]):
        if text.strip() and not text.lstrip().startswith("#"):
            return text
    return ""


def _outer_levels(lines: list[str], line: int) -> Iterable[str]:
    """Indentations used by earlier lines and narrower than line `line`'s, deepest first."""
    current = len(indentation(lines[line - 1])) if 0 < line <= len(lines) else 0
    levels = {indentation(t) for t in lines[: max(line - 1, 0)] if t.strip()}
    return sorted((lv for lv in levels if len(lv) < current), key=len, reverse=True) + [
        lv for lv in sorted(levels, key=len, reverse=True) if len(lv) >= current
    ]
