"""Shared bits of the benchmarks: a mesh on free ports, latency statistics, a tiny keep-alive HTTP/1.1
client (so REST load does not pay for a client library), and writing results to bench/results/."""

from __future__ import annotations

import asyncio
import json
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

RESULTS = Path(__file__).parent / "results"


@dataclass
class Figures:
    name: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    throughput: float
    target: str = ""
    verdict: str = ""

    def line(self) -> str:
        return (
            f"{self.name:<34} c={self.concurrency:<3} n={self.requests:<6} err={self.errors:<3} "
            f"p50={self.p50_ms:7.2f} ms  p99={self.p99_ms:7.2f} ms  {self.throughput:8.0f}/s  "
            f"{self.target} {self.verdict}"
        )


def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def figures(name: str, concurrency: int, latencies: list[float], errors: int, seconds: float) -> Figures:
    return Figures(
        name,
        concurrency,
        len(latencies),
        errors,
        seconds,
        percentile(latencies, 0.5) * 1000,
        percentile(latencies, 0.99) * 1000,
        len(latencies) / seconds if seconds else 0.0,
    )


async def closed_loop(
    make_call: Callable[[int], Callable[[], Awaitable[bool]]],
    concurrency: int,
    duration: float,
    warmup: float = 1.0,
) -> tuple[list[float], int, float]:
    """`concurrency` workers (worker i calls make_call(i)()) call back-to-back for `duration` seconds
    after a warm-up; returns the latencies measured after the warm-up, errors, and elapsed seconds."""
    latencies: list[float] = []
    errors = 0
    measuring = False
    stop_at = time.monotonic() + warmup + duration

    async def worker(index: int) -> None:
        nonlocal errors
        call = make_call(index)
        while time.monotonic() < stop_at:
            start = time.perf_counter()
            ok = await call()
            took = time.perf_counter() - start
            if measuring:
                if ok:
                    latencies.append(took)
                else:
                    errors += 1

    tasks = [asyncio.create_task(worker(i)) for i in range(concurrency)]
    await asyncio.sleep(warmup)
    measuring = True
    began = time.monotonic()
    await asyncio.gather(*tasks)
    return latencies, errors, time.monotonic() - began


class HttpClient:
    """One keep-alive HTTP/1.1 connection; enough of the protocol for Envoy's responses."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length, chunked = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            key, _, value = line.decode().partition(":")
            if key.lower() == "content-length":
                length = int(value)
            elif key.lower() == "transfer-encoding" and "chunked" in value:
                chunked = True
        if not chunked:
            return status, await self.reader.readexactly(length)
        out = b""
        while True:
            size = int((await self.reader.readline()).strip(), 16)
            if size == 0:
                await self.reader.readline()
                return status, out
            out += await self.reader.readexactly(size)
            await self.reader.readline()


def run(coro: Awaitable[T]) -> T:
    """Runs the load generator on uvloop, as the server runs: the client shares the machine's two
    cores with the server, Envoy and PostgreSQL, so its own overhead is kept low."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)  # type: ignore[arg-type]


def report(name: str, results: list[Figures], extra: dict[str, object] | None = None) -> None:
    """Prints each figure line and where the JSON went."""
    for r in results:
        sys.stdout.write(r.line() + "\n")
    sys.stdout.write(f"written to {write(name, results, extra)}\n")


def write(name: str, results: list[Figures], extra: dict[str, object] | None = None) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": __import__("os").cpu_count(),
        },
        "command": " ".join([Path(sys.executable).name, "-m", f"bench.{name}", *sys.argv[1:]]),
        "results": [asdict(r) for r in results],
        **(extra or {}),
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def check(
    result: Figures,
    *,
    p50_ms: float | None = None,
    p99_ms: float | None = None,
    throughput: float | None = None,
) -> Figures:
    parts, ok = [], True
    if p50_ms is not None:
        parts.append(f"p50<={p50_ms}ms")
        ok &= result.p50_ms <= p50_ms
    if p99_ms is not None:
        parts.append(f"p99<={p99_ms}ms")
        ok &= result.p99_ms <= p99_ms
    if throughput is not None:
        parts.append(f">={throughput:.0f}/s")
        ok &= result.throughput >= throughput
    result.target = "target " + ", ".join(parts)
    result.verdict = "MET" if ok else "MISSED"
    return result


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
