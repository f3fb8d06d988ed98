"""Regenerates gen/ from proto/ (buf generate + the descriptor set), into the repo or a scratch folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from services.runtime.contexts import REPO_ROOT


def generate(out_root: Path = REPO_ROOT / "gen") -> None:
    """Writes out_root/python (grpcio + pyi + betterproto2 SDK) and out_root/descriptor.binpb."""
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    python_out = out_root / "python"
    shutil.rmtree(python_out, ignore_errors=True)
    python_out.mkdir(parents=True)
    with_out = ["--output", str(out_root.parent)] if out_root != REPO_ROOT / "gen" else []
    subprocess.run(
        [str(bin_dir / "buf"), "generate", *with_out], cwd=REPO_ROOT, env=env, check=True, capture_output=True
    )
    if with_out:
        # buf writes to <output>/gen/python; move it under out_root when a scratch root was asked for
        produced = out_root.parent / "gen" / "python"
        if produced != python_out:
            shutil.rmtree(python_out)
            shutil.move(str(produced), python_out)
    subprocess.run(
        [str(bin_dir / "buf"), "build", "-o", str(out_root / "descriptor.binpb")],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


if __name__ == "__main__":
    generate()
