"""The watched policies folder: every tenant's defaults (issue #13 §2, seed FR2.3 and FR2.6).

`scan()` looks at each file's modification time, size and inode (cheap enough to run every 0.2 s; no
inotify needed). It works on a Kubernetes ConfigMap volume, whose updates are symlink swaps: each
`name.md` there is a symlink to `..data/name.md`, `..data` a symlink to a timestamped folder, and an
update writes a new folder and swaps `..data` atomically. stat() follows the links, so the file seen is
the new folder's (a new inode even when its size and modification time match the old one's; inotify on
the symlink would see nothing). tests/interventions/unit/test_policy_folder.py replays such updates. It
parses the changed ones, and keeps for each file its last good parse: an edit that does not parse
is logged with its file, line and explanation, and the previous content stays in force. Two files
defining the same policy id conflict: the file modified last wins, and a warning names both (seed
decision 2). The supervised periodic worker that calls scan() is in app.py.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from services.interventions.domain.policy import Policy, Problem, try_parse

log = logging.getLogger("learnflow.interventions.policies")
PATTERNS = ("*.md", "*.yaml", "*.yml")


@dataclass(frozen=True)
class _Good:
    policy: Policy
    mtime_ns: int


class PolicyFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._stamps: dict[str, tuple[int, int, int]] = {}
        self._good: dict[str, _Good] = {}
        self.problems: dict[str, list[Problem]] = {}
        self.defaults: dict[str, Policy] = {}
        self.scanned_at = 0.0

    def files(self) -> list[Path]:
        if not self.path.is_dir():
            return []
        found = {p for pattern in PATTERNS for p in self.path.glob(pattern)}
        return sorted(p for p in found if not p.name.upper().startswith("README") and p.is_file())

    def scan(self) -> bool:
        """Reads what changed since the last scan; True when the defaults changed."""
        self.scanned_at = time.monotonic()
        present: dict[str, tuple[int, int, int]] = {}
        for p in self.files():
            try:
                st = p.stat()
            except FileNotFoundError:  # removed between the listing and the stat
                continue
            present[p.name] = (st.st_mtime_ns, st.st_size, st.st_ino)
        changed = False
        for name, stamp in present.items():
            if self._stamps.get(name) == stamp:
                continue
            self._stamps[name] = stamp
            try:
                content = (self.path / name).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                log.error(
                    "policy file unreadable, the last good version stays",
                    extra={"file": name, "error": repr(exc)},
                )
                continue
            policy, problems = try_parse(content, name)
            if policy is None:
                self.problems[name] = problems
                for problem in problems:
                    log.error(
                        "invalid policy file, the last good version stays in force: %s",
                        problem,
                        extra={"file": name, "line": problem.line, "problem": problem.message},
                    )
                continue
            self.problems.pop(name, None)
            # A new modification time alone may change which of two conflicting files wins.
            changed = True
            self._good[name] = _Good(policy, stamp[0])
        for name in set(self._stamps) - set(present):
            del self._stamps[name]
            self.problems.pop(name, None)
            if self._good.pop(name, None) is not None:
                changed = True
                log.warning("policy file removed; tenants keep the version in force", extra={"file": name})
        if not changed:
            return False
        before = {k: p.sha256 for k, p in self.defaults.items()}
        self._rebuild()
        return before != {k: p.sha256 for k, p in self.defaults.items()}

    def _rebuild(self) -> None:
        by_id: dict[str, list[tuple[str, _Good]]] = {}
        for name, good in self._good.items():
            by_id.setdefault(good.policy.id, []).append((name, good))
        defaults: dict[str, Policy] = {}
        for policy_id, files in by_id.items():
            files.sort(key=lambda f: (f[1].mtime_ns, f[0]))
            winner = files[-1]
            if len(files) > 1:
                log.warning(
                    "policy %s is defined by %s; the last modified, %s, wins",
                    policy_id,
                    ", ".join(f for f, _ in files),
                    winner[0],
                    extra={"policy": policy_id, "files": [f for f, _ in files], "winner": winner[0]},
                )
            defaults[policy_id] = winner[1].policy
        self.defaults = defaults
