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
