"""The rules a run's move to another template version is checked by (workflow.incompatibilities: pure,
so the workflow gives the same answer on replay), on plans made from real templates."""

from __future__ import annotations

from typing import Any

from services.workflows.catalog import BUILT_IN
from services.workflows.domain.templates import Template, load
from services.workflows.workflow import incompatibilities

DOCS = (BUILT_IN / "research_to_docs.yaml").read_text()
RESEARCH_OUT = {"summary": "s", "key_points": [], "sources": [], "produced_by": "offline"}


def target(template: Template, acknowledge: bool = False) -> dict[str, Any]:
    return {**template.plan(), "reads": template.reads(), "acknowledge": acknowledge}


def check(new_text: str, started: list[str], outputs: dict[str, Any], ack: bool = False) -> list[str]:
    old, new = load(DOCS), load(new_text)
    found = incompatibilities(old.plan(), target(new, ack), started, outputs, ack)
    return [f"{p['field']}: {p['description']}" for p in found]


def test_reads_lists_each_steps_references_to_earlier_outputs() -> None:
    reads = load(DOCS).reads()
    assert reads["research"] == []
    assert reads["create_notion_page"] == [
        ["research", "key_points"], ["research", "sources"], ["research", "summary"]
    ]  # fmt: skip


def test_a_later_step_added_or_changed_is_compatible() -> None:
    added = DOCS.replace('version: "1"', 'version: "2"') + (
        "  - id: extra\n    type: analysis\n    input:\n"
        '      summary: "{{ steps.research.output.summary }}"\n'
    )
    assert check(added, ["research"], {"research": RESEARCH_OUT}) == []
    page_changed = DOCS.replace("Research: {{", "Notes: {{")
    assert check(page_changed, ["research"], {"research": RESEARCH_OUT}) == []


def test_the_same_version_is_refused() -> None:
    assert check(DOCS, [], {}) == [f"to_version: the run is on version {load(DOCS).version} already"]


def test_a_step_that_ran_must_be_there_with_its_type() -> None:
    renamed = DOCS.replace("id: create_notion_page", "id: page")
    found = check(renamed, ["research", "create_notion_page"], {"research": RESEARCH_OUT})
    assert any("step create_notion_page has run" in p and "no step create_notion_page" in p for p in found)
    retyped = (
        DOCS.replace("type: notion_page", "type: analysis")
        .replace('parent_id: "{{ env.NOTION_RESEARCH_FOLDER }}"', "")
        .replace("title:", "topic:")
        .replace("content:", "summary:")
    )
    found = check(retyped, ["research", "create_notion_page"], {"research": RESEARCH_OUT})
    assert any("create_notion_page has run as notion_page" in p and "analysis" in p for p in found), found


def test_a_changed_input_of_a_step_that_ran_needs_acknowledging() -> None:
    fewer = DOCS.replace("max_sources: 10", "max_sources: 3")
    (found,) = check(fewer, ["research"], {"research": RESEARCH_OUT})
    assert found.startswith("acknowledge: step research has run with the input of version")
    assert check(fewer, ["research"], {"research": RESEARCH_OUT}, ack=True) == []


def test_a_new_step_before_steps_that_ran_is_refused() -> None:
    before = DOCS.replace(
        "  - id: create_notion_page",
        '  - id: outline\n    type: analysis\n    input:\n      topic: "{{ input.topic }}"\n'
        "  - id: create_notion_page",
    )
    assert check(before, ["research"], {"research": RESEARCH_OUT}) == []  # the page has not started
    found = check(before, ["research", "create_notion_page"], {"research": RESEARCH_OUT})
    assert found == [
        f"to_version: version {load(before).version} puts step outline before steps that have run"
    ]


def test_an_output_the_step_that_ran_did_not_give_is_refused() -> None:
    # An output recorded without `summary` (a run started before the research step produced it).
    found = check(DOCS.replace("Research: {{", "Notes: {{"), ["research"], {"research": {"sources": []}})
    assert any("reads steps.research.output.summary" in p for p in found), found


def test_dropping_a_step_not_run_needs_acknowledging() -> None:
    pipeline = (BUILT_IN / "research_pipeline.yaml").read_text()
    old = load(pipeline)
    without_slack = pipeline[: pipeline.index("      - id: announce")]
    new = load(without_slack)
    found = incompatibilities(old.plan(), target(new), ["research"], {"research": RESEARCH_OUT}, False)
    assert [p["field"] for p in found] == ["acknowledge"] and "announce" in found[0]["description"]
    assert (
        incompatibilities(old.plan(), target(new, True), ["research"], {"research": RESEARCH_OUT}, True) == []
    )
