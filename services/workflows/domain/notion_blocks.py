"""Markdown (as the templates write it) to Notion blocks, within Notion's request limits: a rich text
object holds at most 2,000 characters, and one request carries at most 100 blocks
(developers.notion.com/reference/request-limits). A long paragraph becomes several rich text objects
in one block (split at a space where one is near); a page of more than 100 blocks is created with the
first 100 and the rest appended 100 at a time."""

from __future__ import annotations

from typing import Any

MAX_TEXT = 2000
MAX_BLOCKS = 100
MAX_RICH_TEXTS = 100  # rich text objects in one block
_HEADINGS = {"# ": "heading_1", "## ": "heading_2", "### ": "heading_3"}


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Pieces of at most `limit` characters, cut at the last space of a piece when there is one in
    its second half (so words stay whole); joined they are `text` again."""
    pieces = []
    while len(text) > limit:
        cut = text.rfind(" ", limit // 2, limit)
        cut = cut + 1 if cut > 0 else limit
        pieces.append(text[:cut])
        text = text[cut:]
    if text or not pieces:
        pieces.append(text)
    return pieces


def _rich(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"content": piece}} for piece in split_text(text)]


def _block(kind: str, text: str) -> list[dict[str, Any]]:
    rich = _rich(text)
    # A paragraph longer than 100 x 2,000 characters continues in further blocks.
    return [
        {"object": "block", "type": kind, kind: {"rich_text": rich[i : i + MAX_RICH_TEXTS]}}
        for i in range(0, len(rich), MAX_RICH_TEXTS)
    ]


def to_blocks(markdown: str) -> list[dict[str, Any]]:
    """Headings (#, ##, ###), bullets (- ) and paragraphs (consecutive lines joined)."""
    blocks: list[dict[str, Any]] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.extend(_block("paragraph", "\n".join(paragraph)))
            paragraph.clear()

    for line in markdown.splitlines():
        stripped = line.strip()
        heading = next((kind for prefix, kind in _HEADINGS.items() if stripped.startswith(prefix)), None)
        if not stripped:
            flush()
        elif heading:
            flush()
            blocks.extend(_block(heading, stripped.split(" ", 1)[1]))
        elif stripped.startswith("- "):
            flush()
            blocks.extend(_block("bulleted_list_item", stripped[2:]))
        else:
            paragraph.append(stripped)
    flush()
    return blocks


def chunks(blocks: list[dict[str, Any]], size: int = MAX_BLOCKS) -> list[list[dict[str, Any]]]:
    return [blocks[i : i + size] for i in range(0, len(blocks), size)] or [[]]


def plain_text(block: dict[str, Any]) -> str:
    kind = block["type"]
    return "".join(r["text"]["content"] for r in block[kind]["rich_text"])
