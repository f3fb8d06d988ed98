"""The web console's static server (docs/console.md): the built app in console/dist, behind Envoy.

Envoy sends every GET/HEAD outside /v1/ here (gateway/envoy.py `_console_route`), so the console and
the API share one origin and the browser needs no CORS. What this server adds to plain file serving:

* the app's own paths (/teacher/alerts, /mtss/programs/…) answer index.html: the router runs in the
  browser, and a reload or a shared link must land on the app, not a 404;
* a missing asset (/assets/…) is a real 404, so a stale index.html never gets HTML for a script;
* hashed assets are cached for a year (`immutable`); index.html is revalidated on every load, so a
  new build is picked up at once;
* precompressed `.gz` siblings (written by the build) are sent to browsers that accept gzip;
* a Content-Security-Policy that allows only this origin (scripts, styles, fetch), no framing, no
  inline script: an injected string can never run as code.

`learnflow console serve` runs it (the k8s console Deployment, `learnflow up` through LocalMesh);
`/healthz` answers the probes.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from aiohttp import web

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DIST = REPO_ROOT / "console" / "dist"

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        # CodeMirror sets style attributes on its elements; no inline <style> or script is used.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


def make_app(dist: Path = DIST) -> web.Application:
    root = dist.resolve()
    index = root / "index.html"
    if not index.is_file():
        raise FileNotFoundError(f"{index} is missing: build the console first (learnflow console build)")

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def serve(request: web.Request) -> web.StreamResponse:
        rel = request.match_info["tail"]
        target = (root / rel).resolve()
        if rel and target.is_relative_to(root) and target.is_file():
            cache = IMMUTABLE if rel.startswith("assets/") else REVALIDATE
            return web.FileResponse(target, headers={**SECURITY_HEADERS, "Cache-Control": cache})
        if rel.startswith("assets/") or "." in rel.rsplit("/", 1)[-1]:
            return web.Response(status=404, text="not found\n", headers=SECURITY_HEADERS)
        return web.FileResponse(index, headers={**SECURITY_HEADERS, "Cache-Control": REVALIDATE})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/{tail:.*}", serve)
    return app


async def run(host: str, port: int, dist: Path = DIST) -> None:
    runner = web.AppRunner(make_app(dist), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("console: serving %s on http://%s:%d", dist, host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def _cmd_serve(args: argparse.Namespace) -> int:
    from services.runtime import logs

    logs.configure("INFO")
    host, _, port = args.listen.rpartition(":")
    asyncio.run(run(host or "127.0.0.1", int(port), args.dist))
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    from services.runtime.local import node

    def say(line: str) -> None:
        sys.stdout.write(line + "\n")

    node.build_console(force=args.force, progress=say)
    say(f"console: built in {node.DIST}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """`learnflow console serve|build`."""
    group = sub.add_parser(
        "console",
        help="the web console: build it, serve it (docs/console.md)",
        description="The web console. `learnflow up` builds and serves it at its REST address; these "
        "commands do each step alone (a Kubernetes pod runs `console serve`).",
    )
    group_sub = group.add_subparsers(dest="console_command", required=True, metavar="{serve,build}")
    serve = group_sub.add_parser("serve", help="serve the built console (Envoy routes / here)")
    serve.add_argument("--listen", default="127.0.0.1:8090", help="host:port (default %(default)s)")
    serve.add_argument("--dist", type=Path, default=DIST, help="the built app (default console/dist)")
    serve.set_defaults(func=_cmd_serve)
    build = group_sub.add_parser(
        "build", help="install the console's npm packages (once) and build it when its sources changed"
    )
    build.add_argument("--force", action="store_true", help="build even when console/dist is up to date")
    build.set_defaults(func=_cmd_build)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="learnflow")
    add_commands(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(["console", *(argv if argv is not None else sys.argv[1:])])
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
