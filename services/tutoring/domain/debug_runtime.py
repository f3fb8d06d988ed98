"""Findings for a program that raised an exception: read the exception, then find its cause in the code.

Each check gets the parsed error and, when the program compiles, its syntax tree; it names the construct
on the failing line (the division, the subscript, the `+`) and derives a corrected program where one
change clearly fixes it. debug.py calls the same checks with an error it predicts from the code
alone (a name that is never defined will raise NameError), so a problem found before the program runs
and after it fails gets the same problem key.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import replace
from difflib import get_close_matches

from services.tutoring.domain.debug_loops import recursion_finding
from services.tutoring.domain.findings import Finding, char_offset, quoted, replace_node, segment
from services.tutoring.domain.source import (
    BUILTIN_NAMES,
    bound_names,
    indentation,
    line_at,
    nodes_on_line,
    replace_line,
    split_lines,
    squash,
    syntax_error,
    unparse,
)
from services.tutoring.domain.tracebacks import ParsedError

# Methods that change their object in place and return None: `x = x.sort()` leaves x as None.
IN_PLACE_METHODS = frozenset(
    {"sort", "append", "extend", "reverse", "insert", "remove", "clear", "update", "add", "discard"}
)

# What an exception means, for the generic ladder (any exception without a specific check).
EXCEPTION_MEANINGS = {
    "ValueError": "a function got a value of the right type but an unsuitable value (like int('abc'))",
    "TypeError": "an operation was used with a type of value it doesn't work with",
    "AttributeError": "you asked a value for an attribute or method it doesn't have",
    "IndexError": "a position was used that doesn't exist in the sequence",
    "KeyError": "a dictionary was asked for a key it doesn't contain",
    "NameError": "a name was used that has no value yet",
    "ZeroDivisionError": "a number was divided by zero",
    "RecursionError": "a function called itself too many times without stopping",
    "ModuleNotFoundError": "the module you import doesn't exist (or isn't installed)",
    "ImportError": "the name you import doesn't exist in that module",
    "FileNotFoundError": "the file you open doesn't exist at that path",
    "UnboundLocalError": "a local variable was read before it was given a value",
    "OverflowError": "a number grew too large for the operation",
    "MemoryError": "the program used more memory than it is allowed",
    "EOFError": "input() was called but there was no more input to read",
}


def diagnose_error(code: str, tree: ast.Module | None, error: ParsedError) -> Finding:
    if error.line == 0 and tree is not None:
        error = replace(error, line=_locate(tree, error))
    check = _CHECKS.get(error.exception_type)
    found = check(code, tree, error) if check else None
    if found is None and "NoneType" in error.message:
        found = _none_value(code, tree, error)
    if found is None and error.exception_type in ("TypeError",):
        found = _str_int_mismatch(code, tree, error)
    return found or generic_error(code, error)


def generic_error(code: str, error: ParsedError) -> Finding:
    kind = error.exception_type
    meaning = EXCEPTION_MEANINGS.get(kind, "something went wrong while the program ran")
    says = f" Python's own words: “{kind}: {error.message}”." if error.message else ""
    return Finding(
        cause="unknown",
        line=error.line,
        hints=(
            f"Python stops with {kind} on {quoted(code, error.line)}. "
            "Look at every value used there: which one isn't what you expected?",
            f"{kind} means {meaning}.{says}",
        ),
        fix=(
            f"Print the values used on line {error.line or 'that fails'} just before it runs, find the one "
            "that is wrong, then change the code that produces it."
        ),
        key_basis=f"{error.message}:{squash(line_at(code, error.line))}",
        exception_type=kind,
        references=("exceptions",),
    )


def _locate(tree: ast.Module, error: ParsedError) -> int:
    """The line an error without a traceback most likely comes from ("ZeroDivisionError: division by
    zero" pasted alone): the first construct that can raise it; 0 when there is none."""
    kind, message = error.exception_type, error.message

    def wanted(node: ast.AST) -> bool:
        if kind == "ZeroDivisionError":
            return (
                isinstance(node, ast.BinOp)
                and isinstance(node.op, ast.Div | ast.FloorDiv | ast.Mod)
                and not (isinstance(node.right, ast.Constant) and node.right.value)
            )
        if kind == "KeyError":
            return (
                isinstance(node, ast.Subscript)
                and isinstance(node.ctx, ast.Load)
                and unparse(node.slice) == message
            )
        if kind == "IndexError":
            return isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
        if kind == "AttributeError":
            missing = _NONE_ATTRIBUTE.search(message)
            return isinstance(node, ast.Attribute) and missing is not None and node.attr == missing["attr"]
        if kind == "TypeError":
            return isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add)
        if kind in ("NameError", "UnboundLocalError"):
            named = _UNDEFINED.search(message) or _UNBOUND.search(message)
            return isinstance(node, ast.Name) and named is not None and node.id == named["name"]
        return False

    found = sorted((n for n in ast.walk(tree) if wanted(n)), key=_position)
    if kind == "KeyError" and not found:
        found = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Subscript)), key=_position)
    return getattr(found[0], "lineno", 0) if found else 0


# --- NameError -------------------------------------------------------------------------------------


_UNDEFINED = re.compile(r"name '(?P<name>\w+)' is not defined")
_UNBOUND = re.compile(r"(?:local variable|cannot access local variable) '(?P<name>\w+)'")


def _name_error(code: str, tree: ast.Module | None, error: ParsedError) -> Finding | None:
    unbound = _UNBOUND.search(error.message)
    if unbound:
        return _unbound_local(code, error, unbound["name"])
    match = _UNDEFINED.search(error.message)
    if not match:
        return None
    name = match["name"]
    line = error.line or _first_load_line(tree, name)
    defined = bound_names(tree) if tree else set()
    candidates = sorted((defined | BUILTIN_NAMES) - {name})
    candidates = [c for c in candidates if not c.startswith("__")]
    close = get_close_matches(name, candidates, n=1, cutoff=0.75)
    where = quoted(code, line)
    refs = ("naming", "identifiers")
    if not close:
        return Finding(
            cause="undefined-name",
            line=line,
            hints=(
                f"Python can't run {where}. For each name on that line, find the place where your "
                "program gives it a value.",
                f"`{name}` never gets a value before line {line}, and it isn't one of Python's built-in "
                "names. If you meant it as text, text needs quotes around it.",
            ),
            fix=(
                f"Give `{name}` a value before line {line} (for example `{name} = ...` with the value you "
                f"need), check whether you meant another variable, or put it in quotes if it is text."
            ),
            key_basis=name,
            exception_type=error.exception_type,
            references=refs,
        )
    suggestion = close[0]
    fixed_code = _rename(code, tree, name, suggestion) if tree else ""
    fix_line = line_at(fixed_code, line).strip() if fixed_code else ""
    fix = f"Change `{name}` to `{suggestion}`"
    fix += f": `{fix_line}`." if fix_line else "."
    return Finding(
        cause="name-typo",
        line=line,
        hints=(
            f"Python can't run {where}. Compare the spelling of each name on that line with the names "
            "you defined (and Python's built-in ones).",
            f"`{name}` isn't defined anywhere: it's a misspelling of a name that does exist, so Python "
            "doesn't know what it means.",
        ),
        fix=fix,
        key_basis=f"{name}->{suggestion}",
        exception_type=error.exception_type,
        fix_code=fix_line,
        fixed_code=fixed_code,
        references=refs,
    )


def _unbound_local(code: str, error: ParsedError, name: str) -> Finding:
    return Finding(
        cause="unbound-local",
        line=error.line,
        hints=(
            f"Python stops on {quoted(code, error.line)}. Look at where `{name}` gets its value, and "
            "whether that happens inside the same function.",
            f"Because the function assigns to `{name}`, Python treats `{name}` as a local variable of "
            f"that function everywhere in it — and line {error.line} reads it before the function has "
            "assigned it.",
        ),
        fix=(
            f"Pass `{name}` into the function as a parameter (and return the new value), or give the "
            f"local `{name}` a value before line {error.line}."
        ),
        key_basis=name,
        exception_type=error.exception_type,
        references=("naming", "global"),
    )


def _first_load_line(tree: ast.Module | None, name: str) -> int:
    if tree is None:
        return 0
    lines = [
        n.lineno
        for n in ast.walk(tree)
        if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)
    ]
    return min(lines, default=0)


def _rename(code: str, tree: ast.Module, old: str, new: str) -> str:
    """`code` with every use of the name `old` spelled `new` (names only: strings and comments keep
    theirs), or "" when the result does not compile."""
    uses = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == old]
    lines = split_lines(code)
    # Right to left within a line, so earlier offsets stay valid.
    for node in sorted(uses, key=lambda n: (n.lineno, n.col_offset), reverse=True):
        if not 0 < node.lineno <= len(lines):
            return ""
        text = lines[node.lineno - 1]
        start = char_offset(text, node.col_offset)
        lines[node.lineno - 1] = text[:start] + new + text[start + len(old) :]
    renamed = "\n".join(lines)
    return renamed if syntax_error(renamed) is None else ""


# --- ZeroDivisionError -----------------------------------------------------------------------------


def _zero_division(code: str, tree: ast.Module | None, error: ParsedError) -> Finding | None:
    division = _first(
        tree,
        error.line,
        lambda n: isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div | ast.FloorDiv | ast.Mod),
    )
    divisor = unparse(division.right) if isinstance(division, ast.BinOp) else ""
    where = quoted(code, error.line)
    if divisor:
        operator = {ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%"}[type(division.op)]  # type: ignore[union-attr]
        hint1 = (
            f"Look at the `{operator}` on {where}. What is the value of `{divisor}` at the moment that "
            "line runs?"
        )
        hint2 = (
            f"`{divisor}` is 0 when line {error.line} runs, and dividing by zero has no answer, so Python "
            "raises ZeroDivisionError."
        )
        if divisor.startswith("len("):
            hint2 += " A length of 0 means the collection is empty."
        guard = f"if {divisor} != 0:"
        fix = (
            f"Make sure you never divide by zero: put the division under `{guard}` and decide what your "
            "program should do in the other case (print a message, or use 0 as the result)."
        )
    else:
        hint1 = f"Look at the division on {where}. What value are you dividing by?"
        hint2 = "The number you divide by is 0 when that line runs, and dividing by zero has no answer."
        guard = ""
        fix = "Check that the divisor isn't 0 before dividing, and handle that case separately."
    return Finding(
        cause="zero-division",
        line=error.line,
        hints=(hint1, hint2),
        fix=fix,
        key_basis=divisor or squash(line_at(code, error.line)),
        exception_type=error.exception_type,
        fix_code=guard,
        references=("binary",),
    )


# --- IndexError ------------------------------------------------------------------------------------


def _index_error(code: str, tree: ast.Module | None, error: ParsedError) -> Finding | None:
    if tree is not None:
        for check in (_range_past_end, _while_past_end, _index_len):
            found = check(code, tree, error)
            if found is not None:
                return found
    subscript = _first(tree, error.line, lambda n: isinstance(n, ast.Subscript))
    target = unparse(subscript.value) if isinstance(subscript, ast.Subscript) else ""
    seq = f"`{target}`" if target else "the sequence"
    return Finding(
        cause="index-out-of-range",
        line=error.line,
        hints=(
            f"Look at the square brackets on {quoted(code, error.line)}. Which position are you asking "
            f"for, and how long is {seq} at that moment?",
            f"The position you ask {seq} for doesn't exist: valid positions go from 0 to the length minus "
            "1 (and an empty sequence has none).",
        ),
        fix=(
            f"Make the index stay below `len({target or 'seq'})`, or check the length first "
            f"(`if index < len({target or 'seq'}):`)."
        ),
        key_basis=target or squash(line_at(code, error.line)),
        exception_type=error.exception_type,
        references=("typesseq", "subscriptions"),
    )


def _len_plus(node: ast.AST) -> tuple[str, int] | None:
    """('nums', 1) for `len(nums) + 1`."""
    if (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Add)
        and isinstance(node.left, ast.Call)
        and isinstance(node.left.func, ast.Name)
        and node.left.func.id == "len"
        and len(node.left.args) == 1
        and isinstance(node.right, ast.Constant)
        and isinstance(node.right.value, int)
        and node.right.value > 0
    ):
        return unparse(node.left.args[0]), node.right.value
    return None


def _range_past_end(code: str, tree: ast.Module, error: ParsedError) -> Finding | None:
    """`for i in range(len(nums) + 1): nums[i]`: the last i is len(nums), one past the end."""
    loops = [n for n in ast.walk(tree) if isinstance(n, ast.For) and isinstance(n.target, ast.Name)]
    loops.sort(key=lambda n: (not _encloses(n, error.line), n.lineno))
    for loop in loops:
        call = loop.iter
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "range"):
            continue
        if not 1 <= len(call.args) <= 2 or call.keywords:
            continue
        start = call.args[0] if len(call.args) == 2 else None
        found = _len_plus(call.args[-1])
        if found is None or not isinstance(loop.target, ast.Name):
            continue
        seq, _extra = found
        index = loop.target.id
        if not _indexes(loop, seq, index):
            continue
        stop = call.args[-1]
        assert isinstance(stop, ast.BinOp)
        starts_at_zero = start is None or (isinstance(start, ast.Constant) and start.value == 0)
        fixed_code = replace_node(code, stop, segment(code, stop.left)) if starts_at_zero else None
        if fixed_code is not None and syntax_error(fixed_code) is not None:
            fixed_code = None
        fix_line = line_at(fixed_code, loop.lineno).strip() if fixed_code else ""
        line = error.line or _index_line(loop, seq, index)
        return Finding(
            cause="off-by-one-range",
            line=line,
            hints=(
                f"The trouble shows on {quoted(code, line)}. Look at the `for` loop on "
                f"line {loop.lineno}: which value does `{index}` have on the loop's very last pass?",
                f"`{unparse(call)}` goes one step too far: its last value is `len({seq})`, but the last "
                f"valid index of `{seq}` is `len({seq}) - 1`, so the final `{seq}[{index}]` asks for a "
                "position that doesn't exist.",
            ),
            fix=(
                f"Loop over `range(len({seq}))` instead: "
                + (f"`{fix_line}`." if fix_line else f"`{index}` then stops at the last valid index.")
                + f" (Or loop over the items directly: `for item in {seq}:`.)"
            ),
            key_basis=f"{seq}:{index}",
            exception_type="IndexError",
            fix_code=fix_line,
            fixed_code=fixed_code or "",
            references=("for", "typesseq"),
        )
    return None


def _while_past_end(code: str, tree: ast.Module, error: ParsedError) -> Finding | None:
    """`while i <= len(nums): nums[i]`: same mistake as range(len(nums) + 1)."""
    for loop in sorted((n for n in ast.walk(tree) if isinstance(n, ast.While)), key=lambda n: n.lineno):
        test = loop.test
        if not (
            isinstance(test, ast.Compare)
            and len(test.ops) == 1
            and isinstance(test.ops[0], ast.LtE)
            and isinstance(test.left, ast.Name)
        ):
            continue
        bound = test.comparators[0]
        if not (isinstance(bound, ast.Call) and isinstance(bound.func, ast.Name) and bound.func.id == "len"):
            continue
        if len(bound.args) != 1:
            continue
        seq, index = unparse(bound.args[0]), test.left.id
        if not _indexes(loop, seq, index):
            continue
        fixed_test = f"{segment(code, test.left)} < {segment(code, bound)}"
        fixed_code = replace_node(code, test, fixed_test)
        if fixed_code is not None and syntax_error(fixed_code) is not None:
            fixed_code = None
        fix_line = line_at(fixed_code, loop.lineno).strip() if fixed_code else ""
        line = error.line or _index_line(loop, seq, index)
        return Finding(
            cause="off-by-one-range",
            line=line,
            hints=(
                f"The trouble shows on {quoted(code, line)}. Look at the condition of the "
                f"`while` loop on line {loop.lineno}: what is `{index}` on the last pass?",
                f"`{unparse(test)}` lets `{index}` reach `len({seq})`, one past the last valid index "
                f"(`len({seq}) - 1`), so `{seq}[{index}]` asks for a position that doesn't exist.",
            ),
            fix=f"Use `<` instead of `<=` in the condition: `{fix_line or fixed_test}`.",
            key_basis=f"{seq}:{index}",
            exception_type="IndexError",
            fix_code=fix_line,
            fixed_code=fixed_code or "",
            references=("while", "typesseq"),
        )
    return None


def _index_len(code: str, tree: ast.Module, error: ParsedError) -> Finding | None:
    """`nums[len(nums)]`: the last item is at len(nums) - 1 (or -1)."""
    for node in sorted((n for n in ast.walk(tree) if isinstance(n, ast.Subscript)), key=_position):
        index = node.slice
        if not (
            isinstance(index, ast.Call)
            and isinstance(index.func, ast.Name)
            and index.func.id == "len"
            and len(index.args) == 1
            and unparse(index.args[0]) == unparse(node.value)
        ):
            continue
        if error.line and node.lineno != error.line:
            continue
        seq = unparse(node.value)
        fixed = f"{seq}[-1]"
        fixed_code = replace_node(code, node.slice, "-1")
        if fixed_code is not None and syntax_error(fixed_code) is not None:
            fixed_code = None
        fix_line = line_at(fixed_code, node.lineno).strip() if fixed_code else ""
        return Finding(
            cause="index-out-of-range",
            line=node.lineno,
            hints=(
                f"Look at {quoted(code, node.lineno)}: which position of `{seq}` does it ask for?",
                f"Positions start at 0, so the last item of `{seq}` is at `len({seq}) - 1`; position "
                f"`len({seq})` is one past the end.",
            ),
            fix=f"Ask for the last item with `{fixed}` (or `len({seq}) - 1`): `{fix_line or fixed}`.",
            key_basis=f"{seq}[len]",
            exception_type="IndexError",
            fix_code=fix_line,
            fixed_code=fixed_code or "",
            references=("typesseq", "subscriptions"),
        )
    return None


def _index_line(loop: ast.AST, seq: str, index: str) -> int:
    lines = [
        n.lineno
        for n in ast.walk(loop)
        if isinstance(n, ast.Subscript) and unparse(n.value) == seq and unparse(n.slice) == index
    ]
    return min(lines, default=getattr(loop, "lineno", 0))


def _indexes(loop: ast.AST, seq: str, index: str) -> bool:
    """Whether the loop's body reads `seq[index]` (or `seq[index]` on either side of an assignment)."""
    return any(
        isinstance(n, ast.Subscript) and unparse(n.value) == seq and unparse(n.slice) == index
        for n in ast.walk(loop)
    )


# --- KeyError --------------------------------------------------------------------------------------


def _key_error(code: str, tree: ast.Module | None, error: ParsedError) -> Finding | None:
    key = error.message or "that key"
    lookup = _first(tree, error.line, lambda n: isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Load))
    mapping = unparse(lookup.value) if isinstance(lookup, ast.Subscript) else ""
    key_source = unparse(lookup.slice) if isinstance(lookup, ast.Subscript) else key
    fix_code, fixed_code, fix = "", "", ""
    spelled = _similar_key(tree, key) if tree is not None else None
    if (
        spelled is not None
        and isinstance(lookup, ast.Subscript)
        and isinstance(lookup.slice, ast.Constant)
        and isinstance(lookup.slice.value, str)
    ):
        written = segment(code, lookup.slice)
        quote = written[0] if written[:1] in ("'", '"') and written[:1] not in spelled else ""
        fixed_code = (
            replace_node(code, lookup.slice, f"{quote}{spelled}{quote}" if quote else repr(spelled)) or ""
        )
        if fixed_code and syntax_error(fixed_code) is not None:
            fixed_code = ""
        fix_code = line_at(fixed_code, error.line).strip() if fixed_code else ""
        if fix_code:
            fix = f"Spell the key exactly as in the dictionary, {spelled!r}: `{fix_code}`."
    name = f"`{mapping}`" if mapping else "the dictionary"
    if not fix:
        getter = f"{mapping or 'd'}.get({key_source})"
        fix = (
            f"Check first with `if {key_source} in {mapping or 'd'}:`, or use `{getter}`, which gives None "
            "(or a default you pass as a second argument) instead of an error."
        )
        fix_code = getter
    hint2 = (
        f"{name[0].upper()}{name[1:]} has no key {key} when line {error.line} runs — looking up a missing "
        "key with square brackets raises KeyError."
    )
    if spelled is not None:
        hint2 += " Compare its spelling, letter by letter, with the keys you put in the dictionary."
    return Finding(
        cause="key-missing",
        line=error.line,
        hints=(
            f"Look at {quoted(code, error.line)}: it looks a key up in {name}. Which keys does {name} "
            "actually have at that moment?",
            hint2,
        ),
        fix=fix,
        key_basis=f"{mapping}:{key}",
        exception_type=error.exception_type,
        fix_code=fix_code,
        fixed_code=fixed_code,
        references=("typesmapping",),
    )


def _similar_key(tree: ast.Module, message: str) -> str | None:
    """The string key the program uses that the missing key is a misspelling of, if any."""
    if len(message) < 2 or message[0] not in "'\"" or message[-1] != message[0]:
        return None
    missing = message[1:-1]
    keys: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            keys.update(
                k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)
            )
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
        ):
            keys.add(node.slice.value)
    keys.discard(missing)
    close = get_close_matches(missing, sorted(keys), n=1, cutoff=0.75)
    return close[0] if close else None


# --- TypeError: text and numbers -------------------------------------------------------------------

_CONCAT = re.compile(r'can only concatenate str \(not "(?P<other>int|float)"\) to str')
_OPERANDS = re.compile(r"unsupported operand type\(s\) for (?P<op>\S+): '(?P<left>\w+)' and '(?P<right>\w+)'")
_COMPARE = re.compile(r"not supported between instances of '(?P<left>\w+)' and '(?P<right>\w+)'")
_NUMBERS = {"int", "float"}


def _str_int_mismatch(code: str, tree: ast.Module | None, error: ParsedError) -> Finding | None:
    message = error.message
    operands = _OPERANDS.search(message)
    compare = _COMPARE.search(message)
    if _CONCAT.search(message):
        text_side = "left"
    elif operands and {operands["left"], operands["right"]} in ({"str", "int"}, {"str", "float"}):
        text_side = "left" if operands["left"] == "str" else "right"
    elif compare and {compare["left"], compare["right"]} in ({"str", "int"}, {"str", "float"}):
        text_side = "left" if compare["left"] == "str" else "right"
    else:
        return None
    node = _first(tree, error.line, lambda n: isinstance(n, ast.BinOp | ast.Compare))
    where = quoted(code, error.line)
    if node is None or tree is None:
        return _mismatch_finding(code, error, where, "", "", "", "")
    if isinstance(node, ast.Compare):
        left, right = node.left, node.comparators[0]
    elif isinstance(node, ast.BinOp):
        left, right = node.left, node.right
    else:
        return None
    text_node, number_node = (left, right) if text_side == "left" else (right, left)
    text, number = segment(code, text_node), segment(code, number_node)
    is_join = isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and _is_text(text_node)
    from_input = _assigned_from_input(tree, text_node)
    if is_join and from_input is None:
        # "Total: " + total -> "Total: " + str(total)
        fixed_code = replace_node(code, number_node, f"str({number})")
        how = f"turn the number into text with `str({number})`"
        fix_line_no = error.line
    elif from_input is not None:
        # age = input(...) -> age = int(input(...)), where the text comes from
        assign, call = from_input
        fixed_code = replace_node(code, call, f"int({segment(code, call)})")
        how = f"convert what `input()` returns into a number with `int(...)` where you read `{text}`"
        fix_line_no = assign.lineno
    else:
        fixed_code = replace_node(code, text_node, f"int({text})")
        how = f"convert the text into a number with `int({text})`"
        fix_line_no = error.line
    if fixed_code is not None and syntax_error(fixed_code) is not None:
        fixed_code = None
    fix_line = line_at(fixed_code, fix_line_no).strip() if fixed_code else ""
    return _mismatch_finding(
        code, error, where, text, number, how, fix_line, fixed_code or "", from_input is not None
    )


def _mismatch_finding(
    code: str,
    error: ParsedError,
    where: str,
    text: str,
    number: str,
    how: str,
    fix_line: str,
    fixed_code: str = "",
    from_input: bool = False,
) -> Finding:
    if text and number:
        hint2 = (
            f"`{text}` is text (a str) and `{number}` is a number, and Python won't combine the two: it "
            "can't know whether you want to join text or do arithmetic."
        )
    else:
        hint2 = "One side is text (a str) and the other a number, and Python won't combine the two."
    if from_input:
        hint2 += " Remember that `input()` always gives you text, even when the user types digits."
    fix = (f"Make both sides the same type: {how}" if how else "Make both sides the same type") + (
        f": `{fix_line}`." if fix_line else "."
    )
    return Finding(
        cause="type-mismatch-str-int",
        line=error.line,
        hints=(f"Look at {where}. What type of value is on each side of the operator?", hint2),
        fix=fix,
        key_basis=f"{text}|{number}",
        exception_type=error.exception_type,
        fix_code=fix_line,
        fixed_code=fixed_code,
        references=("binary", "strings"),
    )


def _is_text(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.JoinedStr)
        or (isinstance(node, ast.Constant) and isinstance(node.value, str))
        or (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("str", "input")
        )
        or (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and _is_text(node.left))
    )


def _assigned_from_input(tree: ast.Module, node: ast.AST) -> tuple[ast.Assign, ast.Call] | None:
    """For a name whose value comes from `name = input(...)`, that assignment and its call."""
    if not isinstance(node, ast.Name):
        return None
    for stmt in ast.walk(tree):
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id == node.id
            and isinstance(stmt.value, ast.Call)
            and isinstance(stmt.value.func, ast.Name)
            and stmt.value.func.id == "input"
        ):
            return stmt, stmt.value
    return None


# --- None where a value was expected ---------------------------------------------------------------

_NONE_ATTRIBUTE = re.compile(r"'NoneType' object has no attribute '(?P<attr>\w+)'")


def _none_value(code: str, tree: ast.Module | None, error: ParsedError) -> Finding | None:
    if "NoneType" not in error.message or tree is None:
        return None
    used = _first(
        tree,
        error.line,
        lambda n: isinstance(n, ast.Attribute | ast.Subscript) and isinstance(n.value, ast.Name),
    )
    if used is None:
        for_loop = _first(tree, error.line, lambda n: isinstance(n, ast.For) and isinstance(n.iter, ast.Name))
        name = (
            for_loop.iter.id if isinstance(for_loop, ast.For) and isinstance(for_loop.iter, ast.Name) else ""
        )
        use = f"`{name}`" if name else "a value"
    else:
        assert isinstance(used, ast.Attribute | ast.Subscript) and isinstance(used.value, ast.Name)
        name = used.value.id
        use = f"`{unparse(used)}`"
    if not name:
        return None
    source = _none_source(tree, name, error.line)
    where = quoted(code, error.line)
    hint1 = f"Line {error.line} uses {use}: {where}. Where does `{name}` get its value? Follow it back."
    fix_code, fixed_code = "", ""
    if source is None:
        hint2 = (
            f"`{name}` is None when line {error.line} runs — it holds no value at all, so it has no "
            "attributes or items."
        )
        fix = f"Find the line that sets `{name}` and make sure it stores the value you meant, not None."
        basis = name
    else:
        assign, method, owner = source
        if method == "":
            hint2 = (
                f"`{name}` is None there: on line {assign.lineno} you store what `{owner}()` returns, but "
                f"`{owner}` has no `return` with a value, and a function without one returns None."
            )
            fix = f"Add a `return` with the result at the end of `{owner}`, so callers get the value back."
            basis = f"{name}={owner}()"
        else:
            hint2 = (
                f"`{name}` is None there: on line {assign.lineno} you store the result of calling "
                f"`{method}()`. Methods that change a list in place, like `{method}()`, return None."
            )
            indent = indentation(line_at(code, assign.lineno))
            call = unparse(assign.value)
            if owner == name:
                fix_code = call if method != "sort" else f"{name}.sort()"
            elif method == "sort":
                args = (
                    ", ".join(unparse(a) for a in assign.value.args)
                    if isinstance(assign.value, ast.Call)
                    else ""
                )
                fix_code = f"{name} = sorted({owner}{', ' + args if args else ''})"
            else:
                fix_code = f"{call}\n{indent}{name} = {owner}"
            fixed_code = replace_line(code, assign.lineno, indent + fix_code)
            if syntax_error(fixed_code) is not None or assign.lineno != assign.end_lineno:
                fixed_code = ""
            shown = squash(fix_code.replace("\n", "; "))
            fix = f"Don't store the result of `{method}()`: change line {assign.lineno} to `{shown}`."
            if owner == name:
                fix = f"Call `{method}()` on its own line instead of storing its result: `{shown}`."
            basis = f"{name}={method}"
    return Finding(
        cause="none-attribute",
        line=error.line,
        hints=(hint1, hint2),
        fix=fix,
        key_basis=basis,
        exception_type=error.exception_type,
        fix_code=fix_code,
        fixed_code=fixed_code,
        references=("typesseq-mutable", "bltin-null-object"),
    )


def _none_source(tree: ast.Module, name: str, before: int) -> tuple[ast.Assign, str, str] | None:
    """The last `name = owner.method(...)` with an in-place method (method, owner), or `name = f(...)`
    with f a function of the program that returns no value (method "", owner f), before line `before`."""
    returns_nothing = {
        f.name
        for f in ast.walk(tree)
        if isinstance(f, ast.FunctionDef)
        and not any(isinstance(r, ast.Return) and r.value is not None for r in ast.walk(f))
    }
    found: tuple[ast.Assign, str, str] | None = None
    for stmt in sorted((s for s in ast.walk(tree) if isinstance(s, ast.Assign)), key=lambda s: s.lineno):
        if before and stmt.lineno >= before:
            break
        targets = stmt.targets
        if len(targets) != 1 or not isinstance(targets[0], ast.Name) or targets[0].id != name:
            continue
        value = stmt.value
        if not isinstance(value, ast.Call):
            found = None
            continue
        func = value.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr in IN_PLACE_METHODS
            and isinstance(func.value, ast.Name)
        ):
            found = (stmt, func.attr, func.value.id)
        elif isinstance(func, ast.Name) and func.id in returns_nothing:
            found = (stmt, "", func.id)
        else:
            found = None
    return found


# --- shared ----------------------------------------------------------------------------------------


def _position(node: ast.AST) -> tuple[int, int]:
    return getattr(node, "lineno", 0), getattr(node, "col_offset", 0)


def _first(tree: ast.Module | None, line: int, wanted: Callable[[ast.AST], bool]) -> ast.AST | None:
    """The outermost node on `line` that `wanted` accepts (the whole `a + b + c`, not `a + b`)."""
    if tree is None or line <= 0:
        return None
    for node in nodes_on_line(tree, line):
        if wanted(node):
            return node
    return None


def _encloses(node: ast.AST, line: int) -> bool:
    return getattr(node, "lineno", 0) <= line <= (getattr(node, "end_lineno", 0) or 0)


_CHECKS: dict[str, Callable[[str, ast.Module | None, ParsedError], Finding | None]] = {
    "NameError": _name_error,
    "UnboundLocalError": _name_error,
    "ZeroDivisionError": _zero_division,
    "IndexError": _index_error,
    "KeyError": _key_error,
    "TypeError": _str_int_mismatch,
    "AttributeError": _none_value,
    "RecursionError": recursion_finding,
}


def predict_index_error(code: str, tree: ast.Module) -> Finding | None:
    """An index one past the end, visible in the code before it runs (`range(len(xs) + 1)` used to index
    `xs`, `xs[len(xs)]`): the IndexError it will raise, with the same key."""
    predicted = ParsedError("IndexError", "list index out of range", 0, ())
    for check in (_range_past_end, _while_past_end, _index_len):
        found = check(code, tree, predicted)
        if found is not None:
            return found
    return None
