"""A small synchronous client of the local provider servers' JSON API (tests, benches, the CLI)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class FakesError(Exception):
    pass


class FakesClient:
    def __init__(self, url: str, timeout: float = 5.0):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310 (ours)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise FakesError(
                f"{method} {path}: HTTP {exc.code}: {exc.read().decode(errors='replace')}"
            ) from None
        except OSError as exc:
            raise FakesError(f"the local provider servers at {self.url} are not reachable: {exc}") from None

    def messages(self, provider: str | None = None) -> list[dict[str, Any]]:
        query = f"?provider={provider}" if provider else ""
        return list(self._call("GET", f"/_api/messages{query}")["messages"])

    def state(self) -> dict[str, Any]:
        return dict(self._call("GET", "/_api/state"))

    def reset(self) -> None:
        self._call("POST", "/_api/reset")

    def add_user(self, provider: str, email: str, full_name: str = "", *, active: bool = True) -> int:
        body = {"email": email, "full_name": full_name, "active": active}
        return int(self._call("POST", f"/_api/{provider}/users", body)["id"])

    def mark_read(self, provider: str, message_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/_api/{provider}/messages/{message_id}/read"))

    def fault(self, provider: str, **fault: Any) -> dict[str, Any]:
        """Inject a fault (services/notify/fakes/state.py Fault: status, count, fraction, seed,
        retry_after, errorcode, errormessage, operations, then: the fault that follows this one;
        after_serving "drop" / "delay" / "status" with delay_seconds: the call served, its answer lost)."""
        return dict(self._call("PUT", f"/_api/{provider}/fault", fault))

    def clear_fault(self, provider: str) -> None:
        self._call("DELETE", f"/_api/{provider}/fault")
