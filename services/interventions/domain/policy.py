"""Policies as files a teacher can read: Markdown prose for people, YAML front matter for the engine
(or a whole plain-YAML rule file, the older format), validated against policies/policy.schema.json
(JSON Schema Draft 2020-12), then checked for what a schema cannot say (a template naming an unknown
variable, a CEL expression that does not compile or could loop past what a decision may spend).

Every problem is reported with the line of the file it is on and a sentence a teacher can act on, and
all of them at once, so `learnflow policy check` and ActivatePolicy show a whole edit's mistakes in one
go. Parsing is pure: it takes the text and a file name and returns a Policy or raises PolicyInvalid.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import lark
import yaml

from services.interventions.domain import front_matter

# The schema lives beside the policies (policies/policy.schema.json at the repository's root), where
# a teacher's editor can find it too.
SCHEMA_PATH = Path(__file__).resolve().parents[3] / "policies" / "policy.schema.json"
INTERVENTIONS = ("calm_break", "ask_teacher", "review_concept", "teacher_alert")
MODES = ("enforce", "shadow", "canary")
SIGNALS = ("struggle.detected", "sandbox.executed", "hint.requested", "question.unclear", "work.session")
FIELDS = ("rule", "key", "topic", "error", "severity", "verdict", "minutes", "count")
NUMERIC_FIELDS = ("minutes", "count")  # the facts that are numbers; the others are text
# What a message template may name: {student_name}, {duration}, ...
TEMPLATE_VARIABLES = (
    "student_name",
    "duration",
    "topic",
    "error",
    "rule",
    "count",
    "explanation",
    "policy_title",
)
MAX_POLICY_BYTES = 64 * 1024
_FENCE = re.compile(r"^---\s*$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a policy file: where (1-based line, 0 when the whole file) and why."""

    file: str
    line: int
    message: str
    path: str = ""  # the front-matter field, dotted ("when.all.1.field"), "" for the file

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class PolicyInvalid(Exception):
    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems


@dataclass(frozen=True)
class Condition:
    """One sentence of `when.all`: kind is "is", "is_one_of", "at_least", "at_most", "repeated" or
    "expression"."""

    kind: str
    field: str = ""
    value: Any = None  # str | float | tuple[str | float, ...]
    within_minutes: int = 0  # repeated
    same: str = ""  # repeated: topic | key | error
    expression: str = ""

    def describe(self) -> str:
        """The condition as a teacher would say it."""
        if self.kind == "is":
            return f"{self.field} is {self.value}"
        if self.kind == "is_one_of":
            return f"{self.field} is one of {', '.join(map(str, self.value))}"
        if self.kind == "at_least":
            return f"{self.field} is at least {_num(self.value)}"
        if self.kind == "at_most":
            return f"{self.field} is at most {_num(self.value)}"
        if self.kind == "repeated":
            return (
                f"at least {self.value} times with the same {self.same} within {self.within_minutes} minutes"
            )
        return f"expression {self.expression}"

    def to_json(self) -> dict[str, Any]:
        if self.kind == "repeated":
            return {
                "repeated": {"at_least": self.value, "within_minutes": self.within_minutes, "same": self.same}
            }
        if self.kind == "expression":
            return {"expression": self.expression}
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"field": self.field, self.kind: value}


@dataclass(frozen=True)
class Policy:
    """A parsed, valid policy: what the engine runs. `rules` is its front matter as JSON (what a
    version stores and a diff compares); `content` the file's text."""

    id: str
    title: str
    intervention: str
    mode: str
    canary_percent: int
    urgency: int
    cooldown_minutes: int
    signal: str
    conditions: tuple[Condition, ...]
    between: tuple[str, str] | None
    subject: str
    student_template: str
    teacher_template: str
    file: str
    content: str
    sha256: str
    rules: dict[str, Any] = field(compare=False, hash=False)

    @property
    def audience(self) -> str:
        return "teachers" if self.intervention == "teacher_alert" else "student"

    @property
    def counts_toward_cap(self) -> bool:
        """The daily cap protects students from fatigue: a message to their teachers does not count."""
        return self.audience == "student"


def number(value: Any) -> float | None:
    """A condition's value or a fact as the finite number it is or reads as ("10", 10, 10.0), else
    None ("ten", NaN, an infinity, True): how the engine compares a numeric fact."""
    if isinstance(value, bool):
        return None
    try:
        n = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return n if math.isfinite(n) else None


def _num(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def content_sha256(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


@functools.cache
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return loaded


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema())
    return jsonschema.Draft202012Validator(schema())


@functools.cache
def _fast_validator() -> Any:
    """jsonschema-rs (Rust) answers "valid?" in about a microsecond, against the Python validator's
    fraction of a millisecond; the Python one still explains an invalid policy (its errors carry the
    paths the lines are found from)."""
    import jsonschema_rs

    return jsonschema_rs.Draft202012Validator(schema())


# CEL's comprehension macros and cel-python's extensions of them: each runs its condition once per
# item of a list, and they nest, so ten short lists eight deep are 10^8 steps (cel-python's all() and
# exists() do not even stop early) on the event loop of every replica. A policy's expression has no
# use for them: the sentences and `in [...]` say what a condition over a signal's facts needs.
CEL_LOOPS = ("all", "exists", "exists_one", "map", "filter", "reduce")
MAX_CEL_LITERAL_ITEMS = 50  # as many as is_one_of's choices


class ExpressionTooCostly(ValueError):
    """A CEL expression that compiles but could cost a decision more than it may spend; the message
    says why, in words that follow "when.all.N.expression"."""


def _cost_problem(tree: lark.Tree[Any]) -> str:
    """Why evaluating a parsed expression could run away ("" when it cannot): a loop over a list,
    or a list or map written with more items than a condition could mean. Without those, evaluating
    costs at most a step per node of the (at most 1,000 characters long) text. Walks the tree
    without recursion: the text may nest hundreds deep."""
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if not isinstance(node, lark.Tree):
            continue
        if node.data in ("member_dot_arg", "ident_arg", "dot_ident_arg"):
            # member_dot_arg: member "." IDENT "(" ... ")"; the others: ["."] IDENT "(" ... ")"
            name = node.children[1 if node.data == "member_dot_arg" else 0]
            if isinstance(name, lark.Token) and name.value in CEL_LOOPS:
                return (
                    f"uses .{name.value}(), which repeats a condition for every item of a list, and nested "
                    "a few short lists make billions of steps while every decision waits; write the "
                    'condition on the signal\'s facts directly, e.g. signal.topic in ["loops", "lists"]'
                )
        elif node.data in ("list_lit", "map_lit", "member_object"):
            items = next(
                (
                    c
                    for c in node.children
                    if isinstance(c, lark.Tree) and c.data in ("exprlist", "mapinits", "fieldinits")
                ),
                None,
            )
            n = len(items.children) if items is not None else 0
            n //= 1 if node.data == "list_lit" else 2  # a map's items are key: value pairs
            if n > MAX_CEL_LITERAL_ITEMS:
                what = {"list_lit": "a list", "map_lit": "a map"}.get(node.data, "a message")
                return (
                    f"writes {what} of {n} items; a condition names at most {MAX_CEL_LITERAL_ITEMS} "
                    "(split it, or use is_one_of)"
                )
        stack += node.children
    return ""


@functools.lru_cache(maxsize=1024)
def compile_expression(expression: str) -> Any:
    """The CEL program of an expression (compiled once per text; programs are reused by every
    decision). Raises celpy's CELParseError for text that does not compile and ExpressionTooCostly
    for one whose evaluation could run away, so no caller ever runs such a program."""
    env = celpy.Environment()
    tree = env.compile(expression)
    if problem := _cost_problem(tree):
        raise ExpressionTooCostly(problem)
    return env.program(tree)


def _split(content: str, file: str) -> tuple[str, int, str]:
    """(front matter YAML, line of its first line in the file, Markdown body). A .yaml/.yml file is
    all front matter (the older plain rule files, seed FR2.4)."""
    if file.endswith((".yaml", ".yml")):
        return content, 1, ""
    lines = content.split("\n")
    if not lines or not _FENCE.match(lines[0]):
        raise PolicyInvalid(
            [
                Problem(
                    file,
                    1,
                    "a policy file starts with a line of three dashes (---), then its settings in YAML, "
                    "then another --- line, then the prose for people",
                )
            ]
        )
    for i in range(1, len(lines)):
        if _FENCE.match(lines[i]):
            return "\n".join(lines[1:i]), 2, "\n".join(lines[i + 1 :])
    raise PolicyInvalid(
        [Problem(file, 1, "the settings opened by --- on line 1 are never closed by another --- line")]
    )


def _node_at(node: yaml.Node | None, path: list[str | int]) -> yaml.Node | None:
    """The YAML node at a JSON path (for its line), as deep as the path exists."""
    for step in path:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == step), None)
            if nxt is None:
                return node
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
        else:
            return node
    return node


def _explain(error: jsonschema.ValidationError) -> str:
    """A schema error in words a teacher can act on."""
    where = ".".join(str(p) for p in error.absolute_path) or "the settings"
    v = error.validator
    if v == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        return f"{where} needs `{missing[0] if missing else error.message}`"
    if v == "additionalProperties":
        extra = re.findall(r"'([^']+)'", error.message)
        return f"{where} has `{', '.join(extra)}`, which is not a setting a policy has (a typo?)"
    if v == "enum":
        return (
            f"{where} is {error.instance!r}; it must be one of {', '.join(map(str, error.validator_value))}"
        )
    if v == "oneOf":
        return (
            f"{where} is not a condition this engine knows: write `field: <fact>` with one of is, is_one_of, "
            "at_least, at_most; or `repeated: {at_least, within_minutes, same}`; or `expression: <CEL>`"
        )
    if v == "pattern" and where.endswith(("from", "until")):
        return f"{where} is {error.instance!r}; write a time of day as HH:MM, e.g. 08:00"
    if v == "pattern" and where == "id":
        return (
            f"id is {error.instance!r}; use lower-case letters, digits and _ (2-63), starting with a letter"
        )
    if v in ("minimum", "maximum"):
        return f"{where} is {error.instance!r}; {error.message.split(' is ', 1)[-1]}"
    if v == "type":
        return f"{where} is {error.instance!r}, which is not {error.validator_value}"
    return f"{where}: {error.message}"


def _template_problems(file: str, line: int, where: str, template: str) -> list[Problem]:
    problems = []
    try:
        fields = [(n, spec, conv) for _, n, spec, conv in string.Formatter().parse(template) if n is not None]
    except ValueError as exc:
        return [
            Problem(
                file,
                line,
                f"{where}: {exc} (write a variable as {{student_name}}; a literal brace as {{{{)",
                where,
            )
        ]
    for name, spec, conversion in fields:
        if spec or conversion:
            # Rendering would apply it to the value ({duration:.0f} fails on the text "45"; a width
            # of a billion would be a gigabyte per message): a template only names variables.
            written = (
                "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            )
            problems.append(
                Problem(
                    file,
                    line,
                    f"{where} writes {written}: a template names a variable as it is, without a format "
                    f"or conversion after it; write {{{name}}}",
                    where,
                )
            )
        if name not in TEMPLATE_VARIABLES:
            problems.append(
                Problem(
                    file,
                    line,
                    f"{where} names {{{name}}}, which no signal provides; the variables are "
                    + ", ".join("{" + v + "}" for v in TEMPLATE_VARIABLES),
                    where,
                )
            )
    return problems


def parse(content: str, file: str) -> Policy:
    """The policy in `content` (the text of `file`, whose name only chooses the format and labels the
    problems), or PolicyInvalid listing every problem with its line."""
    if len(content.encode()) > MAX_POLICY_BYTES:
        raise PolicyInvalid([Problem(file, 0, f"a policy file is at most {MAX_POLICY_BYTES // 1024} KiB")])
    front, first_line, _ = _split(content, file)
    offset = first_line - 1
    try:
        # One pass: the node tree (for the lines of problems) and the data built from it, JSON only.
        root, data, not_json = front_matter.load(front)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 + offset if mark is not None else 0
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyInvalid([Problem(file, line, f"the settings are not valid YAML: {problem}")]) from None
    if not_json:
        raise PolicyInvalid(
            [
                Problem(file, node.start_mark.line + 1 + offset, message, path)
                for path, node, message in sorted(not_json, key=lambda found: found[1].start_mark.index)
            ]
        )
    if not isinstance(data, dict):
        raise PolicyInvalid(
            [Problem(file, first_line, "the settings must be a mapping of name: value lines")]
        )

    def line_of(path: list[str | int]) -> int:
        node = _node_at(root, path)
        return node.start_mark.line + 1 + offset if node is not None else first_line

    def error_line(e: jsonschema.ValidationError) -> int:
        path = list(e.absolute_path)
        if e.validator == "additionalProperties":  # point at the unknown setting itself
            path += re.findall(r"'([^']+)'", e.message)[:1]
        return line_of(path)

    errors = [] if _fast_validator().is_valid(data) else list(_validator().iter_errors(data))
    problems = [
        Problem(file, error_line(e), _explain(e), ".".join(map(str, e.absolute_path)))
        for e in sorted(errors, key=lambda e: list(map(str, e.absolute_path)))
    ]
    if problems:
        raise PolicyInvalid(problems)

    when = data["when"]
    conditions = []
    for i, raw in enumerate(when.get("all", [])):
        path: list[str | int] = ["when", "all", i]
        if "repeated" in raw:
            r = raw["repeated"]
            conditions.append(
                Condition("repeated", value=r["at_least"], within_minutes=r["within_minutes"], same=r["same"])
            )
        elif "expression" in raw:
            try:
                compile_expression(raw["expression"])
            except ExpressionTooCostly as exc:
                problems.append(
                    Problem(
                        file,
                        line_of([*path, "expression"]),
                        f"when.all.{i}.expression {exc}",
                        f"when.all.{i}.expression",
                    )
                )
            except Exception as exc:  # celpy raises its own parse errors, with their line and column
                problems.append(
                    Problem(
                        file,
                        line_of([*path, "expression"]),
                        f"when.all.{i}.expression does not compile as CEL: "
                        + str(exc).strip().splitlines()[-1],
                        f"when.all.{i}.expression",
                    )
                )
            conditions.append(Condition("expression", expression=raw["expression"]))
        else:
            kind = next(k for k in ("is", "is_one_of", "at_least", "at_most") if k in raw)
            value: Any = raw[kind]
            if raw["field"] in NUMERIC_FIELDS and kind in ("is", "is_one_of"):
                at_items = (
                    [([*path, kind], value)]
                    if kind == "is"
                    else [([*path, kind, j], item) for j, item in enumerate(value)]
                )
                for at, item in at_items:
                    if number(item) is None:
                        where = ".".join(map(str, at))
                        problems.append(
                            Problem(
                                file,
                                line_of(at),
                                f"{where} is {item!r}, but {raw['field']} is a number: write one, e.g. 10",
                                where,
                            )
                        )
            if kind == "is_one_of":
                value = tuple(value)
            elif kind in ("at_least", "at_most"):
                value = float(value)
            conditions.append(Condition(kind, field=raw["field"], value=value))
    message = data["message"]
    for key in ("subject", "student", "teacher"):
        if key in message:
            problems += _template_problems(file, line_of(["message", key]), f"message.{key}", message[key])
    if problems:
        raise PolicyInvalid(problems)
    between = (when["between"]["from"], when["between"]["until"]) if "between" in when else None
    mode = data.get("mode", "enforce")
    return Policy(
        id=data["id"],
        title=data.get("title", data["id"].replace("_", " ")),
        intervention=data["intervention"],
        mode=mode,
        canary_percent=int(data.get("canary_percent", 0)) if mode == "canary" else 0,
        urgency=int(data.get("urgency", 50)),
        cooldown_minutes=int(data.get("cooldown_minutes", 60)),
        signal=when["signal"],
        conditions=tuple(conditions),
        between=between,
        subject=message.get("subject", ""),
        student_template=message.get("student", ""),
        teacher_template=message.get("teacher", ""),
        file=file,
        content=content,
        sha256=content_sha256(content),
        rules=data,
    )


def try_parse(content: str, file: str) -> tuple[Policy | None, list[Problem]]:
    try:
        return parse(content, file), []
    except PolicyInvalid as exc:
        return None, exc.problems


def render(template: str, variables: dict[str, Any]) -> str:
    """A template with its variables filled in; a variable the signal lacks renders as "" (parse
    checked every name is one of TEMPLATE_VARIABLES)."""
    values = {name: variables.get(name, "") for name in TEMPLATE_VARIABLES}
    return template.format_map(values)
