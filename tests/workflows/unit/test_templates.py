"""Templates: the seed's format, validated when loaded (a reference to an unknown step, output, input
or variable is refused at load, not at run time), rendered in Jinja2's sandbox, versioned by content;
and Notion's limits on the blocks a page is written with."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.runtime.errors import InvalidArgument
from services.workflows.catalog import BUILT_IN, TemplateFolder
from services.workflows.domain import notion_blocks, templates
from services.workflows.domain.analysis import analyse

DOCS = (BUILT_IN / "research_to_docs.yaml").read_text()


def test_the_built_in_templates_load() -> None:
    catalog = TemplateFolder().catalog
    assert {"research_to_docs", "research_to_slack", "research_pipeline"} <= set(catalog.templates)
    pipeline = catalog.get("research_pipeline")
    assert [[s.id for s in g] for g in pipeline.groups] == [
        ["research"],
        ["analysis"],
        ["document", "announce"],
    ]


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("{{ steps.nope.output.summary }}", "no earlier step"),
        ("{{ steps.research.output.nothing }}", "has no output 'nothing'"),
        ("{{ steps.research.summary }}", "steps.<id>.output"),
        ("{{ input.colour }}", "not an input"),
        ("{{ env.HOME }}", "not allowed"),
        ("{{ config }}", "unknown variable"),
        ("{{ input.topic ", "Jinja syntax error"),
    ],
)
def test_bad_references_are_refused_at_load(bad: str, problem: str) -> None:
    text = DOCS.replace('"Research: {{ input.topic }}"', f'"{bad}"')
    with pytest.raises(templates.TemplateError) as err:
        templates.load(text)
    assert problem in str(err.value)


def test_a_step_cannot_use_a_parallel_sibling() -> None:
    text = """
name: t
inputs: {topic: {required: true}}
steps:
  - parallel:
      - {id: a, type: research, input: {topic: "{{ input.topic }}"}}
      - {id: b, type: analysis, input: {summary: "{{ steps.a.output.summary }}"}}
"""
    with pytest.raises(templates.TemplateError, match="no earlier step"):
        templates.load(text)


def test_rendering_lists_defaults_and_the_sandbox() -> None:
    t = templates.load(DOCS)
    research, page = t.steps
    given = templates.render(research.input, {"topic": "sets"}, {}, {})
    assert given == {"topic": "sets", "difficulty": "intermediate", "max_sources": 10}
    out = {
        "research": {"summary": "S", "key_points": ["a", "b"], "sources": [{"title": "T", "ref": "pydoc:x"}]}
    }
    rendered = templates.render(
        page.input, {"topic": "sets"}, out, {"NOTION_RESEARCH_FOLDER": "db", "HOME": "/root"}
    )
    assert rendered["parent_id"] == "db"
    assert "- a\n- b" in rendered["content"] and "- T (pydoc:x)" in rendered["content"]
    with pytest.raises(Exception, match=r"unsafe|access"):
        templates.render("{{ input.topic.__class__.__mro__ }}", {"topic": "x"}, {}, {})


def test_version_follows_the_text_and_input_is_checked() -> None:
    a, b = templates.load(DOCS), templates.load(DOCS + "\n# edited\n")
    assert a.version != b.version and a.version.startswith("1.")
    assert a.check_input({"topic": " lists "}) == {"topic": "lists", "difficulty": "intermediate"}
    with pytest.raises(InvalidArgument) as err:
        a.check_input({"topic": "x" * 501, "colour": "red"})
    assert {v.field for v in err.value.violations} == {"input.topic", "input.colour"}


def test_a_template_edited_in_place_is_reloaded_and_a_bad_edit_kept_out(tmp_path: Path) -> None:
    (tmp_path / "docs.yaml").write_text(DOCS)
    folder = TemplateFolder(tmp_path)
    first = folder.catalog.get("research_to_docs").version
    (tmp_path / "docs.yaml").write_text(DOCS.replace("Research:", "Notes:"))
    second = folder.catalog.get("research_to_docs").version
    assert second != first
    (tmp_path / "docs.yaml").write_text(DOCS.replace("{{ input.topic }}", "{{ input.nope }}"))
    assert folder.catalog.get("research_to_docs").version == second  # the bad edit is refused, logged
    with pytest.raises(templates.TemplateError):
        TemplateFolder(tmp_path)  # ... and at start it stops the start


def test_notion_blocks_respect_the_limits() -> None:
    long = "word " * 1000  # 5,000 characters
    blocks = notion_blocks.to_blocks(
        "# Title\n\n" + long + "\n\n" + "\n".join(f"- point {i}" for i in range(150))
    )
    assert blocks[0]["type"] == "heading_1" and blocks[1]["type"] == "paragraph"
    rich = blocks[1]["paragraph"]["rich_text"]
    assert len(rich) == 3 and all(len(r["text"]["content"]) <= 2000 for r in rich)
    assert "".join(r["text"]["content"] for r in rich) == long.strip()
    chunks = notion_blocks.chunks(blocks)
    assert [len(c) for c in chunks] == [100, 52]


def test_offline_analysis() -> None:
    found = analyse("sets", "A set is an unordered collection.", "- one\n- two\n- three\n- four")
    assert found.takeaways == ("one", "two", "three") and "4 key points" in found.headline
