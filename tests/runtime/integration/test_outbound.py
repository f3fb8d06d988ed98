"""The outbound HTTP client against a real local HTTP server that answers like a third party does:
503 then 200, 429 with Retry-After (seconds or a date), 400, a destination that stays down (its
breaker opens and calls stop reaching it), one that hangs (timeout), one not listening; and a 429's
Retry-After blocking the destination for a second replica through the shared rate limit."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client import REGISTRY
from runtime_pg import migrated_postgres

from services.runtime.db import Database
from services.runtime.jobs import classify
from services.runtime.local.procs import free_port
from services.runtime.outbound import (
    CircuitOpen,
    OutboundClient,
    OutboundPolicy,
    RateLimited,
    RetryableResponse,
    TerminalResponse,
    parse_retry_after,
)
from services.runtime.ratelimit import Limit, SharedRateLimiter


class ThirdParty(BaseHTTPRequestHandler):
    """Behaviour by path: /ok, /flaky/<id> (503 once), /throttled/<id> (429 Retry-After: 1 once),
    /throttled-until/<id> (429 with an HTTP date once), /bad (400), /down (503), /later (429,
    Retry-After: 3600), /slow (answers after 2 s)."""

    calls: Counter[str] = Counter()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        path = self.path
        ThirdParty.calls[path] += 1
        first = ThirdParty.calls[path] == 1
        if path.startswith("/flaky/") and first:
            return self._answer(503)
        if path.startswith("/throttled/") and first:
            return self._answer(429, {"Retry-After": "1"})
        if path.startswith("/throttled-until/") and first:
            when = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
            return self._answer(429, {"Retry-After": when})
        if path == "/bad":
            return self._answer(400, body=b'{"error":"invalid_payload"}')
        if path == "/down":
            return self._answer(503)
        if path == "/later":
            return self._answer(429, {"Retry-After": "3600"})
        if path == "/slow":
            time.sleep(2)
        return self._answer(200, body=b"ok")

    def _answer(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def third_party() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), ThirdParty)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class Sleeps:
    """Records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _client(policy: OutboundPolicy | None = None, **kw) -> tuple[OutboundClient, Sleeps]:
    sleeps = Sleeps()
    return OutboundClient(policy, sleep=sleeps, rng=lambda: 0.5, **kw), sleeps


def _metric(dest: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "learnflow_outbound_requests_total", {"destination": dest, "outcome": outcome}
    )
    return value or 0.0


def test_a_503_is_retried_after_a_jittered_backoff(third_party):
    path = f"/flaky/{uuid.uuid4().hex}"

    async def main():
        client, sleeps = _client(OutboundPolicy(backoff_base_seconds=0.4))
        try:
            return await client.request("POST", third_party + path, json={"text": "hi"}), sleeps.waits
        finally:
            await client.aclose()

    response, waits = asyncio.run(main())
    assert response.status_code == 200 and ThirdParty.calls[path] == 2
    assert waits == [0.2]  # rng 0.5 of the first window (0.4 s)


def test_retry_after_in_seconds_and_as_a_date_is_honoured(third_party):
    seconds, date = f"/throttled/{uuid.uuid4().hex}", f"/throttled-until/{uuid.uuid4().hex}"

    async def main():
        client, sleeps = _client()
        try:
            await client.request("POST", third_party + seconds)
            await client.request("POST", third_party + date)
            return sleeps.waits
        finally:
            await client.aclose()

    waits = asyncio.run(main())
    assert waits[0] == 1.0
    assert 3.0 < waits[1] <= 5.0  # an HTTP date has whole seconds
    assert ThirdParty.calls[seconds] == 2 and ThirdParty.calls[date] == 2


def test_a_400_is_terminal_at_once_and_does_not_open_the_breaker(third_party):
    async def main():
        client, sleeps = _client(OutboundPolicy(breaker_failures=2))
        try:
            errors = []
            for _ in range(4):
                with pytest.raises(TerminalResponse) as err:
                    await client.request("POST", third_party + "/bad", destination="bad-requests")
                errors.append(err.value)
            return errors, sleeps.waits, client.breaker("bad-requests").state
        finally:
            await client.aclose()

    before = ThirdParty.calls["/bad"]
    errors, waits, state = asyncio.run(main())
    assert ThirdParty.calls["/bad"] - before == 4 and waits == []
    assert errors[0].status == 400 and "invalid_payload" in errors[0].body
    assert classify(errors[0]) == (True, None)  # a job with this error is dead at once
    assert state == "closed"


def test_a_destination_that_stays_down_opens_its_breaker_and_stops_being_called(third_party):
    async def main():
        policy = OutboundPolicy(attempts=3, breaker_failures=2, breaker_reset_seconds=60)
        client, sleeps = _client(policy)
        try:
            failures = []
            for _ in range(2):
                with pytest.raises(RetryableResponse) as err:
                    await client.request("POST", third_party + "/down", destination="down-host")
                failures.append(err.value)
            with pytest.raises(CircuitOpen) as refused:
                await client.request("POST", third_party + "/down", destination="down-host")
            # another destination on the same host is not affected
            ok = await client.request("POST", third_party + "/ok", destination="other-host")
            return failures, refused.value, ok, sleeps.waits
        finally:
            await client.aclose()

    before = ThirdParty.calls["/down"]
    refused_before = _metric("down-host", "circuit_open")
    failures, refused, ok, waits = asyncio.run(main())
    assert ThirdParty.calls["/down"] - before == 6  # 2 calls x 3 attempts, none for the refused one
    assert all(f.status == 503 and f.retry_after is None for f in failures)
    assert len(waits) == 4
    assert 59 < refused.retry_after <= 60 and classify(refused) == (False, refused.retry_after)
    assert ok.status_code == 200
    assert _metric("down-host", "circuit_open") - refused_before == 1
    assert REGISTRY.get_sample_value("learnflow_outbound_breaker_state", {"destination": "down-host"}) == 2


def test_a_long_retry_after_is_raised_for_a_job_to_schedule_not_slept_on(third_party):
    async def main():
        client, sleeps = _client()
        try:
            with pytest.raises(RetryableResponse) as err:
                await client.request("POST", third_party + "/later")
            return err.value, sleeps.waits
        finally:
            await client.aclose()

    error, waits = asyncio.run(main())
    assert error.status == 429 and error.retry_after == 3600 and waits == []
    assert classify(error) == (False, 3600)


def test_timeouts_and_refused_connections_are_retryable(third_party):
    async def main():
        client, _ = _client(OutboundPolicy(timeout_seconds=0.3, attempts=1))
        try:
            with pytest.raises(RetryableResponse) as slow:
                await client.request("POST", third_party + "/slow")
            with pytest.raises(RetryableResponse) as refused:
                await client.request("POST", f"http://127.0.0.1:{free_port()}/x")
            return slow.value, refused.value
        finally:
            await client.aclose()

    slow, refused = asyncio.run(main())
    assert "ReadTimeout" in slow.message and slow.status is None
    assert "ConnectError" in refused.message and refused.status is None


def test_parse_retry_after():
    now = datetime(2026, 12, 6, 10, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Sun, 06 Dec 2026 10:01:30 GMT", now) == 90.0
    assert parse_retry_after("Sun, 06 Dec 2026 09:00:00 GMT", now) == 0.0  # in the past
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_a_429_slows_down_every_replica_through_the_shared_limit(third_party):
    path = f"/throttled/{uuid.uuid4().hex}"
    with migrated_postgres("sandbox") as pg:

        async def main():
            db = Database(pg.app_url, pool_size=4)
            try:
                policy = OutboundPolicy(rate_limit=Limit(rate=50, burst=5), max_inline_wait_seconds=0.5)
                first, _ = _client(policy, limiter=SharedRateLimiter(db, "sandbox"))
                second, _ = _client(policy, limiter=SharedRateLimiter(db, "sandbox"))
                try:
                    # The 429 says 1 s: longer than this policy waits in-line, so it is raised...
                    with pytest.raises(RetryableResponse) as throttled:
                        await first.request("POST", third_party + path, destination="chat")
                    # ...and the other replica does not even send until the second has passed.
                    with pytest.raises(RateLimited) as held:
                        await second.request("POST", third_party + path, destination="chat")
                    await asyncio.sleep(held.value.retry_after or 0)
                    ok = await second.request("POST", third_party + path, destination="chat")
                    return throttled.value, held.value, ok
                finally:
                    await first.aclose()
                    await second.aclose()
            finally:
                await db.dispose()

        throttled, held, ok = asyncio.run(main())
    assert throttled.status == 429 and throttled.retry_after == 1.0
    assert held.status is None and 0.5 < (held.retry_after or 0) <= 1.0
    assert ok.status_code == 200 and ThirdParty.calls[path] == 2
