"""The static checks behind a code review: each one reads the syntax tree (or the tokens) of a program
that compiles and returns comments. Correctness comments are about behaviour (the program does the
wrong thing, or will); style comments are about readability and idiom (it works, but reads worse).

Every check reports a pattern at most MAX_PER_CHECK times, so one habit repeated fifty times is one
lesson, not fifty comments.
"""

from __future__ import annotations

import ast
import builtins
import io
import keyword
import re
import tokenize
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from services.tutoring.domain.source import split_lines, unparse

CORRECTNESS = "correctness"
STYLE = "style"
MAX_LINE = 99
MAX_PER_CHECK = 5
LONG_FUNCTION = 5  # lines; longer functions should say what they do

_SNAKE = re.compile(r"^_*([a-z][a-z0-9_]*)?$")
_CONSTANT = re.compile(r"^_*[A-Z][A-Z0-9_]*$")
_CAPWORDS = re.compile(r"^_*[A-Z][A-Za-z0-9]*$")
_MUTATORS = frozenset({"append", "extend", "insert", "remove", "pop", "clear", "sort", "reverse", "update",
                       "add", "discard", "setdefault", "popitem"})  # fmt: skip
# The builtins students shadow by accident (and then cannot call): functions and types, not constants.
_SHADOWABLE = frozenset(
    name
    for name in dir(builtins)
    if not name.startswith("_")
    and name.islower()
    and callable(getattr(builtins, name))
    and name not in ("copyright", "credits", "license", "exit", "quit")
)
_BLOCK_FIELDS = ("body", "orelse", "finalbody")


@dataclass(frozen=True)
class Comment:
    line: int
    kind: str  # "correctness" | "style"
    message: str
    suggestion: str


Check = Callable[[ast.Module, str], Iterator[Comment]]


def static_comments(tree: ast.Module, code: str) -> list[Comment]:
    comments: list[Comment] = []
    for check in CHECKS:
        found = list(check(tree, code))
        comments.extend(found[:MAX_PER_CHECK])
    return comments


def unused_imports(tree: ast.Module, code: str) -> Iterator[Comment]:
    used = _loaded_names(tree) | _dunder_all(tree)
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                name = (alias.asname or alias.name).split(".")[0]
                if alias.name != "*" and name not in used:
                    yield Comment(
                        node.lineno,
                        STYLE,
                        f"`{name}` is imported but never used.",
                        f"Remove the import of `{name}` (or use it): unused imports make readers look for "
                        "code that isn't there.",
                    )


def unused_variables(tree: ast.Module, code: str) -> Iterator[Comment]:
    """Names assigned (or used as a loop variable) in a function, or at module level, and never read in
    that scope (or a scope nested in it). Names starting with `_` are unused on purpose."""
    scopes: list[ast.AST] = [
        tree,
        *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)),
    ]
    for scope in scopes:
        own = _own_statements(scope)
        declared = {name for n in own if isinstance(n, ast.Global | ast.Nonlocal) for name in n.names}
        loaded = _loaded_names(scope)
        if scope is tree:
            loaded |= _dunder_all(tree)
        reported: set[str] = set()
        for node in sorted(own, key=_position):
            targets: list[tuple[ast.expr, bool]] = []
            loop_over = ""
            if isinstance(node, ast.Assign):
                targets = [(t, False) for t in node.targets]
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets = [(node.target, False)]
            elif isinstance(node, ast.For | ast.AsyncFor):
                targets = [(node.target, True)]
                loop_over = unparse(node.iter)
            line = getattr(node, "lineno", 0)
            for target, is_loop in targets:
                if not isinstance(target, ast.Name):
                    continue
                name = target.id
                if name.startswith("_") or name in loaded or name in declared or name in reported:
                    continue
                if scope is tree and (_CONSTANT.match(name) or name == "__all__"):
                    continue
                reported.add(name)
                if is_loop:
                    yield Comment(
                        line,
                        STYLE,
                        f"The loop variable `{name}` is never used inside the loop.",
                        f"Name it `_` to show the value isn't needed: `for _ in {loop_over}:`.",
                    )
                else:
                    yield Comment(
                        line,
                        STYLE,
                        f"`{name}` is assigned on line {line} but its value is never used.",
                        f"Remove the assignment, or use `{name}` where you meant to (a typo in a later "
                        "name?).",
                    )


def mutable_defaults(tree: ast.Module, code: str) -> Iterator[Comment]:
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        positional = fn.args.posonlyargs + fn.args.args
        pairs = list(
            zip(positional[len(positional) - len(fn.args.defaults) :], fn.args.defaults, strict=True)
        )
        pairs += [
            (a, d) for a, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults, strict=True) if d is not None
        ]
        for arg, default in pairs:
            if not _is_mutable_literal(default):
                continue
            mutated = _mutates(fn, arg.arg)
            yield Comment(
                fn.lineno,
                CORRECTNESS if mutated else STYLE,
                f"The default value of `{arg.arg}` in `{fn.name}` is a mutable `{unparse(default)}`: it is "
                "created "
                "once, when the function is defined, and shared by every call"
                + (" — and the function changes it, so calls leak into each other." if mutated else "."),
                f"Use `{arg.arg}=None` and start the function with `if {arg.arg} is None: {arg.arg} = "
                f"{unparse(default)}`.",
            )


def bare_except(tree: ast.Module, code: str) -> Iterator[Comment]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler) and node.type is None:
            yield Comment(
                node.lineno,
                STYLE,
                "A bare `except:` catches every error — including typos in your own code and Ctrl-C — and "
                "hides them.",
                "Catch only the error you expect, e.g. `except ValueError:`.",
            )


def singleton_comparisons(tree: ast.Module, code: str) -> Iterator[Comment]:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        for op, right in zip(node.ops, node.comparators, strict=True):
            if not isinstance(op, ast.Eq | ast.NotEq) or not isinstance(right, ast.Constant):
                continue
            subject = unparse(node.left)
            negated = isinstance(op, ast.NotEq)
            if right.value is None:
                yield Comment(
                    node.lineno,
                    STYLE,
                    f"`{unparse(node)}` compares with None using `{'!=' if negated else '=='}`.",
                    f"Use `{subject} is {'not ' if negated else ''}None`: None is a single object, and "
                    "`is` checks for exactly it.",
                )
            elif isinstance(right.value, bool):
                truthy = right.value != negated
                yield Comment(
                    node.lineno,
                    STYLE,
                    f"`{unparse(node)}` compares with `{right.value}`; the comparison is redundant.",
                    f"Write `{'' if truthy else 'not '}{subject}` directly, e.g. `if "
                    f"{'' if truthy else 'not '}{subject}:`.",
                )


def range_len_loops(tree: ast.Module, code: str) -> Iterator[Comment]:
    for node in ast.walk(tree):
        if not (isinstance(node, ast.For) and isinstance(node.target, ast.Name)):
            continue
        call = node.iter
        if not (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
            and call.func.id == "range"
            and len(call.args) == 1
            and isinstance(call.args[0], ast.Call)
            and isinstance(call.args[0].func, ast.Name)
            and call.args[0].func.id == "len"
            and len(call.args[0].args) == 1
        ):
            continue
        seq, index = unparse(call.args[0].args[0]), node.target.id
        uses = [
            n for n in ast.walk(node) if isinstance(n, ast.Name) and n.id == index and n is not node.target
        ]
        indexed = [
            n
            for n in ast.walk(node)
            if isinstance(n, ast.Subscript) and unparse(n.value) == seq and unparse(n.slice) == index
        ]
        if not indexed:
            continue
        only_items = len(uses) == len(indexed)
        better = f"for item in {seq}:" if only_items else f"for {index}, item in enumerate({seq}):"
        yield Comment(
            node.lineno,
            STYLE,
            f"`for {index} in range(len({seq}))` walks the indexes only to read `{seq}[{index}]`.",
            f"Loop over the items directly: `{better}`"
            + ("" if only_items else " gives you both the index and the item."),
        )


def shadowed_builtins(tree: ast.Module, code: str) -> Iterator[Comment]:
    seen: set[str] = set()
    for node in sorted(ast.walk(tree), key=_position):
        names: list[str] = []
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names = [node.id]
        elif isinstance(node, ast.arg):
            names = [node.arg]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names = [node.name]
        for name in names:
            if name in _SHADOWABLE and name not in seen:
                seen.add(name)
                yield Comment(
                    getattr(node, "lineno", 0),
                    STYLE,
                    f"`{name}` is the name of a Python built-in; using it for your own value hides "
                    f"`{name}()` for the rest of its scope.",
                    f"Choose a more specific name, like `{name}_{'value' if name != 'list' else 'items'}` "
                    "or one that says what it holds.",
                )


def naming(tree: ast.Module, code: str) -> Iterator[Comment]:
    seen: set[str] = set()
    module_level = {id(t) for stmt in tree.body for t in ast.walk(stmt) if isinstance(stmt, ast.Assign)}
    for node in sorted(ast.walk(tree), key=_position):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not _SNAKE.match(node.name):
            if node.name.startswith("__") and node.name.endswith("__"):
                continue
            yield _naming_comment(node.lineno, "function", node.name)
        elif isinstance(node, ast.ClassDef) and not _CAPWORDS.match(node.name):
            yield Comment(
                node.lineno,
                STYLE,
                f"The class name `{node.name}` isn't in CapWords style.",
                f"Name classes like `{_cap_words(node.name)}` (PEP 8).",
            )
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id not in seen:
            if _SNAKE.match(node.id) or (id(node) in module_level and _CONSTANT.match(node.id)):
                continue
            seen.add(node.id)
            yield _naming_comment(node.lineno, "variable", node.id)


def missing_docstrings(tree: ast.Module, code: str) -> Iterator[Comment]:
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) and ast.get_docstring(fn) is None:
            length = (fn.end_lineno or fn.lineno) - fn.lineno + 1
            if length > LONG_FUNCTION:
                yield Comment(
                    fn.lineno,
                    STYLE,
                    f"`{fn.name}` is {length} lines long and has no docstring.",
                    f"Add a one-line docstring under the `def` saying what `{fn.name}` does and returns, "
                    'e.g. """Return ...""".',
                )


def unreachable_code(tree: ast.Module, code: str) -> Iterator[Comment]:
    for node in ast.walk(tree):
        blocks = [getattr(node, field, None) for field in _BLOCK_FIELDS]
        if isinstance(node, ast.Try):
            blocks += [h.body for h in node.handlers]
        for block in blocks:
            if not isinstance(block, list):
                continue
            for i, stmt in enumerate(block[:-1]):
                if isinstance(stmt, ast.Return | ast.Raise | ast.Break | ast.Continue):
                    after = block[i + 1]
                    word = type(stmt).__name__.lower()
                    yield Comment(
                        after.lineno,
                        CORRECTNESS,
                        f"Line {after.lineno} can never run: it comes right after a `{word}` on line "
                        f"{stmt.lineno} in the same block.",
                        f"Move the code before the `{word}` if it should run, or delete it.",
                    )
                    break


def global_statements(tree: ast.Module, code: str) -> Iterator[Comment]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            names = ", ".join(f"`{n}`" for n in node.names)
            yield Comment(
                node.lineno,
                STYLE,
                f"`global {', '.join(node.names)}` lets this function change {names} for the whole "
                "program, which makes it hard to follow.",
                "Pass the value in as an argument and `return` the new value instead.",
            )


def token_checks(tree: ast.Module, code: str) -> Iterator[Comment]:
    """Long lines and several statements on one line: about how the code is written, so read from tokens."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return
    for row, text in enumerate(split_lines(code), start=1):
        if len(text) > MAX_LINE:
            yield Comment(
                row,
                STYLE,
                f"Line {row} is {len(text)} characters long (more than {MAX_LINE}).",
                "Split it: put parts of the expression in well-named variables, or break it inside brackets.",
            )
    for token in tokens:
        if token.type == tokenize.OP and token.string == ";":
            yield Comment(
                token.start[0],
                STYLE,
                f"Line {token.start[0]} puts several statements on one line with `;`.",
                "Write one statement per line.",
            )


CHECKS: tuple[Check, ...] = (
    unused_imports,
    unused_variables,
    mutable_defaults,
    bare_except,
    singleton_comparisons,
    range_len_loops,
    shadowed_builtins,
    naming,
    missing_docstrings,
    unreachable_code,
    global_statements,
    token_checks,
)


def _naming_comment(line: int, what: str, name: str) -> Comment:
    return Comment(
        line,
        STYLE,
        f"The {what} name `{name}` isn't in snake_case.",
        f"Python names {what}s in lowercase with underscores: `{_snake(name)}` (PEP 8).",
    )


def _snake(name: str) -> str:
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    return snake + "_" if keyword.iskeyword(snake) else snake


def _cap_words(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part) or name


def _loaded_names(scope: ast.AST) -> set[str]:
    """Names read anywhere in `scope` (nested scopes included: a closure reads its parent's names)."""
    loaded = {n.id for n in ast.walk(scope) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    # `x += 1` reads x too.
    loaded |= {
        n.target.id
        for n in ast.walk(scope)
        if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name)
    }
    return loaded


def _dunder_all(tree: ast.Module) -> set[str]:
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
            and isinstance(node.value, ast.List | ast.Tuple)
        ):
            return {
                e.value for e in node.value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
            }
    return set()


def _own_statements(scope: ast.AST) -> list[ast.AST]:
    """The nodes of a scope without those of the functions and classes nested in it."""
    nodes: list[ast.AST] = []
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        nodes.append(node)
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))
    return nodes


def _is_mutable_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.List | ast.Dict | ast.Set | ast.ListComp | ast.DictComp | ast.SetComp):
        return True
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("list", "dict", "set")
    )


def _mutates(fn: ast.AST, name: str) -> bool:
    for node in ast.walk(fn):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _MUTATORS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == name
        ):
            return True
        if (
            isinstance(node, ast.Subscript | ast.Attribute)
            and isinstance(node.ctx, ast.Store | ast.Del)
            and isinstance(node.value, ast.Name)
            and node.value.id == name
        ):
            return True
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            return True
    return False


def _position(node: ast.AST) -> tuple[int, int]:
    return getattr(node, "lineno", 0), getattr(node, "col_offset", 0)
