"""The outbound HTTP client against a real local HTTP server that answers like a third party does:
503 then 200, 429 with Retry-After (seconds or a date), 400, a destination that stays down (its
breaker opens and calls stop reaching it), one that hangs (timeout), one that takes the request and
drops the connection, one not listening; and a 429's Retry-After blocking the destination for a
second replica through the shared rate limit. A request that is not idempotent (POST) is repeated
in-line only when the failure proves it was not acted on; otherwise it is OutcomeUnknown."""

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
    OutcomeUnknown,
    RateLimited,
    RetryableResponse,
    TerminalResponse,
    parse_retry_after,
)
from services.runtime.ratelimit import Limit, SharedRateLimiter


class ThirdParty(BaseHTTPRequestHandler):
    """Behaviour by path (every method alike): /ok, /flaky/<id> (503 once), /busy/<id> (503 with
    Retry-After: 1 once), /throttled/<id> (429 Retry-After: 1 once), /throttled-until/<id> (429 with
    an HTTP date once), /bad (400), /down (503), /later (429, Retry-After: 3600), /slow (answers
    after 2 s), /drop/<id> (reads the request, then closes the connection without an answer)."""

    calls: Counter[str] = Counter()

    def do_GET(self) -> None:
        self.do_POST()

    def do_PUT(self) -> None:
        self.do_POST()

    def do_PATCH(self) -> None:
        self.do_POST()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        path = self.path
        ThirdParty.calls[path] += 1
        first = ThirdParty.calls[path] == 1
        if path.startswith("/drop/"):
            self.close_connection = True
            return  # taken, and never answered
        if path.startswith("/flaky/") and first:
            return self._answer(503)
        if path.startswith("/busy/") and first:
            return self._answer(503, {"Retry-After": "1"})
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


@pytest.mark.parametrize(("method", "idempotent"), [("GET", None), ("PUT", None), ("POST", True)])
def test_an_idempotent_request_is_retried_after_a_503_with_a_jittered_backoff(
    third_party, method, idempotent
):
    path = f"/flaky/{uuid.uuid4().hex}"

    async def main():
        client, sleeps = _client(OutboundPolicy(backoff_base_seconds=0.4))
        try:
            response = await client.request(method, third_party + path, idempotent=idempotent, json={})
            return response, sleeps.waits
        finally:
            await client.aclose()

    response, waits = asyncio.run(main())
    assert response.status_code == 200 and ThirdParty.calls[path] == 2
    assert waits == [0.2]  # rng 0.5 of the first window (0.4 s)


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_503_without_retry_after_to_a_post_is_an_unknown_outcome_not_repeated(third_party, method):
    """It may come after the work was done (a crash after the insert, a proxy's upstream reset)."""
    path = f"/flaky/{uuid.uuid4().hex}"

    async def main():
        client, sleeps = _client(OutboundPolicy(attempts=3))
        try:
            with pytest.raises(OutcomeUnknown) as err:
                await client.request(method, third_party + path, json={"text": "hi"})
            return err.value, sleeps.waits
        finally:
            await client.aclose()

    error, waits = asyncio.run(main())
    assert ThirdParty.calls[path] == 1 and waits == []
    assert error.status == 503 and "may have acted on" in error.message
    assert isinstance(error, RetryableResponse) and classify(error) == (False, None)  # a job may still


def test_a_503_with_retry_after_and_a_429_to_a_post_were_not_acted_on_and_are_retried(third_party):
    busy, throttled = f"/busy/{uuid.uuid4().hex}", f"/throttled/{uuid.uuid4().hex}"

    async def main():
        client, sleeps = _client()
        try:
            await client.request("POST", third_party + busy, json={"text": "hi"})
            await client.request("POST", third_party + throttled, json={"text": "hi"})
            return sleeps.waits
        finally:
            await client.aclose()

    assert asyncio.run(main()) == [1.0, 1.0]
    assert ThirdParty.calls[busy] == 2 and ThirdParty.calls[throttled] == 2


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
                    await client.request("GET", third_party + "/down", destination="down-host")
                failures.append(err.value)
            with pytest.raises(CircuitOpen) as refused:
                await client.request("GET", third_party + "/down", destination="down-host")
            # another destination on the same host is not affected
            ok = await client.request("GET", third_party + "/ok", destination="other-host")
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


def test_a_post_whose_answer_timed_out_or_was_dropped_is_an_unknown_outcome_sent_once(third_party):
    """The request reached the destination (read, perhaps acted on) and its answer never came: a POST
    is not sent again in-line, whatever the budget; the caller gets OutcomeUnknown."""
    dropped = f"/drop/{uuid.uuid4().hex}"

    async def main():
        client, sleeps = _client(OutboundPolicy(timeout_seconds=0.3, attempts=3))
        try:
            with pytest.raises(OutcomeUnknown) as slow:
                await client.request("POST", third_party + "/slow")
            with pytest.raises(OutcomeUnknown) as lost:
                await client.request("POST", third_party + dropped, json={"text": "hi"})
            return slow.value, lost.value, sleeps.waits
        finally:
            await client.aclose()

    before = ThirdParty.calls["/slow"]
    slow, lost, waits = asyncio.run(main())
    assert "ReadTimeout" in slow.message and slow.status is None
    assert "RemoteProtocolError" in lost.message and lost.status is None
    assert ThirdParty.calls["/slow"] - before == 1 and ThirdParty.calls[dropped] == 1 and waits == []


def test_a_get_whose_answer_timed_out_or_was_dropped_is_retried_in_line(third_party):
    dropped = f"/drop/{uuid.uuid4().hex}"

    async def main():
        client, _ = _client(OutboundPolicy(timeout_seconds=0.3, attempts=2))
        try:
            with pytest.raises(RetryableResponse) as slow:
                await client.request("GET", third_party + "/slow")
            with pytest.raises(RetryableResponse) as lost:
                await client.request("GET", third_party + dropped)
            return slow.value, lost.value
        finally:
            await client.aclose()

    before = ThirdParty.calls["/slow"]
    slow, lost = asyncio.run(main())
    assert not isinstance(slow, OutcomeUnknown) and not isinstance(lost, OutcomeUnknown)
    assert "ReadTimeout" in slow.message and "RemoteProtocolError" in lost.message
    assert ThirdParty.calls["/slow"] - before == 2 and ThirdParty.calls[dropped] == 2


def test_a_refused_connection_never_reached_the_destination_so_a_post_is_retried(third_party):
    async def main():
        client, sleeps = _client(OutboundPolicy(attempts=2))
        try:
            with pytest.raises(RetryableResponse) as refused:
                await client.request("POST", f"http://127.0.0.1:{free_port()}/x", json={"text": "hi"})
            return refused.value, sleeps.waits
        finally:
            await client.aclose()

    refused, waits = asyncio.run(main())
    assert not isinstance(refused, OutcomeUnknown)
    assert "ConnectError" in refused.message and refused.status is None
    assert len(waits) == 1 and "after 2 attempt(s)" in refused.message  # retried in-line


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
