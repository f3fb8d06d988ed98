"""The watched policies folder as Kubernetes mounts it: a ConfigMap volume, updated by the kubelet's
atomic writer. Each `name.md` is a symlink to `..data/name.md`, `..data` a symlink to a timestamped
folder holding the files, and an update writes a new timestamped folder, swaps `..data` to it with one
rename and removes the old folder. The watcher must see every such update (a changed file, a file
added, one removed, an invalid edit) without being told, as it sees a plain file saved in place."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from services.interventions.folder import PolicyFolder

POLICIES = Path(__file__).resolve().parents[3] / "policies"
_STAMPS = itertools.count(1)


class ConfigMapVolume:
    """What the kubelet's AtomicWriter makes of a ConfigMap in the pod's volume folder."""

    def __init__(self, root: Path):
        self.root = root
        self.current: Path | None = None

    def write(self, files: dict[str, str], *, mtime_ns: int | None = None) -> None:
        new = self.root / f"..2026_12_06_15_00_00.{next(_STAMPS):09d}"
        new.mkdir()
        for name, content in files.items():
            (new / name).write_text(content, encoding="utf-8")
            if mtime_ns is not None:  # a file whose time and size match the old one's
                os.utime(new / name, ns=(mtime_ns, mtime_ns))
        swap = self.root / "..data_tmp"
        swap.symlink_to(new.name)
        os.replace(swap, self.root / "..data")  # the atomic swap: readers see old or new, never half
        for name in files:
            link = self.root / name
            if not link.is_symlink():
                link.symlink_to(f"..data/{name}")
        for link in self.root.iterdir():
            if link.is_symlink() and not link.name.startswith("..") and link.name not in files:
                link.unlink()
        if self.current is not None:
            for f in self.current.iterdir():
                f.unlink()
            self.current.rmdir()
        self.current = new


@pytest.fixture
def volume(tmp_path: Path) -> ConfigMapVolume:
    return ConfigMapVolume(tmp_path)


def policy(name: str) -> str:
    return (POLICIES / name).read_text(encoding="utf-8")


def test_the_files_of_a_configmap_volume_are_read_and_its_hidden_folders_are_not(volume):
    volume.write({"calm_break.md": policy("calm_break.md"), "review_concept.md": policy("review_concept.md")})
    folder = PolicyFolder(volume.root)
    assert folder.scan()
    assert sorted(folder.defaults) == ["calm_break", "review_concept"]
    assert [p.name for p in folder.files()] == ["calm_break.md", "review_concept.md"]
    assert not folder.scan()  # nothing changed: nothing re-read


def test_an_update_swapped_in_is_seen_even_with_the_same_size_and_modification_time(volume):
    calm = policy("calm_break.md")
    volume.write({"calm_break.md": calm})
    folder = PolicyFolder(volume.root)
    folder.scan()
    assert volume.current is not None
    old = (volume.current / "calm_break.md").stat()
    edited = calm.replace("urgency: 40", "urgency: 45")
    assert len(edited) == len(calm)
    volume.write({"calm_break.md": edited}, mtime_ns=old.st_mtime_ns)
    new = (volume.root / "calm_break.md").stat()
    assert (new.st_mtime_ns, new.st_size) == (old.st_mtime_ns, old.st_size)
    assert folder.scan(), "the swap was not seen"
    assert folder.defaults["calm_break"].urgency == 45


def test_files_added_and_removed_through_the_configmap(volume):
    volume.write({"calm_break.md": policy("calm_break.md")})
    folder = PolicyFolder(volume.root)
    folder.scan()
    volume.write({"calm_break.md": policy("calm_break.md"), "ask_teacher.md": policy("ask_teacher.md")})
    assert folder.scan() and sorted(folder.defaults) == ["ask_teacher", "calm_break"]
    volume.write({"ask_teacher.md": policy("ask_teacher.md")})
    folder.scan()
    # A removed file is logged; its policy stays what the tenants have in force (folder.py).
    assert sorted(p.name for p in folder.files()) == ["ask_teacher.md"]
    assert "calm_break" not in folder.defaults


def test_an_invalid_update_keeps_the_last_good_policy_and_names_the_line(volume):
    calm = policy("calm_break.md")
    volume.write({"calm_break.md": calm})
    folder = PolicyFolder(volume.root)
    folder.scan()
    volume.write({"calm_break.md": calm.replace("urgency: 40", "urgency: loud")})
    assert not folder.scan()
    assert folder.defaults["calm_break"].urgency == 40
    (problem,) = folder.problems["calm_break.md"]
    assert problem.line == 6 and "urgency" in problem.message
    volume.write({"calm_break.md": calm.replace("urgency: 40", "urgency: 30")})
    assert folder.scan() and folder.defaults["calm_break"].urgency == 30
    assert "calm_break.md" not in folder.problems
