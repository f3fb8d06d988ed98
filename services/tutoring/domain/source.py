"""The student's program as text and as a syntax tree: the helpers every offline brain shares.

Lines are numbered the way Python numbers them (1-based; \\n, \\r\\n and \\r end a line), so a line
number from a traceback, from `ast` or from `tokenize` points at the same text here. Nothing here runs
the program: `syntax_error` only compiles it, under a private file name whose compile-time warnings
(`x is 1`, invalid escapes) are silenced so they never reach the service's log.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import re
import warnings

# Inputs are untrusted: 64 KiB of text is far more than any exercise needs, and bounds the work of every
# parser and matcher in the domain (the sandbox rejects programs over 64 KiB for the same reason).
MAX_INPUT_CHARS = 64 * 1024

_COMPILE_NAME = "<learnflow-tutoring-program>"
_COMPILE_WARNINGS = re.escape(_COMPILE_NAME) + r"\Z"
_SILENCE_COMPILE_WARNINGS = ("ignore", None, Warning, re.compile(_COMPILE_WARNINGS), 0)

BUILTIN_NAMES = frozenset(dir(builtins))


def cap(text: str | None) -> str:
    """`text` cut to MAX_INPUT_CHARS ("" for None): the first thing every public function does."""
    if not text:
        return ""
    return text[:MAX_INPUT_CHARS]


def split_lines(code: str) -> list[str]:
    """The program's lines without their line endings; line N is `split_lines(code)[N - 1]`."""
    return code.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def line_at(code: str, line: int) -> str:
    """Line `line` (1-based) of `code` as written (not stripped); "" when out of range."""
    lines = split_lines(code)
    return lines[line - 1] if 0 < line <= len(lines) else ""


def indentation(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def replace_line(code: str, line: int, new: str) -> str:
    """`code` with line `line` replaced by `new` (which may hold several lines); unchanged if out of range."""
    lines = split_lines(code)
    if not 0 < line <= len(lines):
        return code
    lines[line - 1] = new
    return "\n".join(lines)


def insert_after(code: str, line: int, new: str) -> str:
    """`code` with `new` inserted as the line after `line` (0 inserts at the top)."""
    lines = split_lines(code)
    if not 0 <= line <= len(lines):
        return code
    lines.insert(line, new)
    return "\n".join(lines)


def squash(text: str) -> str:
    """Whitespace collapsed to single spaces: two spellings of one line compare equal."""
    return " ".join(text.split())


def short_hash(*parts: str) -> str:
    """A short, stable id for a tuple of strings (not a security boundary: 12 hex digits of SHA-256)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return digest[:12]


def syntax_error(code: str) -> SyntaxError | None:
    """Compile `code` without running it: None when Python accepts it, else the SyntaxError (or its
    subclasses IndentationError and TabError). Null bytes and absurd nesting come back as a SyntaxError
    without a line, so callers have one case to handle."""
    if _SILENCE_COMPILE_WARNINGS not in warnings.filters:
        warnings.filterwarnings("ignore", module=_COMPILE_WARNINGS)
    try:
        compile(code, _COMPILE_NAME, "exec", dont_inherit=True)
    except SyntaxError as e:
        return e
    except (ValueError, RecursionError, MemoryError) as e:
        return SyntaxError(f"Python cannot compile this program ({type(e).__name__})")
    return None


def parse(code: str) -> ast.Module | None:
    """The syntax tree of `code`, or None when it does not compile."""
    if syntax_error(code) is not None:
        return None
    try:
        return ast.parse(code, _COMPILE_NAME)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def unparse(node: ast.AST) -> str:
    """Source for `node`, normalised by `ast` (spacing and quotes), so it is stable under reformatting."""
    try:
        return ast.unparse(node)
    except (RecursionError, ValueError, AttributeError):
        return ""


def bound_names(tree: ast.AST) -> set[str]:
    """Every name the program binds anywhere (assignments, loop and `with` targets, parameters, function,
    class and import names, `except ... as`, comprehension targets, `global` and `nonlocal`): a name
    loaded but in none of these, and not a builtin, is undefined wherever it is used."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            names.update(node.names)
        elif isinstance(node, ast.MatchAs | ast.MatchStar) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
    return names


def has_star_import(tree: ast.AST) -> bool:
    return any(isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names) for n in ast.walk(tree))


def nodes_on_line(tree: ast.AST, line: int) -> list[ast.AST]:
    """The nodes that start on `line`, outermost first (ast.walk is breadth first)."""
    return [n for n in ast.walk(tree) if getattr(n, "lineno", None) == line]
