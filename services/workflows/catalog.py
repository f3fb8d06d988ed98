"""The templates folder: every `*.yaml` loaded and validated at start (a bad template stops the start
with every problem listed), and read again when a file changes, so a template edited in place is used
by the next run while runs already started keep the version they began with (their plan is pinned)."""

from __future__ import annotations

import logging
from pathlib import Path

from services.workflows.domain.templates import Catalog, Template, TemplateError, load

log = logging.getLogger(__name__)
BUILT_IN = Path(__file__).resolve().parent / "templates"


class TemplateFolder:
    def __init__(self, folder: Path = BUILT_IN):
        self.folder = folder
        self._stamp: tuple[tuple[str, int, int], ...] = ()
        self._catalog = Catalog({})
        self.refresh(strict=True)

    def _stamps(self) -> tuple[tuple[str, int, int], ...]:
        return tuple(
            (p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(self.folder.glob("*.yaml"))
        )

    def refresh(self, strict: bool = False) -> None:
        """Reloads when a file changed. At start (strict) a bad template raises; later it is logged
        and the previous catalog kept, so a bad edit never stops the service."""
        stamp = self._stamps()
        if stamp == self._stamp:
            return
        loaded: dict[str, Template] = {}
        problems: list[str] = []
        for path in sorted(self.folder.glob("*.yaml")):
            try:
                template = load(path.read_text(), path.name)
            except TemplateError as exc:
                problems.append(f"{path.name}: {exc}")
                continue
            loaded[template.name] = template
        if problems:
            if strict:
                raise TemplateError(str(self.folder), problems)
            log.error("templates not reloaded", extra={"problems": problems})
            return
        self._stamp = stamp
        self._catalog = Catalog(loaded)

    @property
    def catalog(self) -> Catalog:
        self.refresh()
        return self._catalog
