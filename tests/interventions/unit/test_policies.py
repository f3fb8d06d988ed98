"""Policy files: the shipped examples parse; every bad edit is reported with its line and a plain
explanation; `learnflow policy check` exits non-zero on errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.interventions.cli import check_files
from services.interventions.domain.policy import PolicyInvalid, parse

POLICIES = Path(__file__).resolve().parents[3] / "policies"
GOOD = (POLICIES / "review_concept.md").read_text()


def problems(content: str, file: str = "p.md") -> list[str]:
    with pytest.raises(PolicyInvalid) as caught:
        parse(content, file)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("name", ["review_concept", "ask_teacher", "calm_break", "teacher_alert"])
def test_shipped_policies_parse(name: str) -> None:
    policy = parse((POLICIES / f"{name}.md").read_text(), f"{name}.md")
    assert policy.id == name
    assert policy.mode == "enforce"


def test_a_plain_yaml_rule_file_is_the_front_matter_alone() -> None:
    front = GOOD.split("---")[1]
    policy = parse(front, "legacy.yaml")
    assert policy.id == "review_concept" and policy.conditions[0].describe() == "rule is repeated_error"


def test_an_unknown_intervention_type_names_its_line_and_the_choices() -> None:
    bad = GOOD.replace("intervention: review_concept", "intervention: scold")
    (line,) = problems(bad)
    assert line.startswith("p.md:4: intervention is 'scold'; it must be one of calm_break, ask_teacher")


def test_a_template_naming_an_unknown_variable_is_refused_with_its_line() -> None:
    bad = GOOD.replace("Hi {student_name}", "Hi {first_name}")
    (line,) = problems(bad)
    assert line.startswith("p.md:15: message.student names {first_name}, which no signal provides")


def test_a_typo_in_a_setting_and_a_bad_number_are_both_reported() -> None:
    bad = GOOD.replace("urgency: 60", "urgencyy: 60").replace("cooldown_minutes: 120", "cooldown_minutes: -5")
    found = problems(bad)
    assert any(p.startswith("p.md:7:") and "cooldown_minutes is -5" in p for p in found)
    assert any(p.startswith("p.md:6:") and "urgencyy" in p and "typo" in p for p in found)


def test_broken_yaml_reports_the_line() -> None:
    bad = GOOD.replace("    - field: rule\n", "    - field: [rule\n")
    (line,) = problems(bad)
    assert line.startswith("p.md:12:") and "not valid YAML" in line


def test_a_cel_expression_that_does_not_compile_is_refused() -> None:
    bad = GOOD.replace(
        "    - field: rule\n      is: repeated_error\n", "    - expression: 'signal.count >= '\n"
    )
    (line,) = problems(bad)
    assert line.startswith("p.md:11: when.all.0.expression does not compile as CEL")


def _with_expression(expression: str) -> str:
    """The review policy with its first condition an expression (on line 11, as YAML single-quoted)."""
    quoted = "'" + expression.replace("'", "''") + "'"
    return GOOD.replace("    - field: rule\n      is: repeated_error\n", f"    - expression: {quoted}\n")


def nested_all(depth: int) -> str:
    """`[0,...,0].all(a, [0,...,0].all(b, ... true))`: 10^depth steps, about 30 characters a level."""
    ten = "[" + ",".join("0" * 10) + "]"
    expression = "true"
    for name in "abcdefghij"[:depth]:
        expression = f"{ten}.all({name},{expression})"
    return expression


@pytest.mark.parametrize(
    "expression",
    [
        nested_all(8),  # 10^8 steps in 236 characters: hours of one replica's event loop
        "[1, 2].exists(x, x == signal.count)",
        "[1, 2].exists_one(x, x == signal.count)",
        "[1, 2].map(x, x * 2) == [2, 4]",
        "size([1, 2].filter(x, x > 1)) == 1",
        "[1, 2].reduce(r, x, 0, r + x) == 3",
        "signal.count > 0 && [[1]].all(l, l.all(x, x > 0))",  # anywhere in the expression
    ],
)
def test_an_expression_that_loops_over_a_list_is_refused_with_its_line(expression: str) -> None:
    (line,) = problems(_with_expression(expression))
    macro = next(
        m for m in ("exists_one", "exists", "all", "map", "filter", "reduce") if f".{m}(" in expression
    )
    assert line.startswith(f"p.md:11: when.all.0.expression uses .{macro}(), which repeats a condition")


def test_an_expression_writing_more_than_fifty_items_is_refused_with_its_line() -> None:
    items = ", ".join(f'"t{i}"' for i in range(51))
    (line,) = problems(_with_expression(f"signal.topic in [{items}]"))
    assert line == (
        "p.md:11: when.all.0.expression writes a list of 51 items; a condition names at most 50 "
        "(split it, or use is_one_of)"
    )
    pairs = ", ".join(f'"t{i}": {i}' for i in range(51))
    (line,) = problems(_with_expression(f'{{{pairs}}}["t0"] == 0'))
    assert line.startswith("p.md:11: when.all.0.expression writes a map of 51 items")


def test_an_expression_with_a_small_list_and_a_comparison_is_accepted() -> None:
    items = ", ".join(f'"t{i}"' for i in range(50))
    for expression in (
        'signal.topic in ["loops", "lists"] && signal.count >= 3',
        f"signal.topic in [{items}]",
        'size(signal.explanation) > 10 || signal.error.startsWith("Name")',
    ):
        policy = parse(_with_expression(expression), "p.md")
        assert policy.conditions[0].expression == expression


def test_a_missing_closing_fence_is_explained() -> None:
    (line,) = problems("---\nid: x\n")
    assert "never closed" in line


def test_canary_needs_its_percent() -> None:
    (line,) = problems(GOOD.replace("mode: enforce", "mode: canary"))
    assert "canary_percent" in line


def test_policy_check_exit_status_and_report(tmp_path: Path) -> None:
    good = tmp_path / "review_concept.md"
    good.write_text(GOOD)
    bad = tmp_path / "bad.md"
    bad.write_text(GOOD.replace("intervention: review_concept", "intervention: scold"))
    status, report = check_files([str(good)])
    assert status == 0 and "OK — policy review_concept" in report and "rule is repeated_error" in report
    status, report = check_files([str(good), str(bad)])
    assert status == 1
    assert f"{bad}:4: intervention is 'scold'" in report
    assert "1 of 2 file(s) invalid" in report


# What YAML can say and JSON cannot (the schema's validators raised on it: INTERNAL, not a report).
RULE = "- field: rule\n      is: repeated_error"


def test_a_date_written_in_yaml_stays_the_text_it_was_written_as() -> None:
    dated = GOOD.replace("title: Review the concept after repeated mistakes", "title: 2024-09-01").replace(
        "is: repeated_error", "is: 2024-05-01"
    )
    policy = parse(dated, "p.md")
    assert policy.title == "2024-09-01" and policy.conditions[0].value == "2024-05-01"
    assert policy.rules["title"] == "2024-09-01"  # the stored version's JSON


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("urgency: 60", "urgency: 60\n1: x"), "p.md:7: a setting is named 1, written as a number"),
        (("urgency: 60", "urgency: 60\ntrue: x"), "p.md:7: a setting is named true, written as true or"),
        (("title: Review", "title: !!timestamp 2024-09-01\nx: Review"), "p.md:3: title is a date or time"),
        (("is: repeated_error", "is: !!binary aGVsbG8="), "p.md:12: when.all.0.is is bytes"),
        (("is: repeated_error", "is: !!set {a: null}"), "p.md:12: when.all.0.is is a set"),
        (("urgency: 60", "urgency: !!int sixty"), "p.md:6: urgency is 'sixty', which is not a number"),
    ],
)
def test_values_json_cannot_hold_are_reported_with_their_line(edit: tuple[str, str], expected: str) -> None:
    found = problems(GOOD.replace(*edit))
    assert found[0].startswith(expected), found


def test_numbers_that_are_not_finite_are_reported_with_their_line() -> None:
    minutes = GOOD.replace(RULE, "- field: minutes\n      at_least: .nan")
    assert problems(minutes) == [
        "p.md:12: when.all.0.at_least is .nan, which is not a finite number; write a number such as 10"
    ]
    (line,) = problems(GOOD.replace("is: repeated_error", "is: -.inf"))
    assert line.startswith("p.md:12: when.all.0.is is -.inf, which is not a finite number")
    (line,) = problems(minutes.replace(".nan", "1" + "0" * 400))
    assert line == "p.md:12: when.all.0.at_least is too large a number to compare (more than 300 digits)"


def test_aliases_repeating_more_than_a_policy_needs_are_refused_at_once() -> None:
    # Nine lines, a billion values: the schema's messages would print them all.
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + [
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)
    ]
    bomb = GOOD.replace("urgency: 60", "urgency: 60\nextra: {" + ", ".join(levels) + "}")
    assert problems(bomb) == [
        "p.md:2: the settings hold more than 10000 values once their aliases (*name) are repeated "
        "where they stand; a policy needs far fewer"
    ]
    (line,) = problems(GOOD.replace("urgency: 60", "urgency: &u [*u]"))
    assert "more than 10000 values" in line
    merged = GOOD.replace("urgency: 60\n", "").replace("mode: enforce", "<<: &u {urgency: 60}\nmode: enforce")
    assert parse(merged, "p.md").urgency == 60  # an alias repeating a little is fine


def test_a_text_value_for_a_numeric_fact_is_refused_with_its_line() -> None:
    minutes = GOOD.replace(RULE, '- field: minutes\n      is: "ten"')
    assert problems(minutes) == [
        "p.md:12: when.all.0.is is 'ten', but minutes is a number: write one, e.g. 10"
    ]
    choices = GOOD.replace(RULE, "- field: count\n      is_one_of: [3, three]")
    assert problems(choices) == [
        "p.md:12: when.all.0.is_one_of.1 is 'three', but count is a number: write one, e.g. 10"
    ]
    assert parse(minutes.replace('"ten"', '"10"'), "p.md").conditions[0].value == "10"  # reads as 10


@pytest.mark.parametrize("written", ["{duration:.0f}", "{topic!x}", "{topic!r}", "{topic:>1000000000}"])
def test_a_template_with_a_format_or_conversion_is_refused_with_its_line(written: str) -> None:
    (line,) = problems(GOOD.replace("{student_name}", written))
    name = written[1:].split(":")[0].split("!")[0]
    assert line.startswith(f"p.md:15: message.student writes {written}: a template names a variable as it is")
    assert line.endswith(f"write {{{name}}}")
