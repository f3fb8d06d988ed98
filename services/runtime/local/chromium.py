"""Debian's Chromium for the console's browser tests (tests/console) and bench (bench/console_pages):
where it is, how it is started on these machines, and the two screen sizes the console is checked at.
Playwright's own browser download is not reachable here; Playwright drives this binary instead."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("LEARNFLOW_CHROMIUM", "/usr/bin/chromium"))
# Flags for a closed network and a root user (REFERENCE.md, the machine notes): without the
# background-networking ones Chromium keeps trying Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def launch(playwright: Any) -> Any:
    """A headless Chromium browser from a started `sync_playwright()`."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
