"""The ops alert receiver over real HTTP and a real PostgreSQL: authentication, malformed bodies, the
hourly limit shared by two replicas with what it held back told in the next message, PagerDuty's
trigger/resolve, and the path that still delivers while PostgreSQL is stopped.

The providers (Slack, PagerDuty) are local fakes (alerts_fakes.py): they are third-party SaaS.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alerts_fakes import FakeProvider, WebhookChannel

from services.notify.alerts import OpsAlerts
from services.notify.alerts_settings import AlertSettings
from services.notify.channels.base import Channel
from services.notify.tables import ops_alerts
from services.runtime.db import Database
from services.runtime.local.postgres import EmbeddedPostgres
from services.runtime.settings import read

TOKEN = "test-alert-token-8f2d"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def settings(**env: str) -> AlertSettings:
    return read(
        AlertSettings,
        {
            "NOTIFY_ALERTS_LISTEN_ADDR": "127.0.0.1:0",
            "NOTIFY_ALERTS_WEBHOOK_TOKEN": TOKEN,
            "NOTIFY_ALERTS_DB_TIMEOUT_SECONDS": "1",
            **env,
        },
    )


def alert(name: str, status: str = "firing", severity: str = "warning", fp: str = "", **labels: str) -> dict:
    return {
        "status": status,
        "labels": {"alertname": name, "severity": severity, "check": "sla", **labels},
        "annotations": {
            "summary": f"{name} summary",
            "description": f"{name} description",
            "action": "look at the dashboard",
            "runbook_url": "https://learnflow.dev/docs/ops-alerting#x",
        },
        "startsAt": "2026-12-06T12:00:00.123456789Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph?g0.expr=x",
        "fingerprint": fp or f"fp-{name}",
    }


def notification(*alerts: dict, receiver: str = "slack") -> dict:
    name = str(alerts[0]["labels"].get("alertname", ""))
    return {
        "version": "4",
        "groupKey": '{}:{alertname="' + name + '"}',
        "truncatedAlerts": 0,
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "receiver": receiver,
        "groupLabels": {"alertname": name},
        "commonLabels": {"alertname": name},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


@asynccontextmanager
async def receiver(
    url: str, channels: Mapping[str, Channel], **env: str
) -> AsyncIterator[tuple[OpsAlerts, str, Database]]:
    db = Database(url, pool_size=2)
    ops = OpsAlerts(settings(**env), db, channels)
    await ops.start()
    assert ops.address is not None
    try:
        yield ops, f"http://127.0.0.1:{ops.address[1]}", db
    finally:
        await ops.stop()
        await db.dispose()


@asynccontextmanager
async def providers() -> AsyncIterator[tuple[FakeProvider, FakeProvider, dict[str, Channel]]]:
    slack, pd = await FakeProvider().start(), await FakeProvider().start()
    channels: dict[str, Channel] = {
        "slack": WebhookChannel("slack", slack.url),
        "pagerduty": WebhookChannel("pagerduty", pd.url, body_format="text"),
    }
    try:
        yield slack, pd, channels
    finally:
        for ch in channels.values():
            await ch.aclose()
        await slack.stop()
        await pd.stop()


async def rows(db: Database, **where: Any) -> list[Any]:
    async with db.transaction(tenant_id="") as conn:
        q = sa.select(ops_alerts).order_by(ops_alerts.c.received_at)
        for k, v in where.items():
            q = q.where(ops_alerts.c[k] == v)
        return list((await conn.execute(q)).all())


async def an_hour_passes(db: Database, *replicas: OpsAlerts) -> None:
    """The shared bucket's clock is PostgreSQL's: move its last refill an hour back. Each replica's
    in-process memory of "denied until T" (ratelimit.py's fast path) is wall-clock, so it is
    forgotten too, as it would be after an hour."""
    async with db.transaction(tenant_id="") as conn:
        await conn.execute(
            sa.text("UPDATE notify.rate_limits SET updated_at = updated_at - interval '1 hour'")
        )
    for ops in replicas:
        ops.limiter._denied_until.clear()


async def reset(db: Database) -> None:
    async with db.transaction(tenant_id="") as conn:
        await conn.execute(sa.text("DELETE FROM notify.ops_alerts"))
        await conn.execute(sa.text("DELETE FROM notify.rate_limits"))


# --- refused requests ----------------------------------------------------------------------------------

MALFORMED: list[tuple[str, bytes, str]] = [
    ("not json", b"{oops", "body"),
    ("not an object", b"[1, 2]", "body"),
    ("no version", json.dumps({**notification(alert("A")), "version": "3"}).encode(), "version"),
    ("no alerts", json.dumps({**notification(alert("A")), "alerts": []}).encode(), "alerts"),
    ("bad status", json.dumps({**notification(alert("A")), "status": "maybe"}).encode(), "status"),
    (
        "labels not strings",
        json.dumps(notification({**alert("A"), "labels": {"alertname": 3}})).encode(),
        "alerts[0].labels",
    ),
    (
        "no alertname",
        json.dumps(notification({**alert("A"), "labels": {"severity": "warning"}})).encode(),
        "alerts[0].labels.alertname",
    ),
    (
        "bad time",
        json.dumps(notification({**alert("A"), "startsAt": "yesterday"})).encode(),
        "alerts[0].startsAt",
    ),
    (
        "no fingerprint",
        json.dumps(notification({**alert("A"), "fingerprint": ""})).encode(),
        "alerts[0].fingerprint",
    ),
    (
        "bad truncated",
        json.dumps({**notification(alert("A")), "truncatedAlerts": -1}).encode(),
        "truncatedAlerts",
    ),
    ("not utf-8", b"\xff\xfe\x00", "body"),
    ("too large", b" " * (1 << 20) + b"{}", "body"),
]


def test_malformed_bodies_are_400_with_the_field_and_nothing_is_sent(postgres: EmbeddedPostgres) -> None:
    async def main() -> None:
        async with (
            providers() as (slack, pd, channels),
            receiver(postgres.app_url, channels) as (_, base, db),
        ):
            async with httpx.AsyncClient(timeout=10) as client:
                for what, body, field in MALFORMED:
                    reply = await client.post(f"{base}/v1/alerts/slack", content=body, headers=AUTH)
                    assert reply.status_code == 400, (what, reply.status_code, reply.text)
                    payload = reply.json()
                    assert payload["error"] == "INVALID_ARGUMENT", what
                    fields = [v["field"] for v in payload["field_violations"]]
                    assert field in fields, (what, fields)
            assert slack.received == [] and pd.received == []
            assert await rows(db) == []

    asyncio.run(main())


def test_requests_without_the_token_or_to_an_unknown_channel_are_refused(
    postgres: EmbeddedPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")

    async def main() -> None:
        async with (
            providers() as (slack, _, channels),
            receiver(postgres.app_url, channels) as (_, base, _db),
        ):
            body = json.dumps(notification(alert("A")))
            async with httpx.AsyncClient(timeout=10) as client:
                for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                    reply = await client.post(f"{base}/v1/alerts/slack", content=body, headers=headers)
                    assert reply.status_code == 401 and reply.json()["error"] == "UNAUTHENTICATED"
                    assert reply.headers["WWW-Authenticate"] == "Bearer"
                reply = await client.post(f"{base}/v1/alerts/sms", content=body, headers=AUTH)
                assert reply.status_code == 404 and reply.json()["channels"] == ["slack", "pagerduty"]
                assert (
                    await client.post(f"{base}/v1/alerts/slack", content=body, headers=AUTH)
                ).status_code == 200
            assert len(slack.received) == 1  # only the authenticated one
        assert TOKEN not in caplog.text, "the webhook secret was logged"

    asyncio.run(main())


# --- the limit, shared, and what it holds back -----------------------------------------------------------


def test_five_an_hour_per_channel_across_replicas_and_the_held_ones_are_told_next(
    postgres: EmbeddedPostgres,
) -> None:
    async def main() -> None:
        async with (
            providers() as (slack, pd, channels),
            receiver(postgres.app_url, channels) as (ops_a, base_a, db),
            receiver(postgres.app_url, channels) as (ops_b, base_b, _db),
        ):
            await reset(db)
            async with httpx.AsyncClient(timeout=10) as client:
                answers = []
                for i in range(8):  # alternate replicas, as a Service would
                    base = (base_a, base_b)[i % 2]
                    n = notification(alert(f"Alert{i % 2}", fp=f"fp{i}", tenant=f"t{i}"))
                    reply = await client.post(f"{base}/v1/alerts/slack", json=n, headers=AUTH)
                    assert reply.status_code == 200, reply.text
                    answers.append(reply.json())
                assert [a["sent"] for a in answers] == [1] * 5 + [0] * 3
                assert [a["held"] for a in answers] == [0] * 5 + [1] * 3
                assert len(slack.received) == 5
                held = await rows(db, outcome="held")
                assert sorted(r.fingerprint for r in held) == ["fp5", "fp6", "fp7"]

                # Another channel has its own limit.
                reply = await client.post(
                    f"{base_a}/v1/alerts/pagerduty",
                    json=notification(alert("Page", severity="critical")),
                    headers=AUTH,
                )
                assert reply.json()["sent"] == 1 and len(pd.received) == 1

                await an_hour_passes(db, ops_a, ops_b)
                reply = await client.post(
                    f"{base_b}/v1/alerts/slack", json=notification(alert("Next", fp="fp8")), headers=AUTH
                )
                assert reply.json() == {"sent": 1, "held": 0, "path": "delivery_log"}
            text = slack.received[-1]["text"]
            assert "*[FIRING] Next*" in text
            # The three held back, named, in the next message; then marked as told, by that message.
            assert "3 more alert(s) held back by the hourly limit since" in text
            assert "Alert1 (firing) x2, Alert0 (firing) x1" in text
            summarised = await rows(db, outcome="summarised")
            assert sorted(r.fingerprint for r in summarised) == ["fp5", "fp6", "fp7"]
            carrier = (await rows(db, fingerprint="fp8"))[0]
            assert {r.summarised_in for r in summarised} == {carrier.id}
            assert await rows(db, outcome="held") == []
            # Nothing more to tell: flush sends nothing.
            await ops_a.flush()
            assert len(slack.received) == 6

    asyncio.run(main())


def test_held_alerts_are_summarised_on_their_own_when_no_next_alert_comes(postgres: EmbeddedPostgres) -> None:
    async def main() -> None:
        async with (
            providers() as (slack, _, channels),
            receiver(postgres.app_url, channels, NOTIFY_ALERTS_PER_HOUR="1") as (ops, base, db),
        ):
            await reset(db)
            async with httpx.AsyncClient(timeout=10) as client:
                for i in range(3):
                    n = notification(alert("Disk", fp=f"d{i}"))
                    assert (
                        await client.post(f"{base}/v1/alerts/slack", json=n, headers=AUTH)
                    ).status_code == 200
            assert len(slack.received) == 1
            await ops.flush()  # the limit is spent: nothing yet
            assert len(slack.received) == 1
            await an_hour_passes(db, ops)
            await ops.flush()
            assert len(slack.received) == 2
            assert "2 more alert(s) held back" in slack.received[1]["text"]
            assert "Disk (firing) x2" in slack.received[1]["text"]
            assert await rows(db, outcome="held") == []
            assert len(await rows(db, kind="summary")) == 1

    asyncio.run(main())


def test_pagerduty_gets_a_trigger_and_a_resolve_with_the_fingerprint_as_dedup_key(
    postgres: EmbeddedPostgres,
) -> None:
    async def main() -> None:
        async with providers() as (_, pd, channels), receiver(postgres.app_url, channels) as (_, base, db):
            await reset(db)
            a = alert(
                "PostgresUnreachable", severity="critical", fp="abc123", instance="pod-1", context="notify"
            )
            async with httpx.AsyncClient(timeout=10) as client:
                for status in ("firing", "resolved"):
                    n = notification({**a, "status": status}, receiver="pagerduty")
                    reply = await client.post(f"{base}/v1/alerts/pagerduty", json=n, headers=AUTH)
                    assert reply.status_code == 200, reply.text
            trigger, resolve = pd.received
            assert (
                trigger["extra"]["event_action"] == "trigger"
                and resolve["extra"]["event_action"] == "resolve"
            )
            assert trigger["extra"]["dedup_key"] == resolve["extra"]["dedup_key"] == "abc123"
            assert trigger["extra"]["severity"] == "critical" and trigger["extra"]["source"] == "pod-1"
            assert json.loads(trigger["extra"]["links"])["runbook_url"].endswith("#x")
            assert trigger["subject"] == "[CRITICAL] PostgresUnreachable summary"
            assert (
                "Failed check: sla" in trigger["text"]
                and "Affected: context=notify, instance=pod-1" in trigger["text"]
            )
            assert [r.status for r in await rows(db, channel="pagerduty")] == ["firing", "resolved"]

    asyncio.run(main())


# --- PostgreSQL down ----------------------------------------------------------------------------------


def test_alerts_still_go_out_while_postgres_is_down_and_are_recorded_when_it_is_back(
    own_postgres: EmbeddedPostgres,
) -> None:
    recorded: list[tuple[Any, ...]] = []

    async def record_delivery(*args: Any) -> None:
        recorded.append(args)

    async def main() -> None:
        async with (
            providers() as (slack, pd, channels),
            receiver(own_postgres.app_url, channels, NOTIFY_ALERTS_PER_HOUR="2") as (ops, base, db),
        ):
            ops.record_delivery = record_delivery
            async with httpx.AsyncClient(timeout=20) as client:

                async def post(
                    name: str, channel: str = "slack", severity: str = "warning"
                ) -> httpx.Response:
                    n = notification(alert(name, severity=severity, fp=f"fp-{name}"))
                    return await client.post(f"{base}/v1/alerts/{channel}", json=n, headers=AUTH)

                assert (await post("Before")).json()["path"] == "delivery_log"
                await asyncio.to_thread(own_postgres.stop)

                began = asyncio.get_running_loop().time()
                reply = await post("PostgresUnreachable", "pagerduty", "critical")
                took = asyncio.get_running_loop().time() - began
                assert reply.status_code == 200 and reply.json() == {"sent": 1, "held": 0, "path": "direct"}
                assert took < 5, (
                    f"the direct path took {took:.1f}s"
                )  # seed: alert dispatch < 2 s + DB timeout
                assert pd.received[-1]["extra"]["dedup_key"] == "fp-PostgresUnreachable"

                # The in-process limit (2 an hour) applies while the shared one is unreachable.
                answers = [(await post(f"Down{i}")).json() for i in range(3)]
                assert [a["sent"] for a in answers] == [1, 0, 0] and {a["path"] for a in answers} == {
                    "direct"
                }
                assert [m["text"].splitlines()[0] for m in slack.received] == [
                    "*[FIRING] Before*",
                    "*[FIRING] Down0*",
                ]

                # Provider down too: 503, so Alertmanager retries the notification.
                pd.fail_with = 503
                reply = await post("AlsoDown", "pagerduty", "critical")
                assert reply.status_code == 503 and reply.json()["error"] == "UNAVAILABLE"
                pd.fail_with = None
                assert len(ops.spool) == 4  # PostgresUnreachable, Down0 sent; Down1, Down2 held

                await asyncio.to_thread(own_postgres.start)
                await ops.flush()
            assert len(ops.spool) == 0
            direct = await rows(db, path="direct")
            assert sorted((r.alertname, r.outcome) for r in direct) == [
                ("Down0", "sent"),
                ("Down1", "held"),
                ("Down2", "held"),
                ("PostgresUnreachable", "sent"),
            ]
            # The messages sent straight to the channel are handed to the delivery log's seam.
            assert sorted(r[0] for r in recorded) == ["pagerduty", "slack"]
            assert all(isinstance(r[5], datetime) and r[5].tzinfo is UTC for r in recorded)
            # The held ones are now shared "held" rows: told by the next message from any replica.
            await an_hour_passes(db, ops)
            await ops.flush()
            assert "2 more alert(s) held back" in slack.received[-1]["text"]

    asyncio.run(main())


def test_a_failed_send_keeps_the_held_alerts_for_the_next_message(postgres: EmbeddedPostgres) -> None:
    async def main() -> None:
        async with (
            providers() as (slack, _, channels),
            receiver(postgres.app_url, channels, NOTIFY_ALERTS_PER_HOUR="1") as (ops, base, db),
        ):
            await reset(db)
            async with httpx.AsyncClient(timeout=10) as client:
                for i in range(2):
                    n = notification(alert("Q", fp=f"q{i}"))
                    await client.post(f"{base}/v1/alerts/slack", json=n, headers=AUTH)
                await an_hour_passes(db, ops)
                slack.fail_with = 500
                reply = await client.post(
                    f"{base}/v1/alerts/slack", json=notification(alert("R", fp="r")), headers=AUTH
                )
                assert reply.status_code == 503
            assert [r.fingerprint for r in await rows(db, outcome="held")] == ["q1"]

    asyncio.run(main())


@pytest.mark.parametrize(("hour", "sent"), [(5, False), (7, True)])
def test_the_daily_digest_goes_to_each_operator_once(
    postgres: EmbeddedPostgres, hour: int, sent: bool
) -> None:
    async def main() -> None:
        async with providers() as (_slack, _, channels):
            email = FakeProvider()
            await email.start()
            channels["email"] = WebhookChannel("email", email.url, body_format="text")
            db = Database(postgres.app_url, pool_size=2)
            await reset(db)
            now = datetime(2026, 12, 6, hour, 30, tzinfo=UTC)
            ops = OpsAlerts(
                settings(NOTIFY_ALERTS_OPERATORS="ops1@example.org,ops2@example.org"),
                db,
                channels,
                now=lambda: now,
                delivery_figures=lambda day: _figures(day),
            )
            async with db.transaction(tenant_id="") as conn:
                yesterday = datetime(2026, 12, 5, 10, tzinfo=UTC)
                await conn.execute(
                    ops_alerts.insert(),
                    [
                        {
                            "id": uuid.uuid4(),
                            "channel": "slack",
                            "alertname": "InterventionSlaBelowTarget",
                            "status": "firing",
                            "severity": "warning",
                            "outcome": o,
                            "received_at": yesterday,
                        }
                        for o in ("sent", "held", "sent")
                    ],
                )
            try:
                assert await ops.digest() is sent
                assert await ops.digest() is False  # never twice for a day
            finally:
                await db.dispose()
                await email.stop()
            if not sent:
                assert email.received == []
                return
            assert sorted(m["address"] for m in email.received) == ["ops1@example.org", "ops2@example.org"]
            text = email.received[0]["text"]
            assert "LearnFlow operations digest for Saturday 05 December 2026" in text
            assert "  sent: 120" in text and "  failed: 3" in text
            assert "Alerts fired: 3" in text and "InterventionSlaBelowTarget (warning): 3" in text
            assert "held 1, sent 2" in text
            assert "not available (no Prometheus configured" in text

    asyncio.run(main())


async def _figures(day: Any) -> dict[str, int]:
    assert str(day) == "2026-12-05"
    return {"sent": 120, "failed": 3}


def _postgres_processes(pg: EmbeddedPostgres) -> list[int]:
    """The postmaster of this test's PostgreSQL and its backends (children), by PID."""
    postmaster = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
    pids = [postmaster]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == postmaster:
                pids.append(int(stat.parent.name))
    return pids


def test_a_hung_postgres_is_a_timeout_and_the_alert_goes_straight_out(own_postgres: EmbeddedPostgres) -> None:
    """PostgreSQL that accepts connections but never answers (every process of it stopped): the alert
    waits NOTIFY_ALERTS_DB_TIMEOUT_SECONDS, not a TCP timeout, then takes the direct path."""

    async def main() -> None:
        async with (
            providers() as (slack, _, channels),
            receiver(own_postgres.app_url, channels, NOTIFY_ALERTS_DB_TIMEOUT_SECONDS="0.5") as (
                ops,
                base,
                db,
            ),
        ):
            async with httpx.AsyncClient(timeout=20) as client:

                async def post(name: str) -> httpx.Response:
                    n = notification(alert(name, fp=f"fp-{name}"))
                    return await client.post(f"{base}/v1/alerts/slack", json=n, headers=AUTH)

                assert (await post("Before")).json()["path"] == "delivery_log"  # the pool holds a connection
                pids = _postgres_processes(own_postgres)
                for pid in pids:
                    os.kill(pid, signal.SIGSTOP)
                try:
                    began = asyncio.get_running_loop().time()
                    reply = await post("Hung")
                    took = asyncio.get_running_loop().time() - began
                finally:
                    for pid in pids:
                        os.kill(pid, signal.SIGCONT)
                assert reply.json() == {"sent": 1, "held": 0, "path": "direct"}, reply.text
                assert took < 2.5, f"{took:.1f}s"
                assert slack.received[-1]["text"].startswith("*[FIRING] Hung*")
            await ops.flush()
            assert [(r.alertname, r.path) for r in await rows(db, fingerprint="fp-Hung")] == [
                ("Hung", "direct")
            ]

    asyncio.run(main())
