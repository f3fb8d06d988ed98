"""Programs that never stop: `while` loops that cannot end, and functions that call themselves forever.

Both are found from the code alone, because a program that never ends has no traceback to read (the
sandbox only says it timed out). The checks are conservative — a finding must be certain, not merely
plausible, since the hint ladder states it as fact:

    infinite-loop-no-break              `while True:` (or any constant true condition) whose body has no
                                        `break` for this loop, `return`, `raise` or `exit()`
    infinite-loop-unchanged-condition   a `while` whose condition reads only variables that nothing in
                                        the body can change (no assignment, no method call on them, not
                                        passed to a function), and that calls nothing but pure builtins
    recursion-no-base-case              a function that calls itself with no branch at all (no `if`,
                                        loop, conditional expression, `and`/`or`, `match` or `try`)

A loop whose body may exit, or whose condition calls input() or a method, is left alone.
"""

from __future__ import annotations

import ast

from services.tutoring.domain.findings import Finding, quoted
from services.tutoring.domain.source import indentation, insert_after, line_at, syntax_error, unparse
from services.tutoring.domain.tracebacks import ParsedError

# Calls that cannot change the loop's variables: a condition calling only these still depends only on
# the variables it names (`while len(items) > 0`).
_PURE_CALLS = frozenset(
    {"len", "abs", "min", "max", "int", "float", "str", "bool", "sum", "any", "all", "sorted", "round", "ord",
     "chr", "isinstance", "type", "range", "list", "tuple", "set", "dict"}
)  # fmt: skip
_EXITS = frozenset({"exit", "quit", "_exit"})  # exit(), quit(), sys.exit(), os._exit()
_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_BRANCHES = (ast.If, ast.IfExp, ast.While, ast.For, ast.AsyncFor, ast.BoolOp, ast.Match, ast.Try, ast.Assert)


def infinite_loop(code: str, tree: ast.Module) -> Finding | None:
    """The first `while` loop (in source order) that certainly never ends, if any."""
    functions = {f.name: f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)}
    for loop in sorted((n for n in ast.walk(tree) if isinstance(n, ast.While)), key=lambda n: n.lineno):
        if _can_exit(loop.body):
            continue
        if isinstance(loop.test, ast.Constant):
            if loop.test.value:
                return _no_exit(code, loop)
            continue
        if any(isinstance(n, ast.NamedExpr) for n in ast.walk(loop.test)):
            continue
        calls = [n for n in ast.walk(loop.test) if isinstance(n, ast.Call)]
        if any(not (isinstance(c.func, ast.Name) and c.func.id in _PURE_CALLS) for c in calls):
            continue
        called = {c.func.id for c in calls if isinstance(c.func, ast.Name)}
        names = {
            n.id
            for n in ast.walk(loop.test)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id not in called
        }
        if names and not names & _changed_names(loop, functions):
            return _unchanged_condition(code, loop, names)
    return None


def _can_exit(body: list[ast.stmt]) -> bool:
    """Whether a loop body can leave the loop: a `break` of this loop (not of a loop nested in it), or a
    `return`, `raise` or exit call anywhere in it (outside nested functions and classes)."""

    def visit(node: ast.AST, in_inner_loop: bool) -> bool:
        if isinstance(node, _NESTED_SCOPES):
            return False
        if isinstance(node, ast.Break) and not in_inner_loop:
            return True
        if isinstance(node, ast.Return | ast.Raise):
            return True
        if isinstance(node, ast.Call):
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            if name in _EXITS:
                return True
        inner = in_inner_loop or isinstance(node, ast.For | ast.While | ast.AsyncFor)
        return any(visit(child, inner) for child in ast.iter_child_nodes(node))

    return any(visit(stmt, False) for stmt in body)


def _changed_names(loop: ast.While, functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef]) -> set[str]:
    """Names the loop's body may change: assigned, deleted, used as a loop target, mutated through a
    method call or an item/attribute assignment, passed to a function, or declared `global` in a function
    the body calls."""
    changed: set[str] = set()
    for node in ast.walk(loop):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            changed.add(node.id)
        elif isinstance(node, ast.Subscript | ast.Attribute) and isinstance(node.ctx, ast.Store | ast.Del):
            changed.update(_root_names(node))
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute):
                changed.update(_root_names(node.func.value))
            is_pure = isinstance(node.func, ast.Name) and node.func.id in _PURE_CALLS | {"print"}
            if not is_pure:
                for arg in [*node.args, *(k.value for k in node.keywords)]:
                    changed.update(_root_names(arg))
            if isinstance(node.func, ast.Name) and node.func.id in functions:
                for inner in ast.walk(functions[node.func.id]):
                    if isinstance(inner, ast.Global | ast.Nonlocal):
                        changed.update(inner.names)
                    elif isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute):
                        changed.update(_root_names(inner.func.value))
    return changed


def _root_names(node: ast.AST) -> set[str]:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Starred):
        node = node.value
    return {node.id} if isinstance(node, ast.Name) else set()


def _no_exit(code: str, loop: ast.While) -> Finding:
    header = f"while {unparse(loop.test)}:"
    return Finding(
        cause="infinite-loop-no-break",
        line=loop.lineno,
        hints=(
            f"Look at the `{header}` loop on line {loop.lineno} and imagine it running: which line inside "
            "it could ever end the loop?",
            f"`while {unparse(loop.test)}` is always true, so the loop only ends if something inside it "
            "stops it — a `break` (or a `return` inside a function) — and this loop has neither, so it "
            "runs forever.",
        ),
        fix=(
            "Decide when the loop should stop, and inside the loop add an `if` with that condition whose "
            "body is `break` — for example right after reading the input that means “stop”."
        ),
        key_basis=unparse(loop.test),
        references=("while", "break"),
    )


def _unchanged_condition(code: str, loop: ast.While, names: set[str]) -> Finding:
    condition = unparse(loop.test)
    variable, step = _variable_and_step(loop.test, names)
    update = f"{variable} {step}" if step else ""
    fixed_code = ""
    first, last = loop.body[0], loop.body[-1]
    if update and first.lineno > loop.lineno:
        indent = indentation(line_at(code, first.lineno))
        candidate = insert_after(code, last.end_lineno or last.lineno, indent + update)
        fixed_code = candidate if syntax_error(candidate) is None else ""
    them = f"`{variable}`" if len(names) == 1 else " or ".join(f"`{n}`" for n in sorted(names))
    body_lines = (
        f"lines {first.lineno} to {last.end_lineno}"
        if last.end_lineno != first.lineno
        else f"line {first.lineno}"
    )
    if update:
        fix = (
            f"Update `{variable}` inside the loop so the condition eventually becomes False — for example, "
            f"add `{update}` as the last line of the loop's body (after line {last.end_lineno}, indented "
            f"like line {first.lineno})."
        )
    else:
        fix = (
            f"Inside the loop, change {them} so that `{condition}` becomes False once the loop's work is "
            "done (or leave the loop with `break` at that point)."
        )
    return Finding(
        cause="infinite-loop-unchanged-condition",
        line=loop.lineno,
        hints=(
            f"Look at the `while` loop on line {loop.lineno}: `while {condition}:`. Each time the loop "
            f"runs ({body_lines}), what changes that could make `{condition}` become False?",
            f"The condition `{condition}` depends on {them}, but nothing inside the loop ever changes "
            f"{them}, so the condition stays True and the loop never ends.",
        ),
        fix=fix,
        key_basis=condition,
        fix_code=update,
        fixed_code=fixed_code,
        references=("while",),
    )


def _variable_and_step(test: ast.expr, names: set[str]) -> tuple[str, str]:
    """The variable to update and how (`+= 1` or `-= 1`), read off a comparison such as `i < 10` or
    `n > 0`; ("name", "") when the condition has no such simple shape."""
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        op, left, right = test.ops[0], test.left, test.comparators[0]
        if isinstance(left, ast.Name) and left.id in names:
            if isinstance(op, ast.Lt | ast.LtE):
                return left.id, "+= 1"
            if isinstance(op, ast.Gt | ast.GtE):
                return left.id, "-= 1"
            if isinstance(op, ast.NotEq) and isinstance(right, ast.Constant) and isinstance(right.value, int):
                return left.id, "-= 1" if right.value == 0 else "+= 1"
        if isinstance(right, ast.Name) and right.id in names and not isinstance(left, ast.Name):
            if isinstance(op, ast.Gt | ast.GtE):
                return right.id, "+= 1"
            if isinstance(op, ast.Lt | ast.LtE):
                return right.id, "-= 1"
    return sorted(names)[0], ""


# --- recursion -------------------------------------------------------------------------------------


def recursion_finding(code: str, tree: ast.Module | None, error: ParsedError | None) -> Finding | None:
    """Why a function recursed forever (RecursionError, raised or predicted)."""
    functions = _recursive_functions(tree) if tree is not None else []
    in_traceback = {function for _file, _line, function in (error.frames if error else ())}
    functions.sort(key=lambda f: (f.name not in in_traceback, f.lineno))
    line = error.line if error else 0
    if not functions:
        return Finding(
            cause="recursion-no-base-case",
            line=line,
            hints=(
                f"Python gave up on {quoted(code, line)} after too many nested calls. Which function "
                "keeps calling itself (perhaps through another function)?",
                "A function that calls itself needs a base case — a condition under which it returns "
                "without calling itself again — and every call must get closer to it.",
            ),
            fix="Add a base case (an `if` that returns without recursing) and make each call move toward it.",
            key_basis="",
            exception_type="RecursionError",
            references=("function", "return"),
        )
    fn = functions[0]
    call = _self_calls(fn)[0]
    if not _has_branch(fn):
        return _no_base_case(code, fn, call)
    params = [a.arg for a in fn.args.args]
    same_arguments = [unparse(a) for a in call.args] == params[: len(call.args)] and bool(call.args)
    if same_arguments:
        hint2 = (
            f"`{fn.name}` calls itself with exactly the arguments it received, so every call is the same "
            "as the first and never gets closer to the base case."
        )
        fix = (
            f"Call `{fn.name}` with a smaller (or shorter) argument, so that each call is one step "
            "closer to the base case."
        )
        cause = "recursion-no-progress"
    else:
        hint2 = (
            f"`{fn.name}` has a base case, but with this input the calls never reach it: check that each "
            "call really moves toward the base case (a countdown that jumps past 0 never hits `== 0`)."
        )
        fix = (
            "Make the base case catch every stopping value (for example `<=` instead of `==`), or change "
            "the step of each call."
        )
        cause = "recursion-base-case-unreached"
    return Finding(
        cause=cause,
        line=line or call.lineno,
        hints=(
            f"Look at the function `{fn.name}` (line {fn.lineno}) and the call to itself on line "
            f"{call.lineno}. Follow the arguments from one call to the next: when does it stop?",
            hint2,
        ),
        fix=fix,
        key_basis=f"{fn.name}:{cause}",
        exception_type="RecursionError",
        references=("function", "if", "return"),
    )


def recursion_without_base_case(tree: ast.Module) -> ast.FunctionDef | None:
    """The first function that calls itself with no branch at all (found before the program runs)."""
    for fn in sorted(_recursive_functions(tree), key=lambda f: f.lineno):
        if not _has_branch(fn):
            return fn
    return None


def _no_base_case(code: str, fn: ast.FunctionDef, call: ast.Call) -> Finding:
    guard, value = _base_case_for(fn, call)
    fix_code, fixed_code = "", ""
    if guard:
        fix_code = f"{guard}\n    {value}".rstrip()
        fixed_code = _insert_base_case(code, fn, guard, value)
    example = f" For example, as its first lines: `{guard}` then `{value}`." if guard else ""
    return Finding(
        cause="recursion-no-base-case",
        line=call.lineno,
        hints=(
            f"Look at the function `{fn.name}` (line {fn.lineno}): it calls itself on line {call.lineno}. "
            "Follow the calls one after another — when does that chain stop?",
            f"`{fn.name}` calls itself every single time it runs: there is no base case (a case that returns "
            f"without calling `{fn.name}` again), so the calls never stop until Python gives up with "
            "RecursionError.",
        ),
        fix=f"Add a base case at the start of `{fn.name}` that returns without calling itself.{example}",
        key_basis=f"{fn.name}:recursion-no-base-case",
        exception_type="RecursionError",
        fix_code=fix_code,
        fixed_code=fixed_code,
        references=("function", "if", "return"),
    )


def _base_case_for(fn: ast.FunctionDef, call: ast.Call) -> tuple[str, str]:
    """(`if n <= 0:`, `return 1`) when the call counts a parameter down and the return value is clear:
    a product returns 1, a sum 0, a function without a value returns nothing. ("", "") otherwise."""
    params = {a.arg for a in fn.args.args}
    counted = ""
    for arg in call.args:
        if (
            isinstance(arg, ast.BinOp)
            and isinstance(arg.op, ast.Sub | ast.FloorDiv)
            and isinstance(arg.left, ast.Name)
            and arg.left.id in params
            and isinstance(arg.right, ast.Constant)
            and isinstance(arg.right.value, int)
            and arg.right.value >= (1 if isinstance(arg.op, ast.Sub) else 2)
        ):
            counted = arg.left.id
            break
    if not counted:
        return "", ""
    returns = [r for r in _own_nodes(fn) if isinstance(r, ast.Return) and r.value is not None]
    if not returns:
        return f"if {counted} <= 0:", "return"
    for ret in returns:
        value = ret.value
        if isinstance(value, ast.BinOp) and any(c is call for c in ast.walk(value)):
            if isinstance(value.op, ast.Mult):
                return f"if {counted} <= 0:", "return 1"
            if isinstance(value.op, ast.Add):
                return f"if {counted} <= 0:", "return 0"
    return "", ""


def _insert_base_case(code: str, fn: ast.FunctionDef, guard: str, value: str) -> str:
    first = fn.body[0]
    if first.lineno == fn.lineno:
        return ""
    indent = indentation(line_at(code, first.lineno))
    step = indent[len(indentation(line_at(code, fn.lineno))) :] or "    "
    after = fn.lineno
    docstring = ast.get_docstring(fn, clean=False) is not None
    if docstring:
        after = first.end_lineno or first.lineno
    # Header lines of a multi-line `def` end where the body's first statement begins.
    if not docstring:
        after = first.lineno - 1
    candidate = insert_after(code, after, f"{indent}{guard}\n{indent}{step}{value}")
    return candidate if syntax_error(candidate) is None else ""


def _recursive_functions(tree: ast.Module) -> list[ast.FunctionDef]:
    return [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and _self_calls(f)]


def _self_calls(fn: ast.FunctionDef) -> list[ast.Call]:
    calls = [
        n
        for n in _own_nodes(fn)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == fn.name
    ]
    return sorted(calls, key=lambda c: (c.lineno, c.col_offset))


def _has_branch(fn: ast.FunctionDef) -> bool:
    return any(isinstance(n, _BRANCHES) for n in _own_nodes(fn))


def _own_nodes(fn: ast.FunctionDef) -> list[ast.AST]:
    """The nodes of `fn`'s body, without those of functions and classes nested in it."""
    nodes: list[ast.AST] = []
    stack: list[ast.AST] = list(reversed(fn.body))
    while stack:
        node = stack.pop()
        nodes.append(node)
        if not isinstance(node, _NESTED_SCOPES):
            stack.extend(reversed(list(ast.iter_child_nodes(node))))
    return nodes
