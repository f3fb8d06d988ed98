"""Does a hint give the solution away? A guard for model-written text in hint mode.

    leaked_code(text, solution, min_tokens=6) -> bool
    strip_code(text) -> str

Both sides are compared as token sequences, so spacing, quote style and line breaks don't hide a copy.
`solution` is what must stay secret — usually the changed lines of the fix (Diagnosis.fix_code) or a
reference solution; it is tokenized with `tokenize` (falling back to a regex for fragments that don't
tokenize); `text` is prose with code in it, so it is always tokenized with a regex that splits the
same way (names, numbers, strings, operators).

The text leaks the solution when it contains:

    a line of the solution with at least `min_tokens` tokens (`total = total + price`), anywhere in the
    text — in a code block, in backticks or inline;
    a run of at least LONG_RUN (8) consecutive tokens of the solution (parts of two lines, say);
    the whole solution, when the solution is a short fix (fewer than `min_tokens` tokens, such as
    `i += 1`, but at least MIN_SHORT_FIX tokens).

Single names and keywords never count: a hint may say "`i`" or "the `while` loop". Short lines inside
a longer solution (`count = 0`) don't count either; they say nothing the prompt didn't.
"""

from __future__ import annotations

import io
import re
import tokenize

from services.tutoring.domain.source import cap

LONG_RUN = 8
MIN_SHORT_FIX = 3
REPLACEMENT = "(code removed: try writing it yourself)"

_SKIP = frozenset(
    {tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT, tokenize.ENDMARKER}
)
_TOKEN = re.compile(
    r"""(?P<string>(?<![A-Za-z])[rRbBfFuU]{0,2}("[^"\n]*"|'[^'\n]*'))"""
    r"|(?P<number>\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[^\W\d]\w*)"
    r"|(?P<op>\*\*=|//=|>>=|<<=|->|:=|==|!=|<=|>=|\+=|-=|\*=|/=|%=|&=|\|=|\^=|\*\*|//|<<|>>|[-+*/%@&|^~<>=()\[\]{}:;,.])"
)
_FENCE = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n.*?(^[ \t]*\1[ \t]*$|\Z)", re.DOTALL | re.MULTILINE)
_CODE_HINT = re.compile(r"[=(){}\[\]:]|^\s*(def|for|while|if|return|print|import|class)\b")


def leaked_code(text: str, solution: str, *, min_tokens: int = 6) -> bool:
    text, solution = cap(text), cap(solution)
    lines = [tokens for tokens in (_solution_tokens(line) for line in solution.splitlines()) if tokens]
    if not lines:
        return False
    said = _text_tokens(text)
    joined = _joined(said)
    whole = [token for tokens in lines for token in tokens]
    if MIN_SHORT_FIX <= len(whole) < min_tokens and _joined(whole) in joined:
        return True
    if any(len(tokens) >= min_tokens and _joined(tokens) in joined for tokens in lines):
        return True
    return _longest_shared_run_at_least(said, whole, LONG_RUN)


def strip_code(text: str) -> str:
    """`text` with its fenced code blocks (``` or ~~~) and indented code blocks (4 spaces or a tab after
    a blank line, and looking like code) each replaced by REPLACEMENT."""
    text = _FENCE.sub(REPLACEMENT, cap(text))
    out: list[str] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        starts_block = _is_indented(lines[i]) and (i == 0 or not lines[i - 1].strip())
        if starts_block and not _continues_list(out):
            j = i
            while j < len(lines) and (
                _is_indented(lines[j])
                or (not lines[j].strip() and j + 1 < len(lines) and _is_indented(lines[j + 1]))
            ):
                j += 1
            block = lines[i:j]
            if any(_CODE_HINT.search(line) for line in block):
                out.append(REPLACEMENT)
                i = j
                continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)


def _solution_tokens(line: str) -> list[str]:
    """The tokens of one line of the solution, by `tokenize` (strings normalised to one quote style)."""
    try:
        tokens = [
            _normal(t.string, t.type == tokenize.STRING)
            for t in tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline)
            if t.type not in _SKIP
        ]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return _text_tokens(line)
    return tokens


def _text_tokens(text: str) -> list[str]:
    return [_normal(m.group(0), m.group("string") is not None) for m in _TOKEN.finditer(text)]


def _normal(token: str, is_string: bool) -> str:
    if is_string:
        body = token.lstrip("rRbBfFuU")
        if len(body) >= 2 and body[0] == body[-1] and body[0] in "'\"":
            return token[: len(token) - len(body)].lower() + '"' + body[1:-1] + '"'
    return token


def _joined(tokens: list[str]) -> str:
    """Tokens as one string with separators at both ends, so `in` matches whole tokens only."""
    return "\x00" + "\x00".join(tokens) + "\x00"


def _longest_shared_run_at_least(a: list[str], b: list[str], size: int) -> bool:
    if len(a) < size or len(b) < size:
        return False
    grams = {tuple(b[i : i + size]) for i in range(len(b) - size + 1)}
    return any(tuple(a[i : i + size]) in grams for i in range(len(a) - size + 1))


def _is_indented(line: str) -> bool:
    return (line.startswith("    ") or line.startswith("\t")) and bool(line.strip())


def _continues_list(previous: list[str]) -> bool:
    """Whether the paragraph before the blank line is a list item (its indented lines continue it)."""
    for line in reversed(previous):
        if line.strip():
            return bool(re.match(r"^\s*([-*+]|\d+[.)])\s", line))
    return False
