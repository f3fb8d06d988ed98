"""Outbound HTTP to third parties (Slack, Zulip, Moodle, PagerDuty, webhooks): one client wrapper so
every context calls out the same way.

- timeouts on connect and on the whole exchange (httpx), never unbounded;
- each response classified: 2xx/3xx ok; 408, 429, 5xx and transport errors (refused, reset, timed
  out) retryable; any other 4xx terminal (this request is wrong: retrying cannot help);
- retryable answers retried in-line a few times with exponential backoff and full jitter, or after
  the `Retry-After` the destination gave (seconds or an HTTP date) when that is short; a longer one
  is not slept on but raised (`RetryableResponse.retry_after`) so a durable job schedules the retry
  (services/runtime/jobs.py honours it);
- but a request that is not idempotent (POST, PATCH, unless the caller says `idempotent=True`: a
  read sent as POST, a provider that drops a repeat of its idempotency key) is repeated in-line only
  when the failure proves the destination did not act on it. A repeat after a lost answer is a second
  message to a provider that keeps no idempotency key. Proof, and nothing else, is:
    * a transport failure before any byte of the request left: `ConnectError` (refused, DNS, TLS
      handshake), `ConnectTimeout`, `PoolTimeout` (no connection was free), `UnsupportedProtocol`;
    * 408 (RFC 9110 §15.5.9: the server did not receive the whole request) and 429 (RFC 6585 §4: a
      rate limit refuses the request; Slack, Zulip and PagerDuty document it as not accepted);
    * 503 WITH Retry-After (RFC 9110 §15.6.4: the server is unable to handle the request and says
      when to come back: maintenance, load shedding; Moodle's maintenance mode answers so).
  Anything else after the request may have reached it — `ReadTimeout`, `WriteTimeout`, `ReadError`,
  `WriteError`, `RemoteProtocolError` (the connection dropped before the answer), 500, 502, 504 and a
  503 without Retry-After (a proxy's "upstream reset", a crash after the work was done) — is raised
  at once as `OutcomeUnknown` (a RetryableResponse: callers that may repeat it still can), so the
  caller decides with what it knows: notify fails such a delivery as UNKNOWN_OUTCOME unless its
  provider drops repeats (services/notify/service.py). Idempotent requests (GET, HEAD, OPTIONS, PUT,
  DELETE, or `idempotent=True`) keep retrying every retryable failure in-line;
- a circuit breaker per destination (services/runtime/breaker.py): after consecutive failed calls
  a dead destination costs one fast refusal (`CircuitOpen`) instead of the whole retry budget;
- optionally a shared rate limit per destination (services/runtime/ratelimit.py): a call beyond it
  is not sent, and a 429's Retry-After blocks the destination for every replica;
- metrics per destination: learnflow_outbound_requests_total{destination,outcome},
  learnflow_outbound_request_duration_seconds{destination}, learnflow_outbound_breaker_state.

Errors are domain errors, so the job runner and the event consumer classify them without knowing
HTTP: RetryableResponse (and its CircuitOpen, RateLimited, OutcomeUnknown) are Unavailable
(transient), TerminalResponse is not.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from prometheus_client import Counter, Gauge, Histogram

from services.runtime.breaker import CircuitBreaker
from services.runtime.errors import DomainError, Unavailable
from services.runtime.ratelimit import Limit, SharedRateLimiter

log = logging.getLogger(__name__)

OUTBOUND_REQUESTS = Counter(
    "learnflow_outbound_requests_total",
    "Outbound HTTP attempts (and calls refused before sending) by destination and outcome",
    ["destination", "outcome"],
)
OUTBOUND_SECONDS = Histogram(
    "learnflow_outbound_request_duration_seconds",
    "Outbound HTTP attempt latency",
    ["destination"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BREAKER_STATE = Gauge("learnflow_outbound_breaker_state", "0 closed, 1 half-open, 2 open", ["destination"])
_STATE_VALUE = {"closed": 0, "half_open": 1, "open": 2}
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Methods RFC 9110 §9.2.2 defines as idempotent: repeating one has the effect of sending it once.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
# Transport failures raised before any byte of the request was sent (see the module docstring).
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
# Answers that say the request was refused before being acted on (503 only with Retry-After).
_NOT_PROCESSED_STATUSES = frozenset({408, 429})
# Answers about this request only (the destination is healthy): they do not count toward the breaker.
# 401/403/404 are configuration faults (credentials, URL) that hit every call, so they do count.
_REQUEST_REJECTED = frozenset({400, 409, 410, 413, 422})


class RetryableResponse(Unavailable):
    """The destination failed in a way worth retrying later; `retry_after` is what it asked for."""

    reason = "OUTBOUND_UNAVAILABLE"

    def __init__(self, message: str, *, destination: str, status: int | None, retry_after: float | None):
        super().__init__(message, metadata={"destination": destination, "status": str(status or "")})
        self.destination = destination
        self.status = status
        self.retry_after = retry_after


class CircuitOpen(RetryableResponse):
    """Not sent: the destination's breaker is open."""

    reason = "OUTBOUND_CIRCUIT_OPEN"


class RateLimited(RetryableResponse):
    """Not sent: our shared limit for the destination is spent for longer than we wait in-line."""

    reason = "OUTBOUND_RATE_LIMITED"


class OutcomeUnknown(RetryableResponse):
    """A request that is not idempotent failed after it may have reached the destination (the answer
    was lost, timed out, or was a 500/502/504 or a 503 without Retry-After): it may or may not have
    been acted on, so it was not repeated in-line. Repeating it is the caller's decision."""

    reason = "OUTBOUND_OUTCOME_UNKNOWN"


class TerminalResponse(DomainError):
    """The destination refused this request (a 4xx other than 408/429): retrying cannot help."""

    reason = "OUTBOUND_REJECTED"

    def __init__(self, message: str, *, destination: str, status: int, body: str):
        super().__init__(message, metadata={"destination": destination, "status": str(status)})
        self.destination = destination
        self.status = status
        self.body = body


@dataclass(frozen=True)
class OutboundPolicy:
    timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 3.0
    attempts: int = 3  # in-line, per call
    backoff_base_seconds: float = 0.2
    backoff_max_seconds: float = 5.0
    # A Retry-After longer than this is not slept on in-line: the call raises with it instead.
    max_inline_wait_seconds: float = 10.0
    breaker_failures: int = 5
    breaker_reset_seconds: float = 30.0
    # A shared limit per destination (needs a limiter), e.g. Slack's one message a second.
    rate_limit: Limit | None = None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds from now: delay-seconds or an HTTP-date (RFC 9110 §10.2.3); None when
    absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def destination_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or parts.path


class OutboundClient:
    """One per process (or per integration), shared by its calls: one connection pool, one breaker
    per destination. `sleep`, `clock` and `rng` are injectable so tests need not wait."""

    def __init__(
        self,
        policy: OutboundPolicy | None = None,
        *,
        limiter: SharedRateLimiter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ):
        self.policy = policy or OutboundPolicy()
        self.limiter = limiter
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._breakers: dict[str, CircuitBreaker] = {}
        timeout = httpx.Timeout(self.policy.timeout_seconds, connect=self.policy.connect_timeout_seconds)
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport, follow_redirects=False)

    async def aclose(self) -> None:
        await self._http.aclose()

    def breaker(self, destination: str) -> CircuitBreaker:
        found = self._breakers.get(destination)
        if found is None:
            p = self.policy
            found = self._breakers[destination] = CircuitBreaker(
                p.breaker_failures, p.breaker_reset_seconds, clock=self._clock
            )
        return found

    async def request(
        self,
        method: str,
        url: str,
        *,
        destination: str | None = None,
        idempotent: bool | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Sends the request (kwargs as httpx's: json, data, headers, params, auth), retrying what is
        retryable; returns the ok response or raises RetryableResponse, CircuitOpen, OutcomeUnknown
        or TerminalResponse. `destination` names the breaker, limit and metrics (default: host:port).
        `idempotent` (default: by the method) says whether a repeat is harmless: when it is not, a
        failure after the request may have arrived is raised as OutcomeUnknown, never repeated."""
        dest = destination or destination_of(url)
        if idempotent is None:
            idempotent = method.upper() in IDEMPOTENT_METHODS
        breaker = self.breaker(dest)
        if not breaker.allow():
            self._count(dest, "circuit_open", breaker)
            raise CircuitOpen(
                f"{dest} is failing; not called",
                destination=dest,
                status=None,
                retry_after=breaker.retry_after() or None,
            )
        holds_trial = breaker.state == "half_open"
        try:
            response = await self._attempts(method, url, dest, idempotent, kwargs)
        except TerminalResponse as exc:
            if exc.status in _REQUEST_REJECTED:
                breaker.record_success()  # it answered; this request was the problem
            else:
                breaker.record_failure()
            self._gauge(dest, breaker)
            raise
        except RetryableResponse as exc:
            if isinstance(exc, RateLimited):
                if holds_trial:
                    breaker.release()  # not sent: no verdict on the destination
            else:
                breaker.record_failure()
            self._gauge(dest, breaker)
            raise
        except BaseException:
            if holds_trial:
                breaker.release()
            raise
        breaker.record_success()
        self._gauge(dest, breaker)
        return response

    async def _attempts(
        self, method: str, url: str, dest: str, idempotent: bool, kwargs: dict[str, Any]
    ) -> httpx.Response:
        p = self.policy
        attempt = 0
        while True:
            attempt += 1
            await self._take_limit(dest)
            began = time.perf_counter()
            status: int | None = None
            retry_after: float | None = None
            try:
                response = await self._http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                OUTBOUND_SECONDS.labels(dest).observe(time.perf_counter() - began)
                self._count(dest, "transport_error")
                detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                not_acted_on = isinstance(exc, _NOT_SENT)
            else:
                OUTBOUND_SECONDS.labels(dest).observe(time.perf_counter() - began)
                status = response.status_code
                if status < 400:
                    self._count(dest, "ok")
                    return response
                body = response.text[:500]
                if status not in RETRYABLE_STATUSES:
                    self._count(dest, "terminal")
                    raise TerminalResponse(
                        f"{dest} refused the request: HTTP {status}",
                        destination=dest,
                        status=status,
                        body=body,
                    )
                self._count(dest, "retryable")
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                detail = f"HTTP {status}"
                if status == 429 and retry_after and self.limiter is not None:
                    await self.limiter.penalize(self._limit_key(dest), retry_after)
                not_acted_on = status in _NOT_PROCESSED_STATUSES or (
                    status == 503 and retry_after is not None
                )
            if not (idempotent or not_acted_on):
                raise OutcomeUnknown(
                    f"{dest} may have acted on {method} (attempt {attempt}): {detail}; not repeated, "
                    "since a repeat could do it twice",
                    destination=dest,
                    status=status,
                    retry_after=retry_after,
                )
            too_long = retry_after is not None and retry_after > p.max_inline_wait_seconds
            if attempt >= p.attempts or too_long:
                raise RetryableResponse(
                    f"{dest} failed after {attempt} attempt(s): {detail}",
                    destination=dest,
                    status=status,
                    retry_after=retry_after,
                )
            wait = retry_after if retry_after is not None else self._backoff(attempt)
            log.info(
                "outbound call will be retried",
                extra={"destination": dest, "attempt": attempt, "error": detail, "retry_in": round(wait, 3)},
            )
            await self._sleep(wait)

    def _backoff(self, attempt: int) -> float:
        p = self.policy
        return self._rng() * min(p.backoff_max_seconds, p.backoff_base_seconds * 2 ** (attempt - 1))

    @staticmethod
    def _limit_key(dest: str) -> str:
        return f"outbound:{dest}"

    async def _take_limit(self, dest: str) -> None:
        limit = self.policy.rate_limit
        if self.limiter is None or limit is None:
            return
        waited = 0.0
        while not (decision := await self.limiter.take(self._limit_key(dest), limit)).allowed:
            if waited + decision.retry_after > self.policy.max_inline_wait_seconds:
                self._count(dest, "rate_limited")
                raise RateLimited(
                    f"{dest}: our rate limit for it is spent",
                    destination=dest,
                    status=None,
                    retry_after=decision.retry_after,
                )
            waited += decision.retry_after
            await self._sleep(decision.retry_after)

    def _count(self, dest: str, outcome: str, breaker: CircuitBreaker | None = None) -> None:
        OUTBOUND_REQUESTS.labels(dest, outcome).inc()
        if breaker is not None:
            self._gauge(dest, breaker)

    @staticmethod
    def _gauge(dest: str, breaker: CircuitBreaker) -> None:
        BREAKER_STATE.labels(dest).set(_STATE_VALUE[breaker.state])
