"""The allowlist of what a message template may contain (services/notify/template_rules.py): every
construct that could cost more than the template's text is refused when the template is saved,
named in the field violation, before anything is compiled; a template stored before the allowlist is
refused when it is rendered, not run; the templates the project uses are still accepted; and a
render that would grow past its bound is refused before it is built."""

import itertools
import sys
import time
import tracemalloc
import uuid

import pytest
from jinja2.filters import do_capitalize, do_lower, do_title, do_upper

from services.notify import domain, template_rules
from services.notify.domain import Template
from services.runtime.errors import InvalidArgument, Violations

LOOPS = (
    "{% for i in range(99999) %}{% for j in range(99999) %}{% for k in range(99999) %}"
    "{% endfor %}{% endfor %}{% endfor %}"
)
MULTIPLIED = "{{ 'x' * 10**9 }}"
PADDED = "{{ 'x'.ljust(10**9) }}"


def _refusal(body: str, subject: str = "Hi") -> str:
    v = Violations()
    domain.check_template(v, "t", subject, body, "template")
    assert [i.field for i in v.items] == ["template.body"], v.items
    return v.items[0].description


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (LOOPS, "a {% for %} loop"),
        ("{% for c in name %}{% for d in name %}{{ c }}{% endfor %}{% endfor %}", "a {% for %} loop"),
        (MULTIPLIED, "the arithmetic operator '*'"),
        (MULTIPLIED, "the arithmetic operator '**'"),
        (PADDED, "a call to the method .ljust()"),
        ("{{ name.center(10000) }}", "a call to the method .center()"),
        ("{{ name|center(10000) }}", "the filter 'center'"),
        ("{{ name|indent(10000) }}", "the filter 'indent'"),
        ("{{ name|wordwrap(1) }}", "the filter 'wordwrap'"),
        ("{{ '%09999d'|format(1) }}", "the filter 'format'"),
        ("{{ name|replace('', name) }}", "the filter 'replace'"),
        ("{{ name|join(', ') }}", "the filter 'join'"),
        ("{{ name|e }}", "the filter 'e'"),
        ("{{ name|escape }}", "the filter 'escape'"),
        ("{{ name|safe }}", "the filter 'safe'"),
        ("{{ name|trim('x') }}", "the filter 'trim' given 1 argument (it takes at most 0)"),
        ("{{ name|truncate(size) }}", "a length for the filter 'truncate' that is not a constant"),
        ("{{ name|truncate(20, width=3) }}", "the argument 'width' of the filter 'truncate'"),
        ("{{ name|truncate(20000) }}", "the number 20,000"),
        ("{{ range(3) }}", "a call to range()"),
        ("{{ lipsum(10) }}", "a call to lipsum()"),
        ("{{ dict(a=1) }}", "a call to dict()"),
        ("{{ name() }}", "a call to name()"),
        ("{{ cycler }}", "'cycler' (one of Jinja's own names, not a variable)"),
        ("{{ namespace }}{{ joiner }}", "'namespace' (one of Jinja's own names, not a variable)"),
        ("{% set x = name %}{{ x }}", "{% set %}"),
        ("{% set x %}{{ name }}{% endset %}{{ x }}", "{% set %}"),
        ("{% macro m() %}x{% endmacro %}{{ m() }}", "a {% macro %}"),
        ("{% call name() %}x{% endcall %}", "a {% call %} block"),
        ("{% include 'other' %}", "{% include %}"),
        ("{% import 'other' as o %}", "{% import %}"),
        ("{% from 'other' import m %}", "{% from ... import %}"),
        ("{% extends 'other' %}", "{% extends %}"),
        ("{% block b %}x{% endblock %}", "a {% block %}"),
        ("{% filter upper %}{{ name }}{% endfilter %}", "a {% filter %} block"),
        ("{% with a = name %}{{ a }}{% endwith %}", "a {% with %} block"),
        ("{% autoescape false %}{{ name }}{% endautoescape %}", "an {% autoescape %} block"),
        ("{{ name.upper }}", "attribute access (.upper)"),
        ("{{ name[0] }}", "item access or slicing ([...])"),
        ("{{ name[1:] }}", "item access or slicing ([...])"),
        ("{{ name + name }}", "the arithmetic operator '+'"),
        ("{{ 7 - 2 }}{{ 7 / 2 }}", "the arithmetic operator '-'"),
        ("{{ 7 // 2 }}", "the arithmetic operator '//'"),
        ("{{ name % 2 }}", "the arithmetic operator '%'"),
        ("{{ 10001 }}", "the number 10,001"),
        ("{% if name|length > -10001 %}x{% endif %}", "the number 10,001"),
        ("{{ 1e400 }}", "the number inf"),
        ("{{ 10" + "0" * 40 + " }}", "a 42-digit number"),
        ("{{ 1" + "0" * 5000 + " }}", "a number of more than 4,300 digits"),
        ("{{ [name, name] }}", "a list, tuple or dict"),
        ("{{ {'a': name} }}", "a list, tuple or dict"),
        ("{% if name in (task, 'a') %}x{% endif %}", "a list of choices that are not all constants"),
        ("{% if name is sameas task %}x{% endif %}", "the test 'sameas'"),
        (
            "{{ x }}" * (template_rules.MAX_NODES + 1),
            "tags, variables, filters and operators (at most 2,000)",
        ),
    ],
)
def test_each_construct_that_could_cost_more_than_its_text_is_refused_by_name(body, named):
    description = _refusal(body)
    assert named in description, description
    assert "which a message template may not" in description


def test_the_refusal_says_what_a_template_may_do_and_where_the_construct_is():
    description = _refusal("Hello {{ name }}\n{% for i in range(3) %}{{ i }}{% endfor %}")
    assert "a {% for %} loop (line 2)" in description
    assert "{{ name }}" in description and "{% if %}" in description and "truncate" in description


def test_the_choices_of_an_in_test_count_toward_the_size_bound():
    """`x in (1, 1, ...)` with tens of thousands of constants: each is compiled like any node, so
    they count toward MAX_NODES (a 98,000-character body of them took seconds to compile)."""
    many = "{% if name in (" + ",".join(["1"] * 49_000) + ") %}y{% endif %}"
    assert "tags, variables, filters and operators" in _refusal(many)  # refused on the parsed tree
    few = "{% if name in ('a', 'b', 'c') %}y{% endif %}"
    v = Violations()
    domain.check_template(v, "ok", "Hi", few, "template")
    assert not v.items


def test_the_subject_is_held_to_the_same_rules():
    v = Violations()
    domain.check_template(v, "t", "{{ name|center(10000) }}", "ok", "template")
    assert [(i.field, "the filter 'center'" in i.description) for i in v.items] == [
        ("template.subject", True)
    ]


@pytest.mark.parametrize("body", [LOOPS, MULTIPLIED, PADDED])
def test_the_reviews_payloads_are_refused_at_once_and_nothing_is_built(body):
    """`'x' * 10**9` would be built by Jinja's constant folding while compiling: the tree is checked
    before that, so saving it neither takes time nor memory."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        _refusal(body + "{{ nothing_cached_" + uuid.uuid4().hex + " }}")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1.0
    assert peak < 20_000_000, peak


# Every template the project and its docs save (grep '{{' in services, tests, docs, README), and
# what the allowlist is for.
ACCEPTED = [
    ("Reminder: {{ task }}", "Hello {{ student_name }}, {{ task }} is due."),
    ("{{ subject }}", "{{ body }}"),
    ("", "{{ message }}"),
    (
        "Checking in about {{ course }}",
        "Hi {{ student_name }}, we noticed {{ task }} in {{ course }} is not submitted yet.",
    ),
    (
        "Progress in {{ intervention }}",
        "Attendance {{ attendance_rate }}; minutes {{ delivered_minutes }}; next step: {{ recommendation }}.",
    ),
    ("Research: {{ topic }}", "{{ text }}"),
    ("Hello", "Hi {{ name }}, time to review {{ topic }}."),
    ("For {{ name }}", "<p>{{ name }}</p>"),
    ("", "{{ a }}{{ b }}{{ c }}"),
    ("", "{% if x %}" * 20 + "x" + "{% endif %}" * 20),
    (
        "{{ task|upper }} {{ 'due' if late is defined and late == 'no' else 'late' }}",
        "Dear {{ name|default('student')|title }},\n"
        "{% if level in ('high', 'critical') and not muted|default('') %}Urgent: "
        "{% elif level == 'low' %}FYI: {% else %}{% endif %}"
        "{{ note|striptags|trim|truncate(200, end='…') ~ '.' }}\n"
        "{{ course|d('your course', true)|lower|capitalize }} has {{ count }} tasks"
        "{% if count|length > 3 or count is none %} (many){% endif %}{# a comment #}"
        "{% raw %}{{ literally }}{% endraw %} {{- ' ' -}} {{ -3 }} {{ 10000 }} {{ 2.5 }}",
    ),
]


@pytest.mark.parametrize(("subject", "body"), ACCEPTED)
def test_the_templates_in_use_and_the_allowed_constructs_are_accepted(subject, body):
    v = Violations()
    domain.check_template(v, "t", subject, body or "x", "template")
    assert v.items == []


def test_an_allowed_template_renders_as_written_escaped_for_html():
    template = Template(uuid.uuid4(), "t", 1, ACCEPTED[-1][0], ACCEPTED[-1][1])
    variables = {
        "task": "loops",
        "name": "ann <lee>",
        "level": "high",
        "note": "<b>Well</b> done",
        "course": "PY",
        "count": "7",
    }
    r = domain.render(template, variables, body_format="html", max_length=10_000)
    assert r.subject == "LOOPS late"
    assert r.body.startswith("Dear Ann &lt;Lee&gt;,\nUrgent: Well done.\nPy has 7 tasks")
    assert "{{ literally }}" in r.body and "-3 10000 2.5" in r.body


def test_a_stored_template_that_the_rules_refuse_is_not_run_when_rendered():
    """Saved before the allowlist: rendering refuses it on `template`, naming the construct, at once."""
    for body in (
        LOOPS,
        MULTIPLIED,
        PADDED,
        "{% for c in name %}{% for d in name %}{{ c }}{% endfor %}{% endfor %}",
    ):
        stored = Template(uuid.uuid4(), "old", 4, "Hi", body)
        started = time.perf_counter()
        with pytest.raises(InvalidArgument) as err:
            domain.render(
                stored, {"name": "x" * 100_000}, body_format="html", max_length=10**9, path="message"
            )
        assert time.perf_counter() - started < 1.0
        [violation] = err.value.violations
        assert violation.field == "message.template"
        assert violation.description.startswith("template old v4 uses ")
        assert "which a message template may not" in violation.description


def test_a_render_that_could_grow_past_its_bound_is_refused_before_it_is_built():
    """Text and variables only, but a long value printed many times over: refused by its bound
    (each variable's length times its uses) with MESSAGE_TOO_LONG, before rendering."""
    many = Template(uuid.uuid4(), "many", 1, "Hi", "{{ x ~ x ~ x ~ x }}" * 300)
    with pytest.raises(InvalidArgument) as err:
        domain.render(many, {"x": "y" * 1_000}, body_format="text", max_length=10**9, path="message")
    assert err.value.reason == "MESSAGE_TOO_LONG"
    [violation] = err.value.violations
    assert violation.field == "message.variables"
    size = len("Hi") + len(many.body) + 1_200 * 1_000
    assert f"comes to {size:,} characters" in violation.description
    assert f"at most {domain.MAX_RENDERED:,}" in violation.description
    # within the bound, a preview still shows an oversize body with its length
    one = Template(uuid.uuid4(), "one", 1, "Hi", "{{ x }}")
    assert len(domain.render(one, {"x": "y" * 200_000}, body_format="html", max_length=10**9).body) == 200_000


def test_a_body_longer_than_any_channel_takes_is_refused_unparsed():
    v = Violations()
    domain.check_template(v, "t", "Hi", "x" * (domain.MAX_BODY + 1), "template")
    assert [(i.field, "at most 100,000" in i.description) for i in v.items] == [("template.body", True)]


def test_the_case_filters_grow_text_at_most_three_times_however_they_are_chained():
    """What template_rules' bound rests on (with HTML escaping's 5x at output): every character a
    case change lengthens, through any chain of upper, lower, title and capitalize."""
    changes = [do_upper, do_lower, do_title, do_capitalize]
    longer = [
        c
        for c in map(chr, range(sys.maxunicode + 1))
        if not "\ud800" <= c <= "\udfff" and any(len(f(c)) > 1 for f in changes)
    ]
    assert longer
    for c in longer:
        for chain in itertools.product(changes, repeat=4):
            text = c
            for change in chain:
                text = change(text)
            assert len(text) <= 3, (c, chain)
