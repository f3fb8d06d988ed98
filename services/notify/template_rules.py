"""What a message template may contain: an allowlist checked on the tree Jinja parses, before the
template is compiled and before it is rendered. A message template prints variables, tests them and
joins text; nothing in it may cost more than its own text and the variables it prints.

The sandbox alone does not bound a template: it caps each range() at 100,000 but not their nesting,
leaves arithmetic alone (`'x' * 10**9`), and lets string methods and filters take a size
(`'x'.ljust(10**9)`, `center`, `indent`, `wordwrap`, `format`). Jinja also folds constant
expressions while compiling, so a check after compiling comes too late. Here every node is one of
a few known kinds; a filter is one whose output is at most a few times its input (case changes up
to 3x, HTML escaping at output up to 5x), a number is at most MAX_NUMBER, and there are at most
MAX_NODES of them. So compiling costs at most a fraction of a second, and a rendered message is at
most 5 x (the template's text + each variable's value once per use): `uses` counts those uses for
domain.render to bound before it renders."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from jinja2 import nodes

MAX_NUMBER = 10_000
# Tags, variables, filters and operators together: compiling costs about 40 µs each (100,000
# characters of `{{ x }}` about a second), and a message template needs tens of them.
MAX_NODES = 2_000
# Filter → its parameters in order, each (name, must be a constant). Left out on purpose: escape/e
# (HTML channels escape every value already; in plain text it would be wrong, and nested in itself
# it grows), join, replace, center, indent, wordwrap, format, trim with characters (the cost of its
# text times the value's), safe (it would let a value's <script> through), and every filter that
# builds lists or reaches attributes.
FILTERS: dict[str, tuple[tuple[str, bool], ...]] = {
    "default": (("default_value", False), ("boolean", True)),
    "d": (("default_value", False), ("boolean", True)),
    "upper": (),
    "lower": (),
    "title": (),
    "capitalize": (),
    "trim": (),
    "striptags": (),
    "truncate": (("length", True), ("killwords", True), ("end", True), ("leeway", True)),
    "length": (),
}
TESTS = frozenset(
    {"defined", "undefined", "none", "string", "number", "true", "false", "lower", "upper"}
    | {"eq", "equalto", "==", "ne", "!=", "lt", "lessthan", "<", "le", "<=", "gt", "greaterthan", ">"}
    | {"ge", ">=", "in"}
)
# Jinja's globals (functions, even where not called) and the template's own reference.
NOT_VARIABLES = frozenset({"range", "lipsum", "dict", "cycler", "joiner", "namespace", "self"})
ALLOWED = (
    "a template may print variables ({{ name }}), test them with {% if %}, {% elif %} and {% else %} "
    "(comparisons, and, or, not, 'is defined'), choose with an inline if, join text with ~, use "
    "numbers up to 10,000 and the filters " + ", ".join(sorted(FILTERS))
)

_STATEMENTS: dict[type[nodes.Node], str] = {
    nodes.For: "a {% for %} loop",
    nodes.Macro: "a {% macro %}",
    nodes.CallBlock: "a {% call %} block",
    nodes.Assign: "{% set %}",
    nodes.AssignBlock: "{% set %}",
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from ... import %}",
    nodes.Extends: "{% extends %}",
    nodes.Block: "a {% block %}",
    nodes.FilterBlock: "a {% filter %} block",
    nodes.With: "a {% with %} block",
    nodes.ScopedEvalContextModifier: "an {% autoescape %} block",
    nodes.EvalContextModifier: "an {% autoescape %} block",
    nodes.ExprStmt: "{% do %}",
    nodes.Scope: "an {% autoescape %} block",  # the parser wraps {% autoescape %} in a Scope
}


@dataclass
class Findings:
    refused: dict[str, int] = field(default_factory=dict)  # what is not allowed → its first line
    uses: Counter[str] = field(default_factory=Counter)  # variable → how many times it is named
    size: int = 0  # statements and expressions, TemplateData aside

    def explain(self) -> str:
        """One sentence naming what is not allowed (the first five, with their lines)."""
        listed = [f"{what} (line {line})" if line else what for what, line in list(self.refused.items())[:5]]
        more = len(self.refused) - len(listed)
        if more:
            listed.append(f"{more} more")
        names = listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " and " + listed[-1]
        return f"uses {names}, which a message template may not: {ALLOWED}"


def examine(tree: nodes.Template) -> Findings:
    found = Findings()
    _statements(tree.body, found)
    if found.size > MAX_NODES:
        found.refused[f"{found.size:,} tags, variables, filters and operators (at most {MAX_NODES:,})"] = 0
    return found


def _refuse(found: Findings, what: str, node: nodes.Node) -> None:
    found.refused.setdefault(what, getattr(node, "lineno", 0) or 0)


def _statements(body: list[nodes.Node], found: Findings) -> None:
    for node in body:
        found.size += 1
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if not isinstance(child, nodes.TemplateData):
                    _expression(child, found)
        elif isinstance(node, nodes.If):
            _expression(node.test, found)
            _statements(node.body, found)
            _statements(list(node.elif_), found)
            _statements(node.else_, found)
        else:
            _refuse(found, _STATEMENTS.get(type(node), f"the statement {type(node).__name__}"), node)


def _expression(node: nodes.Node, found: Findings) -> None:
    found.size += 1
    if isinstance(node, nodes.Name):
        if node.name in NOT_VARIABLES:
            _refuse(found, f"{node.name!r} (one of Jinja's own names, not a variable)", node)
        else:
            found.uses[node.name] += 1
    elif isinstance(node, nodes.Const):
        _constant(node, found)
    elif isinstance(node, nodes.Filter):
        _filter(node, found)
    elif isinstance(node, nodes.Test):
        if node.name not in TESTS or node.dyn_args or node.dyn_kwargs:
            _refuse(found, f"the test {node.name!r}", node)
        _expression(node.node, found)
        for arg in (*node.args, *(k.value for k in node.kwargs)):
            _expression(arg, found)
    elif isinstance(node, nodes.Compare):
        _expression(node.expr, found)
        for operand in node.ops:
            if operand.op in ("in", "notin") and isinstance(operand.expr, nodes.Tuple | nodes.List):
                _choices(operand.expr, found)  # `x in ('a', 'b')`
            else:
                _expression(operand.expr, found)
    elif isinstance(
        node, nodes.And | nodes.Or | nodes.Not | nodes.Neg | nodes.Pos | nodes.Concat | nodes.CondExpr
    ):
        for child in node.iter_child_nodes():
            _expression(child, found)
    else:
        _refuse(found, _describe(node), node)
        for child in _inside(node):  # what else is in it, e.g. the 10**9 of 'x' * 10**9
            _expression(child, found)


def _inside(node: nodes.Node) -> list[nodes.Node]:
    """The expressions in a refused one (a call's arguments, not what it calls: that is named)."""
    children = [c for c in node.iter_child_nodes() if not (isinstance(node, nodes.Call) and c is node.node)]
    return [
        g
        for c in children
        for g in (c.iter_child_nodes() if isinstance(c, nodes.Keyword | nodes.Pair) else [c])
    ]


def _constant(node: nodes.Const, found: Findings) -> None:
    value = node.value
    if isinstance(value, int | float) and not isinstance(value, bool) and not abs(value) <= MAX_NUMBER:
        if isinstance(value, float):
            shown = f"the number {value:g}"
        elif abs(value) < 10**30:
            shown = f"the number {value:,}"
        else:
            shown = f"a {len(str(abs(value)))}-digit number"
        _refuse(found, f"{shown} (numbers may be at most {MAX_NUMBER:,} either way)", node)
    elif not isinstance(value, str | int | float | bool | type(None)):
        _refuse(found, f"a constant of type {type(value).__name__}", node)


def _choices(node: nodes.Tuple | nodes.List, found: Findings) -> None:
    for item in node.items:
        found.size += 1  # each choice is compiled like any other node: counted toward MAX_NODES
        if isinstance(item, nodes.Const):
            _constant(item, found)
        else:
            _refuse(found, "a list of choices that are not all constants", item)
            _expression(item, found)


def _filter(node: nodes.Filter, found: Findings) -> None:
    for child in _inside(node):  # the value and the arguments
        _expression(child, found)
    params = FILTERS.get(node.name)
    if params is None:
        _refuse(found, f"the filter {node.name!r}", node)
        return
    if node.dyn_args or node.dyn_kwargs:
        _refuse(found, f"*args or **kwargs given to the filter {node.name!r}", node)
    if len(node.args) > len(params):
        count = f"{len(node.args)} argument{'s' if len(node.args) > 1 else ''}"
        _refuse(found, f"the filter {node.name!r} given {count} (it takes at most {len(params)})", node)
    constant = dict(params)
    positional = [name for name, _ in params][: len(node.args)]
    given = [*zip(positional, node.args, strict=False), *((k.key, k.value) for k in node.kwargs)]
    for name, arg in given:
        if name not in constant:
            _refuse(found, f"the argument {name!r} of the filter {node.name!r}", arg)
        elif constant[name] and not isinstance(arg, nodes.Const):
            _refuse(found, f"a {name} for the filter {node.name!r} that is not a constant", arg)


def _describe(node: nodes.Node) -> str:
    if isinstance(node, nodes.Call):
        called = node.node
        if isinstance(called, nodes.Name):
            return f"a call to {called.name}()"
        if isinstance(called, nodes.Getattr):
            return f"a call to the method .{called.attr}()"
        return "a function call"
    if isinstance(node, nodes.Getattr):
        return f"attribute access (.{node.attr})"
    if isinstance(node, nodes.Getitem | nodes.Slice):
        return "item access or slicing ([...])"
    if isinstance(node, nodes.BinExpr):
        return f"the arithmetic operator {node.operator!r}"
    if isinstance(node, nodes.Tuple | nodes.List | nodes.Dict):
        return "a list, tuple or dict (only `in (...)` with constants is allowed)"
    return f"the expression {type(node).__name__}"
