"""interventions on a whole mesh with notify's local Moodle server: struggle.detected published ->
decision stored -> message accepted by the Moodle server; a saved policy file -> in force; and
BacktestPolicy over 10,000 stored signals through the API.

    .venv/bin/python -m bench.interventions_pipeline [--rate 100] [--seconds 10] [--reloads 10]

Starts its own mesh (LEARNFLOW_LOCAL_PROVIDERS=true) with a policies folder holding review_concept
with no cool-down, the daily cap raised and notify's Moodle limit (100/min, seed) lifted, so every
signal becomes one message and the figure is the pipeline's cost, not a cap. 40 students with Moodle
accounts; each event a StruggleDetected (repeated_error) published on JetStream as progress publishes
it, at --rate a second. Latency: from publishing to the local Moodle server's receipt of the message
(its own clock, same machine). Before the run: 40 signals at 20/s (caches), then 3 s at --rate,
reported apart as the warm-up (statements not yet prepared on every pooled connection), then ANALYZE
as autovacuum would have run on a live system (see analyze()). Targets (issue #13):
- published -> decision stored -> accepted by Moodle: p95 <= 40 ms at 100 signals/s (seed: < 500 ms
  average; v1.0 measured 385 ms);
- a saved policy file is in force <= 1 s later (seen through ListPolicyVersions over REST);
- BacktestPolicy of 10,000 stored signals <= 5 s (the read of the window and both replays).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import nats
from google.protobuf.timestamp_pb2 import Timestamp
from learnflow.interventions.v1 import interventions_service_pb2 as ipb
from learnflow.interventions.v1 import interventions_service_pb2_grpc as ipb_grpc
from learnflow.progress.v1 import events_pb2, resources_pb2

from bench.common import cpu_seconds, figures, mesh_pids, percentile, report
from services.notify.fakes.client import FakesClient
from services.runtime.events.envelope import build_headers
from services.runtime.testing import bearer, login, mesh_dir, new_student, rest, running_mesh

POLICIES = Path(__file__).resolve().parent.parent / "policies"


STUDENTS = 40
DAILY_CAP = 100  # INTERVENTIONS_DAILY_CAP at its highest: each signal becomes a message
WARM_UP_SIGNALS = 40  # before the measured run: the template, workload token, every address cached
# Then this long at the measured rate, reported apart from the run: psycopg prepares a statement on
# a pooled connection at its fifth use there, and the pools grow to what the rate needs. The run
# measures the steady state after it.
WARM_UP_SECONDS = 3.0


def folder() -> Path:
    path = mesh_dir("learnflow-bench-policies-")
    review = (
        (POLICIES / "review_concept.md").read_text().replace("cooldown_minutes: 120", "cooldown_minutes: 0")
    )
    (path / "review_concept.md").write_text(review)
    return path


async def publish(
    nats_url: str, tenant: str, students: list[str], rate: float, seconds: float
) -> dict[str, float]:
    """Publishes rate*seconds StruggleDetected events; returns marker -> time published."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    sent: dict[str, float] = {}
    n = int(rate * seconds)
    began = time.perf_counter()
    try:
        for i in range(n):
            due = began + i / rate
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            marker = f"bench-{uuid.uuid4().hex[:12]}"
            created = Timestamp()
            created.FromDatetime(datetime.now(UTC))
            event = events_pb2.StruggleDetected(
                alert=resources_pb2.StruggleAlert(
                    id=str(uuid.uuid4()),
                    student_id=students[i % len(students)],
                    rule="repeated_error",
                    key="NameError",
                    explanation=marker,
                    severity="medium",
                    create_time=created,
                )
            )
            headers = build_headers(event, source="progress", tenant_id=tenant)
            sent[marker] = time.time()
            await js.publish("struggle.detected", event.SerializeToString(), headers=headers)
    finally:
        await nc.close()
    return sent


def cpu_groups(mesh: Any) -> dict[str, list[int]]:
    serve, postgres = mesh_pids(mesh)
    groups = {"serve": [serve], "postgres": [postgres]}
    for i, replica in enumerate(mesh.replicas):
        groups[f"replica{i + 1}"] = [replica.pid]
    if mesh.nats is not None and mesh.nats.proc is not None:
        groups["nats"] = [mesh.nats.proc.pid]
    if mesh.providers is not None and mesh.providers.proc is not None:
        groups["moodle"] = [mesh.providers.proc.pid]
    return groups


def work_counts(mesh: Any) -> dict[str, float]:
    """Transactions committed in the mesh's database, and messages into and out of NATS, so far."""
    import json
    import urllib.request

    import psycopg

    with psycopg.connect(mesh.migration_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        (commits,) = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone() or (0,)
    counts = {"transactions": float(commits)}
    if mesh.nats is not None:
        url = f"http://127.0.0.1:{mesh.nats.monitor_port}/varz"
        with urllib.request.urlopen(url, timeout=5) as resp:
            varz = json.load(resp)
        counts["nats_in"] = float(varz["in_msgs"])
        counts["nats_out"] = float(varz["out_msgs"])
    return counts


def jetstream_counts(mesh: Any) -> dict[str, float]:
    """Messages stored by each stream and delivered to each durable consumer so far (NATS's /jsz)."""
    import json
    import urllib.request

    if mesh.nats is None:
        return {}
    url = f"http://127.0.0.1:{mesh.nats.monitor_port}/jsz?accounts=true&streams=true&consumers=true"
    with urllib.request.urlopen(url, timeout=5) as resp:
        jsz = json.load(resp)
    counts: dict[str, float] = {}
    for account in jsz.get("account_details") or []:
        for stream in account.get("stream_detail") or []:
            counts[f"stored in {stream['name']}"] = float(stream["state"]["last_seq"])
            for consumer in stream.get("consumer_detail") or []:
                counts[f"delivered to {consumer['name']}"] = float(consumer["delivered"]["consumer_seq"])
    return counts


def print_jetstream(before: dict[str, float], after: dict[str, float], per: int) -> None:
    """--statements: JetStream messages per delivered signal, by stream and by consumer."""
    rows = sorted(((v - before.get(k, 0.0)) / per, k) for k, v in after.items())
    print("  JetStream messages per signal (stored by a stream, delivered to a consumer):")
    for n, name in reversed(rows):
        if n >= 0.01:
            print(f"    {n:5.2f}  {name}")


def statement_stats(mesh: Any, *, reset: bool = False, per: int = 1, top: int = 16) -> float:
    """pg_stat_statements (--statements): reset before the run; after it, prints the statements run
    per delivered signal (the busiest first) and returns their total. The server groups statements
    of the same shape on different schemas under one text."""
    import psycopg

    dsn = mesh.migration_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        if reset:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("SELECT pg_stat_statements_reset()")
            return 0.0
        rows = conn.execute(
            "SELECT calls, total_exec_time + total_plan_time, query "
            "FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC"
        ).fetchall()
    total = sum(calls for calls, _, _ in rows) / per
    inside = sum(ms for _, ms, _ in rows) / per
    print(
        f"  statements per signal: {total:.1f}, {inside:.2f} ms of planning and execution in all "
        "(the rest of the server's CPU: parsing, commits, NOTIFY, the protocol, autovacuum); the "
        "busiest (per signal: calls, ms):"
    )
    for calls, ms, query in rows[:top]:
        print(f"    {calls / per:5.2f} {ms / per:6.3f}  {' '.join(query.split())[:100]}")
    return round(total, 1)


def stages(dsn: str, sent: dict[str, float], received: dict[str, float]) -> dict[str, tuple[float, float]]:
    """Where each message's time went, from the two contexts' own rows (read as the superuser):
    published -> interventions' decision transaction began (decisions.created_at) -> notify's
    transaction storing the delivery began (deliveries.created_at) -> notify's record of the send
    (deliveries.sent_at) -> the Moodle server's receipt. p50 and p95 of each step, in ms."""
    import psycopg

    at: dict[str, dict[str, float]] = {m: {"published": t} for m, t in sent.items()}
    for marker, t in received.items():
        at[marker]["moodle"] = t
    with psycopg.connect(dsn.replace("postgresql+psycopg://", "postgresql://")) as conn:
        for stage, sql in (
            ("decided", "SELECT message, created_at FROM interventions.decisions"),
            ("notify_accepted", "SELECT body, created_at FROM notify.deliveries"),
            ("notify_recorded", "SELECT body, sent_at FROM notify.deliveries WHERE sent_at IS NOT NULL"),
        ):
            for text, when in conn.execute(sql):
                found = next((m for m in _markers(text) if m in at), None)
                if found is not None:
                    at[found][stage] = when.timestamp()
    order = ["published", "decided", "notify_accepted", "moodle", "notify_recorded"]
    out: dict[str, tuple[float, float]] = {}
    for a, b in itertools.pairwise(order):
        gaps = [(t[b] - t[a]) * 1000 for t in at.values() if a in t and b in t]
        out[f"{a} -> {b}"] = (percentile(gaps, 0.5), percentile(gaps, 0.95))
    return out


def analyze(mesh: Any) -> None:
    """ANALYZE, as autovacuum does on a running system: the tables were created empty minutes ago,
    and with no statistics the planner takes row-level security's tenant condition for a selective
    one (0.5% of the rows) and reaches a delivery by scanning its tenant's rows instead of by id,
    which grows with the table through the run."""
    import psycopg

    with psycopg.connect(
        mesh.migration_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    ) as c:
        c.execute("ANALYZE")


def receipts(fakes: FakesClient, sent: dict[str, float], timeout: float = 60) -> dict[str, float]:
    """When the local Moodle server received each of these markers' messages (its own clock)."""
    deadline = time.monotonic() + timeout
    received: dict[str, float] = {}
    while time.monotonic() < deadline and len(received) < len(sent):
        for m in fakes.messages("moodle"):
            for marker in _markers(m["text"]):
                if marker in sent:
                    received.setdefault(marker, m["received_at"])
        time.sleep(0.5)
    return received


def _markers(text: str) -> list[str]:
    words = (w.strip(".,;:()") for w in text.split())
    return [w for w in words if w.startswith("bench-")]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--reloads", type=int, default=10)
    parser.add_argument("--backtest-signals", type=int, default=10000)
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="record the serving process with py-spy (if installed) during the run, as a flame graph",
    )
    parser.add_argument(
        "--replica",
        action="append",
        default=[],
        metavar="CONTEXTS",
        help="start another serve process for these contexts (a comma list; repeatable), as another "
        "replica of each, e.g. --replica interventions --replica notify: the contexts in their own "
        "processes as in Kubernetes, where each context runs in pods of its own",
    )
    parser.add_argument(
        "--pipeline-only", action="store_true", help="measure the signal -> Moodle pipeline and stop"
    )
    parser.add_argument(
        "--statements",
        action="store_true",
        help="count the work per signal: the database's statements (PostgreSQL started with "
        "pg_stat_statements) and the JetStream messages each stream stored and each consumer was sent",
    )
    args = parser.parse_args()
    if args.statements:
        os.environ["LEARNFLOW_PG_STAT_STATEMENTS"] = "1"
    warm_up = WARM_UP_SIGNALS + args.rate * WARM_UP_SECONDS
    if warm_up + args.rate * args.seconds > STUDENTS * DAILY_CAP:
        # Each signal must become a message: past the cap, suppressed signals would count as lost.
        parser.error(
            f"--rate x --seconds may be at most {STUDENTS * DAILY_CAP - warm_up:.0f} signals: "
            f"{STUDENTS} students, at most {DAILY_CAP} interventions a day each (the highest "
            f"INTERVENTIONS_DAILY_CAP), less the warm-up's {warm_up:.0f}"
        )
    if args.profile and shutil.which("py-spy") is None:
        parser.error("--profile needs py-spy on PATH (pip install py-spy into .venv; not a dependency)")
    policies = folder()
    env = {
        "LEARNFLOW_LOCAL_PROVIDERS": "true",
        "INTERVENTIONS_POLICIES_DIR": str(policies),
        "INTERVENTIONS_DAILY_CAP": str(DAILY_CAP),
        "NOTIFY_MOODLE_PER_MINUTE": "100000",
        "NOTIFY_LIMIT_BURST": "1000",
        # Readiness re-checked as deployed (every 2 s), not the test meshes' 0.5 s: each check asks
        # NATS about every consumer and PostgreSQL about every outbox.
        "LEARNFLOW_HEALTH_INTERVAL_SECONDS": "2",
    }
    results = []
    extra: dict[str, object] = {}
    with running_mesh(**env) as mesh:
        assert mesh.providers is not None
        for contexts in args.replica:
            mesh.start_replica(contexts)
        fakes = FakesClient(mesh.providers.url)
        students = []
        for i in range(STUDENTS):
            made = new_student(mesh)
            fakes.add_user("moodle", made["email"], f"Student {i}")
            students.append(made)
        tenant = students[0]["tenant"]
        teacher = login(mesh, "teacher@demo.test")
        # The bench's students are in no class: their signals are stored as the tenant's admin (a
        # teacher may evaluate only their own students' signals, docs/interventions.md).
        admin = login(mesh, "admin@demo.test")
        # Warm up: the template, the workload token, the address cache of every student.
        ids = [s["id"] for s in students]
        asyncio.run(publish(mesh.nats_url, tenant, ids, 20, WARM_UP_SIGNALS / 20))
        time.sleep(3)
        fakes.reset()
        # Then at the measured rate: reported as such, not counted in the run.
        warm = asyncio.run(publish(mesh.nats_url, tenant, ids, args.rate, WARM_UP_SECONDS))
        warmed = receipts(fakes, warm)
        warm_latencies = [warmed[k] - warm[k] for k in warmed]
        warm_p50, warm_p95 = (percentile(warm_latencies, q) * 1000 for q in (0.5, 0.95))
        print(
            f"  warm-up, the first {WARM_UP_SECONDS:.0f} s at {args.rate:.0f}/s (not in the run): "
            f"p50 {warm_p50:.1f} ms, p95 {warm_p95:.1f} ms, {len(warmed)}/{len(warm)} delivered"
        )
        extra["warm_up_ms"] = {"p50": round(warm_p50, 1), "p95": round(warm_p95, 1)}
        analyze(mesh)
        time.sleep(2)
        fakes.reset()
        groups = cpu_groups(mesh)
        cpu_before = {name: cpu_seconds(pids) for name, pids in groups.items()}
        work_before = work_counts(mesh)
        if args.statements:
            statement_stats(mesh, reset=True)
            streams_before = jetstream_counts(mesh)
        server = mesh.server
        assert server is not None
        spy = (
            subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "--gil",
                    "--nonblocking",
                    "-p",
                    str(server.pid),
                    "-o",
                    args.profile,
                    "--format",
                    "raw" if args.profile.endswith(".txt") else "flamegraph",
                    "-d",
                    str(int(args.seconds) + 5),
                ]
            )
            if args.profile
            else None
        )
        sent = asyncio.run(publish(mesh.nats_url, tenant, ids, args.rate, args.seconds))
        received = receipts(fakes, sent)
        latencies = [received[k] - sent[k] for k in received]
        if spy is not None:
            spy.wait()
        # CPU per delivered signal by process: on 2 cores, 100/s leaves 20 ms of CPU per signal for
        # everything (the mesh, PostgreSQL, NATS, the local Moodle, this load).
        cpu_ms = {
            name: round((cpu_seconds(pids) - cpu_before[name]) * 1000 / max(1, len(received)), 2)
            for name, pids in groups.items()
        }
        extra["cpu_ms_per_signal"] = cpu_ms
        # Work per signal that does not depend on how busy the machine is: PostgreSQL transactions
        # committed and NATS messages (published and delivered), counted over the run.
        work = {
            k: round((v - work_before[k]) / max(1, len(received)), 1) for k, v in work_counts(mesh).items()
        }
        extra["work_per_signal"] = work
        if args.statements:
            extra["statements_per_signal"] = statement_stats(mesh, per=max(1, len(received)))
            print_jetstream(streams_before, jetstream_counts(mesh), max(1, len(received)))
        print("  per signal: " + ", ".join(f"{k} {v}" for k, v in work.items()))
        print("  CPU per signal (ms): " + ", ".join(f"{k} {v}" for k, v in cpu_ms.items()))
        pipe = figures(
            f"struggle.detected -> Moodle at {args.rate:.0f}/s",
            1,
            latencies,
            len(sent) - len(received),
            args.seconds,
        )
        pipe.paced = True
        p95 = percentile(latencies, 0.95) * 1000
        pipe.target = (
            f"p95 <= 40 ms (p95 {p95:.1f} ms, mean {sum(latencies) / max(1, len(latencies)) * 1000:.1f} ms)"
        )
        pipe.verdict = "meets" if p95 <= 40 and len(received) == len(sent) else "misses"
        results.append(pipe)
        extra["pipeline_p95_ms"] = p95
        extra["delivered"] = f"{len(received)}/{len(sent)}"
        extra["replicas"] = args.replica
        breakdown = stages(mesh.migration_url, sent, received)
        extra["stages_ms"] = breakdown
        for name, (p50, p95) in breakdown.items():
            print(f"  stage {name:<40} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms")

        report("interventions_pipeline", results, extra)  # written now too, in case a later part fails
        if args.pipeline_only:
            return 0
        time.sleep(15)  # let the backlog of the run above drain before timing anything else

        # A saved file in force: ListPolicyVersions over REST until the new version shows.
        path = policies / "review_concept.md"
        reloads = []
        for i in range(args.reloads):
            before = rest(
                mesh,
                "GET",
                "/v1/interventions/policyVersions?policyId=review_concept&pageSize=1",
                token=teacher,
            )
            version = before.body["versions"][0]["version"]
            path.write_text(path.read_text().replace(f"urgency: {60 + i}", f"urgency: {61 + i}"))
            saved = time.perf_counter()
            while True:
                now = rest(
                    mesh,
                    "GET",
                    "/v1/interventions/policyVersions?policyId=review_concept&pageSize=1",
                    token=teacher,
                )
                if now.status == 200 and now.body["versions"][0]["version"] > version:
                    break
                time.sleep(0.02)  # a busy poll meets the gateway's rate limit (429): not the watcher's figure
            reloads.append(time.perf_counter() - saved)
        reload_fig = figures("saved policy file -> in force", 1, reloads, 0, sum(reloads))
        reload_fig.target = "<= 1 s"
        reload_fig.verdict = "meets" if max(reloads) <= 1.0 else "misses"
        results.append(reload_fig)

        # BacktestPolicy over 10,000 stored signals (EvaluateSignal for a student with no policy match).
        with grpc.insecure_channel(mesh.grpc_addr) as ch:
            stub = ipb_grpc.InterventionsServiceStub(ch)
            start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
            from learnflow.interventions.v1 import resources_pb2 as ires

            async def store_signals() -> None:
                aio = grpc.aio.insecure_channel(mesh.grpc_addr)
                astub = ipb_grpc.InterventionsServiceStub(aio)
                sem = asyncio.Semaphore(32)

                async def one(i: int) -> None:
                    at = Timestamp()
                    at.FromDatetime(start + timedelta(seconds=30 * i))
                    async with sem:
                        await astub.EvaluateSignal(
                            ipb.EvaluateSignalRequest(
                                signal=ires.Signal(
                                    student_id=students[i % STUDENTS]["id"],
                                    kind="hint.requested",
                                    topic=f"t{i % 7}",
                                    occur_time=at,
                                    source_id=f"bench-{i}",
                                )
                            ),
                            metadata=bearer(admin),
                            timeout=30,
                        )

                await asyncio.gather(*(one(i) for i in range(args.backtest_signals)))
                await aio.close()

            asyncio.run(store_signals())
            candidate = (POLICIES / "ask_teacher.md").read_text().replace("at_least: 3", "at_least: 2")
            begin, end = Timestamp(), Timestamp()
            begin.FromDatetime(start)
            end.FromDatetime(start + timedelta(seconds=30 * args.backtest_signals + 1))
            runs = []
            for _ in range(3):
                t = time.perf_counter()
                reply = stub.BacktestPolicy(
                    ipb.BacktestPolicyRequest(
                        content=candidate, file_name="ask_teacher.md", start_time=begin, end_time=end
                    ),
                    metadata=bearer(teacher),
                    timeout=60,
                )
                runs.append(time.perf_counter() - t)
            bt = figures(f"BacktestPolicy over {reply.signals} stored signals", 1, runs, 0, sum(runs))
            bt.target = "<= 5 s"
            bt.verdict = "meets" if max(runs) <= 5 and reply.signals >= args.backtest_signals else "misses"
            results.append(bt)
            extra["backtest_flips"] = len(reply.flips)
    report("interventions_pipeline", results, extra)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
