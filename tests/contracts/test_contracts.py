"""The contracts: buf lint clean, gen/ in step with proto/, no breaking change against main, and every
RPC declares who may call it."""

import filecmp
import subprocess
import sys
from pathlib import Path

import pytest

from services.runtime.codegen import generate
from services.runtime.contexts import REPO_ROOT

BUF = str(Path(sys.executable).parent / "buf")


def _diff(a: Path, b: Path) -> list[str]:
    cmp = filecmp.dircmp(a, b, ignore=["__pycache__"])
    out = [f"only in {a}: {n}" for n in cmp.left_only] + [f"only in fresh: {n}" for n in cmp.right_only]
    out += [f"differs: {a / n}" for n in cmp.diff_files]
    for sub in cmp.common_dirs:
        out += _diff(a / sub, b / sub)
    return out


def test_buf_lint_is_clean():
    proc = subprocess.run([BUF, "lint"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_gen_is_in_step_with_proto(tmp_path):
    generate(tmp_path / "gen")
    problems = _diff(REPO_ROOT / "gen" / "python", tmp_path / "gen" / "python")
    assert not problems, "gen/ is stale; run `make gen`:\n" + "\n".join(problems[:20])
    assert (REPO_ROOT / "gen" / "descriptor.binpb").read_bytes() == (
        tmp_path / "gen" / "descriptor.binpb"
    ).read_bytes()


def test_no_breaking_change_against_main():
    has_main = (
        subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", "main"], cwd=REPO_ROOT, capture_output=True
        ).returncode
        == 0
    )
    if not has_main:
        pytest.skip("no main branch in this checkout")
    on_main = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", "main", "proto/learnflow"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not on_main:
        pytest.skip("main has no protos yet: nothing to be compatible with")
    proc = subprocess.run(
        [BUF, "breaking", "--against", ".git#branch=main"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_rpc_declares_an_auth_rule():
    from gateway import descriptors

    methods = descriptors.load(REPO_ROOT / "gen" / "descriptor.binpb").methods
    assert methods
    missing = [m.grpc_path for m in methods if not m.has_rule]
    assert not missing, missing
