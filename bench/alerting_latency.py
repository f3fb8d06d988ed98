"""Metric crosses the SLA threshold -> the message reaches Slack, through the real chain.

    .venv/bin/python -m bench.alerting_latency [--rounds 10]

A /metrics endpoint (prometheus_client) exports learnflow_intervention_sla_compliance_ratio; Debian's
Prometheus scrapes and evaluates deploy/prometheus/rules.yml every second (each rule's
`for` at 0 s), Debian's Alertmanager routes with deploy/prometheus/alertmanager.yml (group_wait 0 s),
notify's receiver (services/notify/alerts.py, real PostgreSQL for its limits and records) sends to a
local Slack webhook server. Each round breaches the SLA of a new tenant (a new alert group) and times
from the gauge's change to the Slack server's receipt.

The figure is the pipeline's own cost plus up to two intervals (scrape, then evaluation); with the
production timings add the rule's `for` (2 m) and group_wait (30 s). Target (issue 11): <= 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, start_http_server

from bench.common import RESULTS
from services.notify.alerts import OpsAlerts
from services.notify.alerts_settings import AlertSettings
from services.runtime import migrations
from services.runtime.contexts import load_contexts
from services.runtime.db import Database
from services.runtime.local import alerting
from services.runtime.local.postgres import APP_ROLE, EmbeddedPostgres
from services.runtime.local.procs import free_port
from services.runtime.settings import read
from services.runtime.testing import mesh_dir

# The local Slack server and channel the tests use (Slack is third-party SaaS).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "notify" / "alerts"))
from alerts_fakes import FakeProvider, WebhookChannel

TOKEN = "bench-alert-token"


async def main(rounds: int) -> dict[str, float]:
    interval = 1.0  # alerting.Monitoring(fast=True): scrape and evaluation every second
    root = mesh_dir("learnflow-bench-alerting-")
    pg = EmbeddedPostgres(root / "postgres", free_port())
    registry = CollectorRegistry()
    sla = Gauge("learnflow_intervention_sla_compliance_ratio", "SLA", ["tenant"], registry=registry)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    slack = await FakeProvider().start()
    channel = WebhookChannel("slack", slack.url)
    try:
        await asyncio.to_thread(pg.start)
        await asyncio.to_thread(migrations.run, pg.superuser_url, APP_ROLE, load_contexts(["notify"]))
        db = Database(pg.app_url, pool_size=2)
        settings = read(
            AlertSettings,
            {
                "NOTIFY_ALERTS_LISTEN_ADDR": "127.0.0.1:0",
                "NOTIFY_ALERTS_WEBHOOK_TOKEN": TOKEN,
                "NOTIFY_ALERTS_PER_HOUR": str(rounds + 5),
            },
        )
        ops = OpsAlerts(settings, db, {"slack": channel})
        await ops.start()
        assert ops.address is not None
        monitoring = alerting.Monitoring(
            root / "monitoring", [f"127.0.0.1:{port}"], f"http://127.0.0.1:{ops.address[1]}", TOKEN, fast=True
        )
        await asyncio.to_thread(monitoring.start)
        latencies = []
        for i in range(rounds):
            tenant = f"bench-{i}"
            sla.labels(tenant).set(0.97)
            await asyncio.sleep(2 * interval + 0.5)  # scraped healthy first
            before = len(slack.received)
            crossed = time.monotonic()
            sla.labels(tenant).set(0.8)
            await slack.wait(before + 1, timeout=60)
            latencies.append(time.monotonic() - crossed)
            assert f"tenant {tenant}" in slack.received[-1]["text"]
            sys.stdout.write(f"round {i + 1}: {latencies[-1]:.2f}s\n")
            sys.stdout.flush()
        await asyncio.to_thread(monitoring.stop)
        await ops.stop()
        await db.dispose()
        return {
            "rounds": rounds,
            "interval_s": interval,
            "p50_s": statistics.median(latencies),
            "max_s": max(latencies),
            "mean_s": statistics.fmean(latencies),
            "target_s": 60.0,
        }
    finally:
        await channel.aclose()
        await slack.stop()
        server.shutdown()
        thread.join(5)
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    if not alerting.available():
        sys.exit("Prometheus and Alertmanager are not installed (make setup installs them as root)")
    result = asyncio.run(main(args.rounds))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "alerting_latency.json").write_text(json.dumps(result, indent=2) + "\n")
    sys.stdout.write(json.dumps(result) + "\n")
