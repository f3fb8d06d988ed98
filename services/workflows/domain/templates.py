"""Workflow templates: YAML in the seed's format, validated when loaded, rendered with Jinja2's
sandboxed environment when a step runs.

    name: research_to_docs
    version: "1"
    inputs: {topic: {required: true, max_len: 500}, difficulty: {default: intermediate}}
    steps:
      - id: research
        type: research
        input: {topic: "{{ input.topic }}", difficulty: "{{ input.difficulty | default('intermediate') }}"}
      - parallel:                       # steps that run at the same time
          - {id: page, type: notion_page, input: {title: "Research: {{ input.topic }}", ...}}
          - {id: post, type: slack_message, input: {text: "{{ steps.research.output.summary }}"}}

Refused at load, never at run time: a reference to an input the template does not declare, to a step
that is not an earlier one, to an output the step's type does not produce, to an `env.X` outside the
allow-list, to any other variable; a Jinja syntax error; a duplicate step id; an unknown step type.

A template's version is its declared `version` plus a hash of its text: a run is started with the
whole definition (its plan) pinned in its Temporal input, so editing or deploying a template never
changes a run already started — it finishes on the version it began with.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2
import yaml
from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

from services.runtime.errors import FieldViolation, InvalidArgument

# What each step type takes and produces (the references a template may make to its output).
STEP_TYPES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "research": (
        frozenset({"topic", "difficulty", "max_sources"}),
        frozenset({"summary", "key_points", "sources", "produced_by"}),
    ),
    "analysis": (
        frozenset({"topic", "summary", "key_points"}),
        frozenset({"headline", "takeaways", "reading_minutes", "produced_by"}),
    ),
    "notion_page": (frozenset({"title", "content", "parent_id"}), frozenset({"page_id", "url", "blocks"})),
    "slack_message": (frozenset({"channel", "text"}), frozenset({"message_id", "channel", "status"})),
}
# The variables `{{ env.X }}` may read: settings the operator chose, never the process environment.
ENV_ALLOWED = frozenset({"NOTION_RESEARCH_FOLDER", "SLACK_CHANNEL"})
DEFAULT_MAX_LEN = 2000
_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


class TemplateError(ValueError):
    """A template that cannot be loaded: every problem, each naming where it is."""

    def __init__(self, name: str, problems: list[str]):
        super().__init__(f"template {name}: " + "; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class InputSpec:
    name: str
    required: bool = False
    default: str | None = None
    max_len: int = DEFAULT_MAX_LEN


@dataclass(frozen=True)
class Step:
    id: str
    type: str
    input: Mapping[str, Any]
    group: int  # steps of one group run in parallel; groups run in order


@dataclass(frozen=True)
class Template:
    name: str
    version: str
    description: str
    inputs: tuple[InputSpec, ...]
    steps: tuple[Step, ...]
    source: str = field(repr=False, default="")

    @property
    def groups(self) -> list[list[Step]]:
        out: list[list[Step]] = []
        for step in self.steps:
            if not out or out[-1][0].group != step.group:
                out.append([])
            out[-1].append(step)
        return out

    def plan(self) -> dict[str, Any]:
        """The definition a run carries (pinned in its Temporal input): plain data."""
        return {
            "template": self.name,
            "version": self.version,
            "groups": [
                [{"id": s.id, "type": s.type, "input": dict(s.input)} for s in g] for g in self.groups
            ],
        }

    def reads(self) -> dict[str, list[list[str]]]:
        """Per step, the outputs of earlier steps its input reads: {"page": [["research", "summary"]]}
        (a run moving to this version must have them: workflow.incompatibilities)."""
        out: dict[str, list[list[str]]] = {}
        for step in self.steps:
            found: set[tuple[str, str]] = set()
            for _, source in _strings(step.input, ""):
                for chain in _chains(_ENV.parse(source)):
                    if chain[0] == "steps" and len(chain) > 3 and chain[2] == "output":
                        found.add((chain[1], chain[3]))
            out[step.id] = [list(pair) for pair in sorted(found)]
        return out

    def check_input(self, given: Mapping[str, str]) -> dict[str, str]:
        """The run's input with defaults filled in; InvalidArgument naming each bad field."""
        specs = {i.name: i for i in self.inputs}
        problems = [
            FieldViolation(f"input.{k}", "is not an input of this template") for k in given if k not in specs
        ]
        out: dict[str, str] = {}
        for spec in self.inputs:
            value = given.get(spec.name, "").strip()
            if not value and spec.default is not None:
                value = spec.default
            if spec.required and not value:
                problems.append(FieldViolation(f"input.{spec.name}", "is required"))
            elif len(value) > spec.max_len:
                problems.append(
                    FieldViolation(f"input.{spec.name}", f"is longer than {spec.max_len} characters")
                )
            elif value:
                out[spec.name] = value
        if problems:
            raise InvalidArgument(f"input does not fit template {self.name}", problems)
        return out


def load(text: str, origin: str = "") -> Template:
    """Parses and validates one template (TemplateError lists every problem)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TemplateError(origin or "?", [f"not YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise TemplateError(origin or "?", ["a template is a mapping with name, inputs and steps"])
    name = str(raw.get("name") or "")
    problems: list[str] = []
    if not name.isidentifier() or not name.islower():
        problems.append(f"name {name!r}: lower-case letters, digits and _")
    inputs = _inputs(raw.get("inputs") or {}, problems)
    steps = _steps(raw.get("steps"), problems)
    declared = {i.name for i in inputs}
    seen: dict[str, str] = {}  # step id -> type, of earlier groups
    for group in _grouped(steps):
        for step in group:
            for where, source in _strings(step.input, f"steps.{step.id}.input"):
                problems += [f"{where}: {p}" for p in _check_refs(source, declared, seen)]
        for step in group:
            seen[step.id] = step.type
    if problems:
        raise TemplateError(name or origin or "?", problems)
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return Template(
        name=name,
        version=f"{raw.get('version', '1')}.{digest}",
        description=str(raw.get("description") or ""),
        inputs=inputs,
        steps=tuple(steps),
        source=text,
    )


def _inputs(raw: Any, problems: list[str]) -> tuple[InputSpec, ...]:
    if not isinstance(raw, dict):
        problems.append("inputs: a mapping of input name to {required, default, max_len}")
        return ()
    out = []
    for key, spec in raw.items():
        spec = spec or {}
        if not isinstance(spec, dict) or not str(key).isidentifier():
            problems.append(f"inputs.{key}: a name and a mapping")
            continue
        default = spec.get("default")
        out.append(
            InputSpec(
                str(key),
                bool(spec.get("required", False)),
                None if default is None else str(default),
                int(spec.get("max_len", DEFAULT_MAX_LEN)),
            )
        )
    return tuple(out)


def _steps(raw: Any, problems: list[str]) -> list[Step]:
    if not isinstance(raw, list) or not raw:
        problems.append("steps: a non-empty list")
        return []
    out: list[Step] = []
    ids: set[str] = set()
    for group, item in enumerate(raw):
        members = item.get("parallel") if isinstance(item, dict) and "parallel" in item else [item]
        if not isinstance(members, list) or not members:
            problems.append(f"steps[{group}].parallel: a non-empty list of steps")
            continue
        for member in members:
            if not isinstance(member, dict):
                problems.append(f"steps[{group}]: a step is a mapping with id, type and input")
                continue
            sid, stype = str(member.get("id") or ""), str(member.get("type") or "")
            step_input = member.get("input") or {}
            if not sid.isidentifier():
                problems.append(f"steps[{group}].id {sid!r}: letters, digits and _")
            elif sid in ids:
                problems.append(f"steps.{sid}: the id is used twice")
            ids.add(sid)
            if stype not in STEP_TYPES:
                problems.append(f"steps.{sid}.type {stype!r}: one of {sorted(STEP_TYPES)}")
            elif not isinstance(step_input, dict):
                problems.append(f"steps.{sid}.input: a mapping")
            else:
                unknown = set(step_input) - STEP_TYPES[stype][0]
                if unknown:
                    problems.append(f"steps.{sid}.input: {sorted(unknown)} not taken by {stype}")
                out.append(Step(sid, stype, step_input, group))
    return out


def _grouped(steps: list[Step]) -> Iterator[list[Step]]:
    group: list[Step] = []
    for step in steps:
        if group and group[0].group != step.group:
            yield group
            group = []
        group.append(step)
    if group:
        yield group


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{where}[{i}]")


def _check_refs(source: str, inputs: set[str], earlier: dict[str, str]) -> list[str]:
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        return [f"Jinja syntax error: {exc.message}"]
    problems = []
    for chain in _chains(tree):
        root, rest = chain[0], chain[1:]
        if root == "input":
            if not rest or rest[0] not in inputs:
                problems.append(f"input.{'.'.join(rest)}: not an input of the template ({sorted(inputs)})")
        elif root == "env":
            if not rest or rest[0] not in ENV_ALLOWED:
                problems.append(f"env.{'.'.join(rest)}: not allowed (only {sorted(ENV_ALLOWED)})")
        elif root == "steps":
            if not rest or rest[0] not in earlier:
                problems.append(f"steps.{'.'.join(rest)}: no earlier step of that id ({sorted(earlier)})")
            elif len(rest) < 2 or rest[1] != "output":
                problems.append(f"steps.{'.'.join(rest)}: a step's result is steps.<id>.output.<name>")
            elif len(rest) > 2 and rest[2] not in STEP_TYPES[earlier[rest[0]]][1]:
                outputs = sorted(STEP_TYPES[earlier[rest[0]]][1])
                problems.append(
                    f"steps.{'.'.join(rest)}: {earlier[rest[0]]} has no output {rest[2]!r} ({outputs})"
                )
        else:
            problems.append(f"{root}: unknown variable (input, steps, env)")
    return problems


def _chains(node: nodes.Node) -> Iterator[list[str]]:
    """Every variable reference as its attribute path: `steps.research.output.summary` ->
    ["steps", "research", "output", "summary"]."""
    if isinstance(node, nodes.Getattr | nodes.Getitem):
        path: list[str] = []
        base: nodes.Node = node
        while isinstance(base, nodes.Getattr | nodes.Getitem):
            if isinstance(base, nodes.Getattr):
                path.append(base.attr)
            elif isinstance(base.arg, nodes.Const):
                path.append(str(base.arg.value))
            else:
                yield from _chains(base.arg)
                path.clear()
            base = base.node
        if isinstance(base, nodes.Name):
            yield [base.name, *reversed(path)]
            return
        yield from _chains(base)
        return
    if isinstance(node, nodes.Name):
        if node.ctx == "load":
            yield [node.name]
        return
    for child in node.iter_child_nodes():
        yield from _chains(child)


# --- rendering (in the activity that runs the step) -------------------------------------------------


def _finalize(value: Any) -> Any:
    """How a list or a source reads in text: a Markdown bullet list, a source as "title (ref)"."""
    if isinstance(value, list | tuple):
        return "\n".join(f"- {_finalize(v)}" for v in value)
    if isinstance(value, dict):
        if "title" in value:
            ref = value.get("ref") or value.get("url") or ""
            return f"{value['title']} ({ref})" if ref else str(value["title"])
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return value


_RENDER = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, finalize=_finalize)


@functools.lru_cache(maxsize=512)
def _compiled(source: str) -> jinja2.Template:
    """A step input's template, compiled once: compiling (parse, generate Python, compile it) cost
    more than the rest of a step's Python together (bench/workflows_runs.py, profiled). The sources are
    the strings of the templates' versions runs carry, a small set."""
    return _RENDER.from_string(source)


def render(
    value: Any, run_input: Mapping[str, str], outputs: Mapping[str, Any], env: Mapping[str, str]
) -> Any:
    """A step's input with every string rendered: `input`, `steps.<id>.output` and the allowed `env`.
    Input defaults missing from the run's input render as empty (`| default(...)` supplies them)."""
    context = {
        "input": dict(run_input),
        "steps": {k: {"output": v} for k, v in outputs.items()},
        "env": {k: v for k, v in env.items() if k in ENV_ALLOWED},
    }
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        return _compiled(value).render(context).strip()
    if isinstance(value, dict):
        return {k: render(v, run_input, outputs, env) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, run_input, outputs, env) for v in value]
    return value


class Catalog:
    """The templates a service runs, by name (loaded from a folder; reloaded when a file changes)."""

    def __init__(self, templates: Mapping[str, Template]):
        self.templates = dict(templates)

    def get(self, name: str) -> Template:
        found = self.templates.get(name)
        if found is None:
            known = ", ".join(sorted(self.templates))
            raise InvalidArgument(
                f"no workflow template {name!r}",
                [FieldViolation("template", f"unknown template {name!r}; one of: {known}")],
                reason="TEMPLATE_NOT_FOUND",
            )
        return found
