"""End to end through the ecosystem's own tools: a metric crosses a threshold on a real /metrics
endpoint, Debian's Prometheus evaluates deploy/prometheus/rules.yml against it, Debian's Alertmanager
routes by severity with deploy/prometheus/alertmanager.yml, and notify's receiver delivers with its
real Slack and PagerDuty channels to the local provider servers (services/notify/fakes) within the
test. Timings are shortened (1 s scrape and evaluation,
`for` 0 s, no group wait); the rules' expressions and the routing are the files' own.

Skipped only where Prometheus and Alertmanager are not installed (`make setup` installs them as root).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
import urllib.request
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Gauge, start_http_server
from test_alerts_receiver import TOKEN, providers, reset, settings

from services.notify.alerts import OpsAlerts
from services.notify.fakes import FakeProviders
from services.notify.tables import ops_alerts
from services.runtime.db import Database
from services.runtime.local import alerting
from services.runtime.local.postgres import EmbeddedPostgres
from services.runtime.local.procs import free_port
from services.runtime.testing import mesh_dir

pytestmark = pytest.mark.skipif(not alerting.available(), reason="prometheus/alertmanager not installed")


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as reply:
        return json.loads(reply.read())


def test_a_firing_rule_reaches_slack_and_pagerduty_through_prometheus_and_alertmanager(
    postgres: EmbeddedPostgres, fakes: FakeProviders
) -> None:
    registry = CollectorRegistry()
    sla = Gauge(
        "learnflow_intervention_sla_compliance_ratio", "SLA compliance", ["tenant"], registry=registry
    )
    dependency = Gauge("learnflow_dependency_up", "dependency answers", ["dependency"], registry=registry)
    sla.labels("demo").set(0.97)
    dependency.labels("postgres").set(1)
    metrics_port = free_port()
    server, thread = start_http_server(metrics_port, addr="127.0.0.1", registry=registry)

    async def main() -> None:
        async with providers(fakes) as (slack, pd, channels):
            await run(slack, pd, channels)

    async def run(slack: Any, pd: Any, channels: Any) -> None:
        db = Database(postgres.app_url, pool_size=2)
        await reset(db)
        ops = OpsAlerts(settings(), db, channels)
        await ops.start()
        assert ops.address is not None
        folder = mesh_dir("learnflow-alerting-e2e-")
        monitoring = alerting.Monitoring(
            folder,
            targets=[f"127.0.0.1:{metrics_port}"],
            receiver_url=f"http://127.0.0.1:{ops.address[1]}",
            token=TOKEN,
            fast=True,
        )
        try:
            await asyncio.to_thread(monitoring.start)
            # Prometheus has the healthy value before the breach (so the breach is a change it sees).
            for _ in range(100):
                up = _get(f"{monitoring.prometheus_url}/api/v1/query?query=up")["data"]["result"]
                if up and up[0]["value"][1] == "1":
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("Prometheus never scraped the metrics endpoint")
            assert slack.received == [] and pd.received == []

            # SLA compliance falls below 90%: a warning, to Slack.
            crossed = time.monotonic()
            sla.labels("demo").set(0.82)
            (message,) = await slack.wait(1, timeout=60)
            latency = time.monotonic() - crossed
            text = message["text"]
            assert text.startswith("*[FIRING] InterventionSlaBelowTarget*"), text
            assert "Intervention SLA compliance 82% for tenant demo (target 90%)" in text
            assert "failed check: `sla`" in text and "> *Affected:* tenant=demo\n" in text
            assert "> *Do first:* Check the interventions context" in text
            assert "<https://learnflow.dev/docs/ops-alerting#interventionslabelowtarget|runbook>" in text
            assert f"{monitoring.prometheus_url}/graph?g0.expr=" in text
            assert pd.received == []  # a warning never pages
            assert latency < 60, f"threshold -> Slack took {latency:.1f}s"  # the target

            # PostgreSQL unreachable: critical, to PagerDuty, with the alert's fingerprint as dedup key.
            dependency.labels("postgres").set(0)
            (trigger,) = await pd.wait(1, timeout=60)
            assert (
                trigger["extra"]["event_action"] == "trigger" and trigger["extra"]["severity"] == "critical"
            )
            assert trigger["subject"].startswith("[CRITICAL] PostgreSQL is unreachable from 127.0.0.1:")
            alerts = _get(
                f"{monitoring.alertmanager_url}/api/v2/alerts?filter=alertname%3D%22PostgresUnreachable%22"
            )
            assert trigger["extra"]["dedup_key"] == alerts[0]["fingerprint"]

            # Back up: the incident is resolved under the same key.
            dependency.labels("postgres").set(1)
            _, resolve = await pd.wait(2, timeout=60)
            assert resolve["extra"]["event_action"] == "resolve"
            assert resolve["extra"]["dedup_key"] == trigger["extra"]["dedup_key"]

            async with db.transaction(tenant_id="") as conn:
                recorded = (
                    await conn.execute(
                        sa.select(ops_alerts.c.alertname, ops_alerts.c.status, ops_alerts.c.channel)
                    )
                ).all()
            assert ("InterventionSlaBelowTarget", "firing", "slack") in recorded
            assert ("PostgresUnreachable", "resolved", "pagerduty") in recorded
        finally:
            await asyncio.to_thread(monitoring.stop)
            await ops.stop()
            await db.dispose()
            if not os.environ.get("LEARNFLOW_KEEP_TEST_DATA"):  # Prometheus' and Alertmanager's files
                shutil.rmtree(folder, ignore_errors=True)

    try:
        asyncio.run(main())
    finally:
        server.shutdown()
        thread.join(5)
