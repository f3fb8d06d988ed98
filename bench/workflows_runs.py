"""Workflows end to end (issue #16 targets): research_to_docs triggered through REST (Envoy) until the
page exists in the local Notion server, runs per second sustained, Discover, and runs under injected
third-party faults — on a mesh of its own with the real Temporal dev server.

    .venv/bin/python -m bench.workflows_runs [--latency-runs 40 --rate 20 --duration 15 --fault-runs 200]

1. latency: one run at a time, POST /v1/workflows/runs -> the Notion page created (p50 <= 500 ms,
   p99 <= 1.5 s offline);
2. throughput: runs triggered at --rate a second (open loop) for --duration; every run must succeed and
   the mesh keep up (>= 20 runs/s, no failures);
3. Discover: the registry's lookup in process, and the Discover RPC round trip over gRPC (p50 <= 1 ms);
4. faults: 10% of the local Notion's answers are 503s; > 99% of runs must still succeed (Temporal
   retries the step with backoff).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import grpc
import psutil
from learnflow.workflows.v1 import workflows_service_pb2 as wf
from learnflow.workflows.v1 import workflows_service_pb2_grpc as wf_grpc

from bench.common import Figures, figures, report
from services.runtime.local.mesh import LocalMesh
from services.runtime.testing import bearer, login, mesh_dir, new_mesh
from services.workflows.testing.notion_server import LocalNotion


async def _post(
    session: aiohttp.ClientSession, url: str, token: str, body: dict[str, Any]
) -> tuple[int, Any]:
    async with session.post(url, json=body, headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.json()


async def _status(session: aiohttp.ClientSession, base: str, token: str, run_id: str) -> str:
    async with session.get(
        f"{base}/v1/workflows/runs/{run_id}", headers={"Authorization": f"Bearer {token}"}
    ) as r:
        return str((await r.json())["status"])


class Pages:
    """Waits for pages by title: one task looks every 5 ms for all the titles awaited (a sleeping loop
    per run, hundreds of them when the mesh falls behind, cost the bench more CPU than envoy)."""

    def __init__(self, notion: LocalNotion):
        self.notion = notion
        self.waiting: dict[str, asyncio.Future[float]] = {}
        self._task: asyncio.Task[None] | None = None

    async def created(self, title: str, within: float = 30) -> float:
        """When the page titled `title` was created (LocalNotion's clock: time.monotonic)."""
        found: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[title] = found
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._look())
        try:
            return await asyncio.wait_for(found, within)
        finally:
            self.waiting.pop(title, None)

    async def _look(self) -> None:
        while self.waiting:
            for title, found in list(self.waiting.items()):
                page = self.notion.by_title.get(title)
                if page is not None and not found.done():
                    found.set_result(page.created)
            await asyncio.sleep(0.005)


def _processes(mesh: LocalMesh) -> dict[str, list[psutil.Process]]:
    """The mesh's processes by role, each with its children (PostgreSQL's backends, serve's workers),
    for the CPU each spends per run: on a shared machine CPU per run is the figure that hardly moves
    with the other work, where runs/s does."""
    roots: dict[str, int] = {"bench (+ local Notion)": psutil.Process().pid}
    for role, proc in (
        ("temporal", mesh.temporal.proc if mesh.temporal else None),
        ("serve", mesh.server),
        ("envoy", mesh.envoy.proc if mesh.envoy else None),
        ("nats", mesh.nats.proc if mesh.nats else None),
    ):
        if proc is not None:
            roots[role] = proc.pid
    if mesh.postgres is not None:
        pid_file = mesh.postgres.data_dir / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError):
            roots["postgres"] = int(pid_file.read_text().split()[0])
    found: dict[str, list[psutil.Process]] = {}
    for role, pid in roots.items():
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            found[role] = [root] + (root.children(recursive=True) if role != "bench (+ local Notion)" else [])
    return found


def _sessions(mesh: LocalMesh) -> int:
    """PostgreSQL sessions opened so far (pg_stat_database.sessions): a pool too small for the load
    opens and closes connections, each a backend forked and authenticated."""
    import psycopg

    url = mesh.migration_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT sum(sessions) FROM pg_stat_database").fetchone()
    return int(row[0] or 0) if row else 0


def _cpu(found: dict[str, list[psutil.Process]]) -> dict[str, float]:
    seconds: dict[str, float] = {}
    for role, procs in found.items():
        total = 0.0
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
        seconds[role] = total
    return seconds


async def latency(base: str, token: str, notion: LocalNotion, runs: int) -> Figures:
    samples: list[float] = []
    errors = 0
    pages = Pages(notion)
    began = time.monotonic()
    async with aiohttp.ClientSession() as session:
        for _ in range(runs):
            topic = f"list comprehensions {uuid.uuid4().hex[:8]}"
            sent = time.monotonic()
            status, _ = await _post(
                session,
                f"{base}/v1/workflows/runs",
                token,
                {"template": "research_to_docs", "input": {"topic": topic}},
            )
            if status != 200:
                errors += 1
                continue
            try:
                samples.append(await pages.created(f"Research: {topic}") - sent)
            except TimeoutError:
                errors += 1
    result = figures("research_to_docs REST -> Notion page", 1, samples, errors, time.monotonic() - began)
    result.target = "p50 <= 500 ms, p99 <= 1.5 s"
    result.verdict = "met" if result.p50_ms <= 500 and result.p99_ms <= 1500 and not errors else "MISSED"
    return result


async def sustained(
    base: str,
    token: str,
    notion: LocalNotion,
    rate: float,
    duration: float,
    name: str,
    all_pages: Callable[[], None] = lambda: None,
) -> tuple[Figures, dict[str, int], float]:
    """Open loop: a run every 1/rate s; each run's latency to its page; then every run's final status.
    `all_pages` is called when every page is there, before the statuses are read (the CPU the runs
    cost is measured up to then: reading 300 statuses is the bench's work, not the runs').

    Also returns the rate pages were made at, from the first page to the last: the throughput the mesh
    sustained. The runs over the whole time (first trigger to last page) count the last run's latency
    as if it were throughput lost — a mesh that keeps up at 20/s with 1.5 s runs shows 19.1/s over a
    15 s window — while a mesh that falls behind makes its pages slower than they are asked for, and
    its latency grows run after run (p99 against p50 shows which)."""
    samples: list[float] = []
    done_at: list[float] = []
    ids: list[str] = []
    refused = 0
    pages = Pages(notion)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:

        async def one() -> None:
            nonlocal refused
            topic = f"generators {uuid.uuid4().hex[:8]}"
            sent = time.monotonic()
            status, body = await _post(
                session,
                f"{base}/v1/workflows/runs",
                token,
                {"template": "research_to_docs", "input": {"topic": topic}},
            )
            if status != 200:
                refused += 1
                return
            ids.append(body["runId"])
            with contextlib.suppress(TimeoutError):  # counted by its status below
                created = await pages.created(f"Research: {topic}", within=120)
                samples.append(created - sent)
                done_at.append(created)

        began = time.monotonic()
        tasks = []
        count = int(rate * duration)
        for i in range(count):
            await asyncio.sleep(max(0.0, began + i / rate - time.monotonic()))
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - began
        all_pages()
        statuses: dict[str, int] = {}
        for run_id in ids:
            for _ in range(600):
                status = await _status(session, base, token, run_id)
                if status != "RUN_STATUS_RUNNING":
                    break
                await asyncio.sleep(0.1)
            statuses[status] = statuses.get(status, 0) + 1
    failed = refused + sum(v for k, v in statuses.items() if k != "RUN_STATUS_SUCCEEDED")
    result = figures(name, int(rate), samples, failed, elapsed)
    result.paced = True
    span = max(done_at) - min(done_at) if len(done_at) > 1 else 0.0
    made_per_second = (len(done_at) - 1) / span if span > 0 else 0.0
    return result, {"refused": refused, **statuses}, made_per_second


def discover(grpc_addr: str, token: str, calls: int) -> tuple[Figures, float]:
    from services.runtime.registry import Registration
    from services.workflows.registry import Registry

    registry = Registry.__new__(Registry)
    registry.entries = {
        f"cap{i}.{j}": Registration(f"cap{i}", "1.0.0", "ctx", "h:1", f"i{j}", {}, 10.0, time.time())
        for i in range(50)
        for j in range(3)
    }
    began = time.perf_counter()
    for i in range(10_000):
        registry.discover(f"cap{i % 50}")
    in_process_us = (time.perf_counter() - began) / 10_000 * 1e6
    samples = []
    with grpc.insecure_channel(grpc_addr) as channel:
        stub = wf_grpc.WorkflowsServiceStub(channel)
        for _ in range(50):
            stub.Discover(wf.DiscoverRequest(capability="research"), metadata=bearer(token), timeout=5)
        began_all = time.monotonic()
        for _ in range(calls):
            sent = time.perf_counter()
            stub.Discover(wf.DiscoverRequest(capability="research"), metadata=bearer(token), timeout=5)
            samples.append(time.perf_counter() - sent)
    result = figures("Discover(research) gRPC round trip", 1, samples, 0, time.monotonic() - began_all)
    result.target = "p50 <= 1 ms"
    result.verdict = "met" if result.p50_ms <= 1.0 else "MISSED"
    return result, in_process_us


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--latency-runs", type=int, default=40)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--fault-runs", type=int, default=200)
    parser.add_argument("--local-activities", action="store_true", help="WORKFLOWS_LOCAL_ACTIVITIES=true")
    parser.add_argument(
        "--throughput-only",
        action="store_true",
        help="stop after the sustained phase (for A/B runs; results in workflows_runs_throughput.json)",
    )
    args = parser.parse_args(argv)
    with LocalNotion.running(seed=16) as notion:
        mesh = new_mesh(
            mesh_dir(),
            WORKFLOWS_NOTION_URL=notion.url,
            WORKFLOWS_RUNS_PER_USER_PER_HOUR="1000000",
            WORKFLOWS_RUNS_PER_TENANT_PER_HOUR="10000000",
            LOG_LEVEL="WARNING",
            # The product's readiness interval (test meshes check every 0.5 s, a cost of their own that
            # the CPU per run would count).
            LEARNFLOW_HEALTH_INTERVAL_SECONDS="2",
            WORKFLOWS_LOCAL_ACTIVITIES="true" if args.local_activities else "false",
        )
        try:
            mesh.start()
            token = login(mesh, "teacher@demo.test")
            base = mesh.rest_url
            # The research index is built on the first research call (about a second): not measured.
            asyncio.run(latency(base, token, notion, 2))
            results = [asyncio.run(latency(base, token, notion, args.latency_runs))]
            load_before = os.getloadavg()[0]
            cpu_before = _cpu(_processes(mesh))
            sessions_before = _sessions(mesh)
            after: dict[str, Any] = {}

            def all_pages() -> None:
                after["cpu"] = _cpu(_processes(mesh))
                after["sessions"] = _sessions(mesh) - sessions_before - 1  # less this look's own

            through, statuses, made_per_second = asyncio.run(
                sustained(
                    base, token, notion, args.rate, args.duration, "runs/s sustained (open loop)", all_pages
                )
            )
            cpu_after: dict[str, float] = after["cpu"]
            sessions: int = after["sessions"]
            runs = max(1, through.requests)
            cpu_ms = {
                role: round((cpu_after[role] - cpu_before.get(role, 0.0)) / runs * 1000, 1)
                for role in cpu_after
            }
            load = f"{load_before:.1f}-{os.getloadavg()[0]:.1f}"
            through.target = f">= 20 runs/s, no failures ({statuses}; pages made at {made_per_second:.1f}/s)"
            # Kept up: pages made at the rate asked (5% for the edges of the window), no failure, and
            # no queue — the seed's 5 s end to end at p99 (a mesh that stalled and then made its pages
            # in a burst would show a high rate with it).
            through.verdict = (
                "met"
                if through.errors == 0
                and made_per_second >= 20 * 0.95
                and args.rate >= 20
                and through.p99_ms <= 5000
                else "MISSED"
            )
            results.append(through)
            sys.stdout.write(
                f"sustained at {args.rate:g}/s: {runs} runs in {through.seconds:.1f} s "
                f"({runs / through.seconds:.1f}/s), p50 {through.p50_ms:.0f} ms, "
                f"p99 {through.p99_ms:.0f} ms, "
                f"{statuses}, pages made at {made_per_second:.1f}/s (first to last), "
                f"load average {load}\nCPU ms a run: {json.dumps(cpu_ms)}; "
                f"{sessions} PostgreSQL sessions opened\n"
            )
            sys.stdout.flush()
            if args.throughput_only:
                report(
                    "workflows_runs_throughput",
                    results,
                    {
                        "cpu_ms_per_run": cpu_ms,
                        "load": load,
                        "postgres_sessions_opened": sessions,
                        "pages_made_per_second": made_per_second,
                    },
                )
                return 0
            # Discover is for services, operators and admins (pods' addresses are not every user's).
            disc, in_process_us = discover(mesh.grpc_addr, login(mesh, "admin@demo.test"), 2000)
            results.append(disc)
            notion.fault_rate = 0.10
            faults, fault_statuses, _ = asyncio.run(
                sustained(base, token, notion, 10.0, args.fault_runs / 10.0, "runs with 10% Notion 503s")
            )
            notion.fault_rate = 0.0
            ok = fault_statuses.get("RUN_STATUS_SUCCEEDED", 0)
            share = ok / max(1, args.fault_runs)
            faults.target = f"> 99% succeed ({fault_statuses})"
            faults.verdict = "met" if share > 0.99 else "MISSED"
            results.append(faults)
            injected = sum(1 for r in notion.received if r.status == 503)
            report(
                "workflows_runs",
                results,
                {
                    "discover_in_process_us": in_process_us,
                    "fault_success_share": share,
                    "notion_503s_injected": injected,
                    "throughput_statuses": statuses,
                    "throughput_cpu_ms_per_run": cpu_ms,
                    "throughput_load_average": load,
                    "throughput_postgres_sessions_opened": sessions,
                    "throughput_pages_made_per_second": made_per_second,
                },
            )
            sys.stdout.write(
                f"Discover in process: {in_process_us:.1f} us a lookup (150 registrations)\n"
                f"faults: {injected} injected 503s, {ok}/{args.fault_runs} runs succeeded ({share:.1%})\n"
            )
            sys.stdout.write(json.dumps({r.name: r.verdict for r in results}) + "\n")
        finally:
            mesh.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
