"""What one of the debug checks found, before debug.py turns it into a Diagnosis with a problem key.

A finding carries the hint ladder (rung 1: where to look; rung 2: what is wrong; rung 3 `fix`: how to
fix it) and `key_basis`: the part of the program that makes it "this problem" for the student — the
misspelled name, the loop's condition, the divisor — rather than a line number, which moves as soon as
the student edits a line above it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from services.tutoring.domain.source import line_at, split_lines


@dataclass(frozen=True)
class Finding:
    cause: str
    line: int
    hints: tuple[str, str]
    fix: str
    key_basis: str
    exception_type: str = ""
    fix_code: str = ""  # the corrected line(s) the fix shows, "" when it shows none
    fixed_code: str = ""  # the whole corrected program, "" when it cannot be derived
    references: tuple[str, ...] = ()


def quoted(code: str, line: int) -> str:
    """`line 3 (`total = totl + 1`)`, or `line 3` when the line is blank or unknown."""
    if line <= 0:
        return "the line where it fails"
    text = line_at(code, line).strip()
    return f"line {line} (`{text}`)" if text else f"line {line}"


def char_offset(line: str, byte_offset: int) -> int:
    """`ast` counts columns in UTF-8 bytes; strings count characters."""
    return len(line.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore"))


def replace_node(code: str, node: ast.AST, new_source: str) -> str | None:
    """`code` with the source of a one-line `node` replaced by `new_source`; None for multi-line nodes."""
    lineno = getattr(node, "lineno", 0)
    if not lineno or getattr(node, "end_lineno", None) != lineno:
        return None
    lines = split_lines(code)
    if lineno > len(lines):
        return None
    text = lines[lineno - 1]
    start = char_offset(text, getattr(node, "col_offset", 0))
    end = char_offset(text, getattr(node, "end_col_offset", 0) or 0)
    lines[lineno - 1] = text[:start] + new_source + text[end:]
    return "\n".join(lines)


def segment(code: str, node: ast.AST) -> str:
    """The student's own spelling of `node` (their quotes and spacing), or ast's when unavailable."""
    try:
        text = ast.get_source_segment(code, node)
    except (ValueError, IndexError):
        text = None
    if text is None or "\n" in text:
        try:
            return ast.unparse(node)
        except (RecursionError, ValueError, AttributeError):
            return ""
    return text
