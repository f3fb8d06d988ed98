"""A policy's settings loaded from YAML as JSON data, the only data the schema, the engine and the
stored version (a JSON column) can hold.

YAML has more than JSON: a date (`title: 2024-09-01`), a setting named by a number (`1: x`), bytes
(`!!binary`), sets, ordered pairs, and floats that are not numbers (`.nan`, `.inf`). Dates and times
are left as the text they were written as (a teacher writing a date means the text), and so is a
bare `=`; anything else JSON cannot hold is a problem at its node, which has the line, found before
the schema's validators (which raise on such values instead of answering) see the data. So are
aliases (*name) repeating more values than a policy could need (`expanded_size`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import yaml

_YAML = "tag:yaml.org,2002:"
# The implicit types kept: the ones JSON has, and `<<` (merging a mapping into another).
_KEPT = {f"{_YAML}{t}" for t in ("bool", "int", "float", "null", "merge")}
_JSON_TAGS = {f"{_YAML}{t}" for t in ("str", "bool", "int", "float", "null", "map", "seq")}
_CHECKED = {f"{_YAML}{t}" for t in ("bool", "int", "float")}
# A policy's settings hold a few hundred values at most (20 conditions of up to 50 choices).
MAX_VALUES = 10_000
_BASE: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BASE):  # type: ignore[misc, valid-type]
    """The safe loader without YAML 1.1's timestamps (and its `=` value and `yaml` scalars), which
    are then plain strings."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag in _KEPT]
        for first, resolvers in _BASE.yaml_implicit_resolvers.items()
    }


def load(text: str) -> tuple[yaml.Node | None, Any, list[tuple[str, yaml.Node, str]]]:
    """(the node tree, for lines; the data built from it; what JSON cannot hold, as in `problems`).
    The data is built only when there are no such problems (None otherwise). Raises yaml.YAMLError
    for broken YAML."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        found = list(problems(root))
        if root is None or found:
            return root, None, found
        return root, loader.construct_document(root), []
    finally:
        loader.dispose()


def _what(node: yaml.Node) -> str:
    name = node.tag.removeprefix(_YAML)
    if name in ("int", "float"):
        return "a number"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.MappingNode) and name == "map":
        return "a mapping"
    return {
        "bool": "true or false",
        "null": "an empty value",
        "timestamp": "a date or time",
        "binary": "bytes",
        "set": "a set",
        "omap": "an ordered mapping",
        "pairs": "a list of pairs",
    }.get(name, f"a value tagged !!{name}" if node.tag.startswith(_YAML) else f"a value tagged {node.tag}")


def _scalar_problem(node: yaml.ScalarNode) -> str:
    """Why a number or true/false cannot be a policy's ("" when it can): not what its tag says (an
    explicit `!!int ten`), NaN, an infinity, or a number too large to compare (the engine compares
    numbers as floats)."""
    constructor = yaml.constructor.SafeConstructor()
    name = node.tag.removeprefix(_YAML)
    try:
        if name == "bool":
            constructor.construct_yaml_bool(node)
            return ""
        value = getattr(constructor, f"construct_yaml_{name}")(node)
    except (KeyError, ValueError):
        return f"is {node.value!r}, which is not {'true or false' if name == 'bool' else 'a number'}"
    try:
        finite = math.isfinite(float(value))
    except OverflowError:
        return "is too large a number to compare (more than 300 digits)"
    return "" if finite else f"is {node.value}, which is not a finite number; write a number such as 10"


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def expanded_size(root: yaml.Node, limit: int = MAX_VALUES) -> int:
    """How many values the data built from `root` holds, each alias (*name) counted as the values it
    repeats; limit + 1 once over the limit or when an alias holds itself. Aliases of aliases multiply:
    nine lines can build a list of a billion, and the schema's messages print the values they judge."""
    size: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        if finished:
            open_.discard(id(node))
            size[id(node)] = min(limit + 1, 1 + sum(size[id(child)] for child in _children(node)))
        elif id(node) in open_:
            return limit + 1  # an alias inside its own anchor
        elif id(node) not in size:
            open_.add(id(node))
            stack.append((node, True))
            stack += [(child, False) for child in _children(node) if id(child) not in size]
    return size[id(root)]


def problems(root: yaml.Node | None) -> Iterator[tuple[str, yaml.Node, str]]:
    """(dotted path, node, what is wrong) for every value and key JSON cannot hold, or the settings
    holding too much. Each node is seen once, so aliases of aliases cost no more than their text."""
    if root is not None and expanded_size(root) > MAX_VALUES:
        yield (
            "",
            root,
            f"the settings hold more than {MAX_VALUES} values once their aliases (*name) are "
            "repeated where they stand; a policy needs far fewer",
        )
        return
    seen: set[int] = set()
    todo: list[tuple[str, yaml.Node]] = [("", root)] if root is not None else []
    while todo:
        path, node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        where = path or "the settings"
        if node.tag not in _JSON_TAGS:
            yield path, node, f"{where} is {_what(node)}, which a policy cannot hold; write it in quotes"
        elif isinstance(node, yaml.ScalarNode):
            if node.tag in _CHECKED and (why := _scalar_problem(node)):
                yield path, node, f"{where} {why}"
        elif isinstance(node, yaml.SequenceNode):
            todo += [(f"{path}.{i}" if path else str(i), item) for i, item in enumerate(node.value)]
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.tag == f"{_YAML}merge":
                    todo.append((path, value))
                elif key.tag != f"{_YAML}str" or not isinstance(key, yaml.ScalarNode):
                    named = (
                        f"{key.value}, written as {_what(key)}"
                        if isinstance(key, yaml.ScalarNode)
                        else f"by {_what(key)}"
                    )
                    yield (
                        path,
                        key,
                        f"{f'{path} has a setting' if path else 'a setting is'} named {named}; a "
                        "setting's name is a word such as urgency (put it in quotes if it must be this)",
                    )
                else:
                    todo.append((f"{path}.{key.value}" if path else key.value, value))
