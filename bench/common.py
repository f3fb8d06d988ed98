"""Shared bits of the benchmarks: latency statistics, a closed-loop load generator, the bare grpc.aio
ceiling every figure is compared with, a tiny keep-alive HTTP/1.1 client (so REST load does not pay
for a client library), and writing results to bench/results/.

Absolute figures move from machine to machine, and on a shared machine from minute to minute, so
each benchmark also measures the bare ceiling in the same run — a health Check against a grpc.aio
server in its own process with no interceptor and no database (`bench/bare_server.py`), driven by the
same client code at the same concurrency — and prints each figure as a ratio of it:

- `compare()` measures one call and the bare Check alternately, in slices (A B B A ...), so both see
  the same load from whatever else runs on the machine; used where a figure is a closed loop
  (GetUser).
- `with_bare()` wraps a whole benchmark: the bare ceiling at c=1 and c=32 before and after it, each
  figure then compared with it (p50 with the bare c=1 p50, a bare round trip; throughput with the
  bare c=32 throughput). One call per benchmark.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

RESULTS = Path(__file__).parent / "results"
_ROOT = Path(__file__).resolve().parent.parent  # where `-m bench.bare_server` is found


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
    # The bare grpc.aio ceiling this figure is compared with (None: not compared).
    bare_p50_ms: float | None = None
    bare_throughput: float | None = None
    bare_how: str = ""
    # CPU time (user + system) the serving side spent per request: every process of it, PostgreSQL
    # and Envoy included where they are on the path. Unlike latency and throughput it hardly moves
    # with other work on the machine, so it is the figure to compare on a busy machine.
    server_cpu_us: float | None = None
    bare_server_cpu_us: float | None = None
    # The load generator's CPU per request (this process), for the CPU-bound share below.
    client_cpu_us: float | None = None
    bare_client_cpu_us: float | None = None
    # True where the benchmark set the rate (open loop): its throughput is not a measurement.
    paced: bool = False

    @property
    def cpu_ratio(self) -> float | None:
        """Serving CPU per request in bare Checks (the bare server's CPU per Check = 1.0)."""
        if self.server_cpu_us is None or not self.bare_server_cpu_us:
            return None
        return self.server_cpu_us / self.bare_server_cpu_us

    @property
    def p50_ratio(self) -> float | None:
        """p50 in bare round trips (1.0 = as fast as a health Check on a bare server)."""
        return self.p50_ms / self.bare_p50_ms if self.bare_p50_ms else None

    @property
    def throughput_ratio(self) -> float | None:
        """Throughput as a share of the bare server's (1.0 = the grpc.aio ceiling)."""
        return self.throughput / self.bare_throughput if self.bare_throughput else None

    @property
    def cpu_share(self) -> float | None:
        """The throughput share of the bare ceiling that CPU alone allows: (bare server + client CPU
        per request) / (this figure's). When the cores are the limit — c=32 on this machine — that
        is what `throughput_ratio` tends to on a quiet machine; unlike it, it hardly moves with
        other work on the cores."""
        mine = (self.server_cpu_us or 0.0) + (self.client_cpu_us or 0.0)
        bare = (self.bare_server_cpu_us or 0.0) + (self.bare_client_cpu_us or 0.0)
        if self.server_cpu_us is None or self.client_cpu_us is None or not mine or not bare:
            return None
        return bare / mine

    def ratios(self) -> str:
        parts = []
        if self.p50_ratio is not None:
            parts.append(f"p50 {self.p50_ratio:.2f}x bare")
        if self.throughput_ratio is not None:
            parts.append(f"{self.throughput_ratio:.0%} of bare/s")
        if self.server_cpu_us is not None:
            cpu = f"server CPU {self.server_cpu_us:.0f} us/req"
            parts.append(cpu + (f" = {self.cpu_ratio:.1f}x bare" if self.cpu_ratio is not None else ""))
        if self.client_cpu_us is not None and self.cpu_share is None:
            parts.append(f"client CPU {self.client_cpu_us:.0f} us/req")
        if self.cpu_share is not None:
            parts.append(f"CPU-bound share {self.cpu_share:.0%} of bare")
        how = f"; {self.bare_how}" if self.bare_how else ""
        return f"[{', '.join(parts)}{how}]" if parts else ""

    def line(self) -> str:
        return (
            f"{self.name:<34} c={self.concurrency:<3} n={self.requests:<6} err={self.errors:<3} "
            f"p50={self.p50_ms:7.2f} ms  p99={self.p99_ms:7.2f} ms  {self.throughput:8.0f}/s  "
            f"{self.ratios()} {self.target} {self.verdict}"
        ).rstrip()


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


BARE_NAME = "bare grpc.aio health Check"


class BareCeiling:
    """The bare grpc.aio ceiling: `bench.bare_server` in a process of its own (a grpc.aio server on
    uvloop hosting only the health service: no interceptor, no database), driven from this process
    with the same closed loop and the same grpc.aio client as the figure it is compared with.

        async with BareCeiling() as bare:
            figures = await bare.measure(32, 3.0)
    """

    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None
        self._channel: Any = None
        self._check: Callable[[], Awaitable[bool]] | None = None
        self.pids: list[int] = []

    async def __aenter__(self) -> BareCeiling:
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.bare_server",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=_ROOT,
        )
        assert self._proc.stdout is not None
        line = await asyncio.wait_for(self._proc.stdout.readline(), timeout=30)
        if not line.strip().isdigit():
            await self.__aexit__()
            raise RuntimeError(f"bench.bare_server did not start (it printed {line!r})")
        self._channel = grpc.aio.insecure_channel(f"127.0.0.1:{int(line)}")
        stub = health_pb2_grpc.HealthStub(self._channel)
        request = health_pb2.HealthCheckRequest()
        serving = health_pb2.HealthCheckResponse.SERVING

        async def check() -> bool:
            reply = await stub.Check(request, timeout=10)
            return bool(reply.status == serving)

        self._check = check
        self.pids = [self._proc.pid]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._channel is not None:
            await self._channel.close()
        if self._proc is not None and self._proc.returncode is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()  # the server stops when its stdin closes
            try:
                await asyncio.wait_for(self._proc.wait(), timeout=10)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()

    def call(self, _: int) -> Callable[[], Awaitable[bool]]:
        """A `make_call` for closed_loop: one health Check."""
        assert self._check is not None, "use BareCeiling as `async with`"
        return self._check

    async def measure(self, concurrency: int, duration: float, warmup: float = 0.5) -> Figures:
        lat, err, secs = await closed_loop(self.call, concurrency, duration, warmup)
        return figures(BARE_NAME, concurrency, lat, err, secs)


def mesh_pids(mesh: Any, *, envoy: bool = False) -> list[int]:
    """The serving side of a LocalMesh for `compare(server_pids=...)`: `learnflow serve` and
    PostgreSQL (its postmaster; the backends are its children), and Envoy when asked."""
    pids = [mesh.server.pid]
    if mesh.postgres is not None:
        pids.append(int((mesh.postgres.data_dir / "postmaster.pid").read_text().split()[0]))
    if envoy and mesh.envoy is not None and mesh.envoy.proc is not None:
        pids.append(mesh.envoy.proc.pid)
    return pids


def cpu_seconds(roots: list[int]) -> float:
    """CPU time (user + system) used so far by these processes and all their descendants, from
    /proc (Linux). PostgreSQL's backends are children of its postmaster, so its root pid covers them."""
    tick = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                data = f.read()
        except OSError:  # gone meanwhile
            continue
        fields = data[data.rindex(")") + 2 :].split()  # after "pid (comm) "; comm may hold spaces
        pid = int(entry.name)
        parent[pid], ticks[pid] = int(fields[1]), int(fields[11]) + int(fields[12])
    wanted = set(roots)
    changed = True
    while changed:
        more = {pid for pid, ppid in parent.items() if ppid in wanted and pid not in wanted}
        wanted |= more
        changed = bool(more)
    return sum(ticks.get(pid, 0) for pid in wanted) / tick


async def compare(
    bare: BareCeiling,
    name: str,
    make_call: Callable[[int], Callable[[], Awaitable[bool]]],
    concurrency: int,
    duration: float,
    slices: int = 4,
    server_pids: list[int] | None = None,
) -> tuple[Figures, Figures]:
    """Measures `make_call` and the bare ceiling at the same concurrency, alternately in `slices`
    slices of duration/slices seconds each (A B B A A B ...: neither always goes first), so a change
    in load from other work on the machine falls on both. With `server_pids` (the serving side's
    processes, descendants included) it also measures their CPU per request, and the bare server's.
    Returns (figure, bare), the figure carrying its ratios to the bare one."""
    mine: tuple[list[float], list[int], list[float], list[float], list[float]] = ([], [], [], [], [])
    theirs: tuple[list[float], list[int], list[float], list[float], list[float]] = ([], [], [], [], [])
    each = duration / slices
    for i in range(slices):
        order = [(make_call, mine, server_pids), (bare.call, theirs, bare.pids)]
        if i % 2:
            order.reverse()
        for call, into, pids in order:
            lat, err, secs, cpu, client = await _slice(call, concurrency, each, pids)
            into[0].extend(lat)
            into[1].append(err)
            into[2].append(secs)
            into[3].append(cpu)
            into[4].append(client)
    result = figures(name, concurrency, mine[0], sum(mine[1]), sum(mine[2]))
    reference = figures(BARE_NAME, concurrency, theirs[0], sum(theirs[1]), sum(theirs[2]))
    result.bare_p50_ms, result.bare_throughput = reference.p50_ms, reference.throughput
    result.bare_how = f"bare c={concurrency}, interleaved"
    mine_n = max(1, result.requests + result.errors)
    theirs_n = max(1, reference.requests + reference.errors)
    result.client_cpu_us = sum(mine[4]) / mine_n * 1e6
    reference.client_cpu_us = result.bare_client_cpu_us = sum(theirs[4]) / theirs_n * 1e6
    if server_pids:
        result.server_cpu_us = sum(mine[3]) / mine_n * 1e6
        reference.server_cpu_us = result.bare_server_cpu_us = sum(theirs[3]) / theirs_n * 1e6
    return result, reference


async def _slice(
    call: Callable[[int], Callable[[], Awaitable[bool]]],
    concurrency: int,
    duration: float,
    pids: list[int] | None,
) -> tuple[list[float], int, float, float, float]:
    """One closed-loop slice; the CPU `pids` and this process used while it measured (the warm-up's
    requests are left out by counting from its end: closed_loop measures after a 0.5 s warm-up)."""
    warmup = 0.5
    cpu: list[float] = []

    async def sample_after_warmup() -> None:
        await asyncio.sleep(warmup)
        cpu.append(await asyncio.to_thread(cpu_seconds, pids) if pids else 0.0)
        cpu.append(time.process_time())  # after the /proc scan, which is not the client's work

    sampler = asyncio.create_task(sample_after_warmup())
    lat, err, secs = await closed_loop(call, concurrency, duration, warmup=warmup)
    await sampler
    client = time.process_time() - cpu[1]
    used = (await asyncio.to_thread(cpu_seconds, pids) - cpu[0]) if pids else 0.0
    return lat, err, secs, used, client


async def with_bare(
    work: Awaitable[list[Figures] | Figures] | None, *, seconds: float = 3.0
) -> list[Figures]:
    """Runs a benchmark between two measurements of the bare ceiling (c=1 and c=32, `seconds` each,
    before and after it) and compares each of its figures with their average: p50 with the bare c=1
    p50 (a bare round trip), throughput with the bare c=32 throughput (not for `paced` figures, whose
    rate the benchmark set). Returns the bare figures, then the benchmark's. With `work` None, only
    the bare figures: the machine's speed at the time, for a benchmark no ratio fits (cold start).
    """
    async with BareCeiling() as bare:
        before = [await bare.measure(c, seconds) for c in (1, 32)]
        done = await work if work is not None else []
        after = [await bare.measure(c, seconds) for c in (1, 32)]
    results = done if isinstance(done, list) else [done]
    references = []
    for b, a in zip(before, after, strict=True):
        merged = figures(BARE_NAME, b.concurrency, [], b.errors + a.errors, b.seconds + a.seconds)
        merged.requests = b.requests + a.requests
        merged.throughput = merged.requests / merged.seconds
        merged.p50_ms, merged.p99_ms = (b.p50_ms + a.p50_ms) / 2, (b.p99_ms + a.p99_ms) / 2
        merged.bare_how = "before+after the bench"
        references.append(merged)
    c1, c32 = references
    for r in results:
        if r.bare_p50_ms is not None or r.bare_throughput is not None:
            continue  # compared already (compare())
        if not math.isnan(r.p50_ms):
            r.bare_p50_ms = c1.p50_ms
        if not r.paced and r.throughput:
            r.bare_throughput = c32.throughput
        r.bare_how = "bare c=1 p50, c=32 /s, before+after"
    return [*references, *results]


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
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    sys.stdout.write(f"load average {load} (2+ on 2 cores: other work shared the machine)\n")
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
            "cpus": os.cpu_count(),
        },
        "command": " ".join([Path(sys.executable).name, "-m", f"bench.{name}", *sys.argv[1:]]),
        "load_average": os.getloadavg(),
        "results": [
            {
                **asdict(r),
                "p50_ratio": r.p50_ratio,
                "throughput_ratio": r.throughput_ratio,
                "cpu_ratio": r.cpu_ratio,
                "cpu_share": r.cpu_share,
            }
            for r in results
        ],
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
    p50_ratio: float | None = None,
    throughput_ratio: float | None = None,
) -> Figures:
    """Marks a figure MET or MISSED against targets; the ratio targets are against the bare ceiling
    it was compared with (p50 at most N bare p50s, throughput at least this share of the bare's)."""
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
    if p50_ratio is not None:
        parts.append(f"p50<={p50_ratio}x bare")
        ok &= result.p50_ratio is not None and result.p50_ratio <= p50_ratio
    if throughput_ratio is not None:
        parts.append(f">={throughput_ratio:.0%} of bare/s")
        ok &= result.throughput_ratio is not None and result.throughput_ratio >= throughput_ratio
    result.target = "target " + ", ".join(parts)
    result.verdict = "MET" if ok else "MISSED"
    return result


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
