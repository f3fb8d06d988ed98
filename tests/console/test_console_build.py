"""The console as files and headers: its API types are generated from the current OpenAPI document
(stale types fail here, so the console and the contracts cannot drift), the first page stays within
its JavaScript budget, and Envoy serves the app beside the API with the right headers."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

from services.runtime.local import node

FIRST_PAGE_JS_BUDGET = 250 * 1024  # issue #17: JavaScript shipped for the first page, gzipped


def test_the_typed_api_client_matches_the_openapi_document():
    fresh = node.generate_api_schema()
    assert node.SCHEMA.read_text() == fresh, (
        "console/src/api/schema.d.ts is stale: run `make gen` (it regenerates it from gateway/openapi.yaml)"
    )


def test_the_first_page_ships_at_most_250_kb_of_gzipped_javascript():
    dist = node.build_console()
    scripts = node.first_page_scripts(dist)
    assert scripts and all(s.is_file() for s in scripts), scripts
    size = node.first_page_js_gzip_bytes(dist)
    assert size <= FIRST_PAGE_JS_BUDGET, f"first page: {size} bytes of gzipped JavaScript ({scripts})"


def _get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def test_envoy_serves_the_app_beside_the_api(mesh):
    status, headers, body = _get(mesh.rest_url + "/mtss/programs")  # an app path: the app, for its router
    assert status == 200 and b'<div id="app">' in body
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["cache-control"] == "no-cache"
    asset = re.search(rb'src="(/assets/[^"]+\.js)"', body).group(1).decode()
    status, headers, _ = _get(mesh.rest_url + asset, **{"accept-encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert "immutable" in headers["cache-control"]
    # A missing asset is a 404 (never index.html served as a script); the API keeps its JSON errors.
    assert _get(mesh.rest_url + "/assets/missing.js")[0] == 404
    status, headers, body = _get(mesh.rest_url + "/v1/no-such-thing")
    assert status == 404 and headers["content-type"].startswith("application/json")
    # Nothing outside the built app is reachable, however the path is spelled.
    for path in ("/../pyproject.toml", "/%2e%2e/pyproject.toml", "/assets/..%2f..%2fpyproject.toml"):
        status, _, body = _get(mesh.rest_url + path)
        assert b"[project]" not in body, path
