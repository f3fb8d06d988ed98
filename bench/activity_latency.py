"""An attempt committed in the LMS → the mentor's DM accepted by the local Zulip server.

    .venv/bin/python -m bench.activity_latency [--samples 20 --poll 1 --settle 0.5]

Starts a mesh of its own with the local providers and the demo LMS (as `make up` does), the monitor
polling every `--poll` s with a `--settle` s lag. Each sample commits one passed exam attempt of the demo
student at a random phase of the poll interval, then waits for the demo teacher's "Result: Pass" DM in
the local Zulip; the latency is the Zulip server's receive time minus the commit time (same clock).
Target (issue 15): p95 <= poll interval + settle lag + 300 ms.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import time

import psycopg

from bench.common import figures, percentile, report
from services.notify.fakes.client import FakesClient
from services.runtime.testing import mesh_dir, new_mesh


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--poll", type=float, default=1.0, help="LMS_ACTIVITY_POLL_INTERVAL")
    parser.add_argument("--settle", type=float, default=0.5, help="LMS_ACTIVITY_SETTLE_LAG_SECONDS")
    args = parser.parse_args()
    root = mesh_dir("learnflow-bench-activity-latency-")
    mesh = new_mesh(
        root,
        LEARNFLOW_LOCAL_PROVIDERS="true",
        LEARNFLOW_DEMO_LMS="true",
        LMS_ACTIVITY_POLL_INTERVAL=str(args.poll),
        LMS_ACTIVITY_SETTLE_LAG_SECONDS=str(args.settle),
        NOTIFY_ZULIP_PER_MINUTE="100000",
    )
    latencies: list[float] = []
    errors = 0
    rng = random.Random(15)
    sys.stderr.write("starting the mesh...\n")
    try:
        mesh.start()
        fakes = FakesClient(mesh.providers.url)
        owner = mesh.demo_lms.owner_conninfo
        began = time.monotonic()
        with psycopg.connect(owner, autocommit=True) as lms:
            for _ in range(args.samples):
                seen = {m["id"] for m in fakes.messages("zulip")}
                time.sleep(rng.uniform(0, args.poll))  # a random phase of the poll interval
                lms.execute(
                    "INSERT INTO attempts (student_id, exam_id, state, percentage, started_at, finished_at)"
                    " VALUES (1, 1, 'passed', 90, now(), now())"
                )
                committed = time.time()
                deadline = time.monotonic() + 10 * (args.poll + args.settle) + 10
                while time.monotonic() < deadline:
                    new = [
                        m
                        for m in fakes.messages("zulip")
                        if m["id"] not in seen and "Result: Pass" in m["text"]
                    ]
                    if new:
                        latencies.append(new[0]["received_at"] - committed)
                        break
                    time.sleep(0.02)
                else:
                    errors += 1
        took = time.monotonic() - began
    finally:
        mesh.stop()
        shutil.rmtree(root, ignore_errors=True)
    fig = figures("LMS commit -> mentor DM in Zulip", 1, latencies, errors, took)
    target = args.poll + args.settle + 0.3
    p95 = percentile(latencies, 0.95)
    fig.target = f"target p95<={target:.1f}s (poll {args.poll}s + settle {args.settle}s + 300ms)"
    fig.verdict = "MET" if p95 <= target and not errors else "MISSED"
    report("activity_latency", [fig], {"p95_seconds": p95, "poll": args.poll, "settle": args.settle})
    return 0


if __name__ == "__main__":
    sys.exit(main())
