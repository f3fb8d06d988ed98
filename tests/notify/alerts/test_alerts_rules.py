"""The rules and the routing, checked by the ecosystem's own tools: `promtool check rules`, `amtool
check-config`, and `promtool test rules` with input series for every alert (it fires with its
severity, check and rendered annotations after its `for`, and not before; it stays quiet when
healthy). Plus the structure every rule must have for the receiver to make an actionable message.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.runtime.local import alerting

RULES = alerting.RULES_FILE
ALERTMANAGER = alerting.ALERTMANAGER_FILE
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
AMTOOL = shutil.which("amtool") or "/usr/bin/amtool"
needs_promtool = pytest.mark.skipif(not Path(PROMTOOL).exists(), reason="promtool not installed")
needs_amtool = pytest.mark.skipif(not Path(AMTOOL).exists(), reason="amtool not installed")


def all_rules() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    done = subprocess.run(
        [PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(all_rules())} rules found" in done.stdout


@needs_amtool
def test_amtool_accepts_the_routing(tmp_path: Path) -> None:
    for path in (ALERTMANAGER, tmp_path / "local.yml"):
        if path != ALERTMANAGER:  # and as `make up` renders it
            token = tmp_path / "token"
            token.write_text("t")
            path.write_text(
                yaml.safe_dump(alerting.alertmanager_config("http://127.0.0.1:1", token, fast=True))
            )
        done = subprocess.run(
            [AMTOOL, "check-config", str(path)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr


@needs_amtool
@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        ("alertname=InterventionSlaBelowTarget severity=warning", "slack"),
        ("alertname=PostgresUnreachable severity=critical", "pagerduty"),
        ("alertname=Unknown", "slack"),  # no severity: the default receiver, never dropped
    ],
)
def test_severity_routes_to_its_receiver(labels: str, receiver: str) -> None:
    done = subprocess.run(
        [AMTOOL, "config", "routes", "test", f"--config.file={ALERTMANAGER}", *labels.split()],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.stdout.strip() == receiver, done.stdout + done.stderr


def test_every_rule_says_what_failed_and_what_to_do() -> None:
    names = set()
    for rule in all_rules():
        name = rule["alert"]
        assert name not in names, f"{name} twice"
        names.add(name)
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert re.fullmatch(r"[a-z_]+", rule["labels"]["check"]), name
        annotations = rule["annotations"]
        assert {"summary", "description", "action", "runbook_url"} <= set(annotations), name
        assert annotations["runbook_url"].endswith("#" + name.lower()), name
    # The list: SLA, a context NOT_SERVING, PostgreSQL or NATS unreachable, dead letters, deliveries.
    assert {
        "InterventionSlaBelowTarget",
        "ContextNotServing",
        "PostgresUnreachable",
        "NatsUnreachable",
        "DeadLettersGrowing",
        "NotifyDeliveriesFailing",
    } <= names


def test_the_docs_name_every_alert_and_metric() -> None:
    doc = (RULES.parents[2] / "docs" / "ops-alerting.md").read_text()
    for rule in all_rules():
        assert f"#### {rule['alert']}" in doc, (
            f"docs/ops-alerting.md has no runbook entry for {rule['alert']}"
        )
        for metric in re.findall(r"\blearnflow_[a-z_]+", rule["expr"]):
            assert metric in doc, f"docs/ops-alerting.md does not document {metric}"


# --- promtool test rules: each alert with input series ---------------------------------------------

SLA_ANN = {
    "description": "learnflow_intervention_sla_compliance_ratio has been below 0.9 for 2 minutes: "
    "interventions are reaching students late.",
    "action": "Check the interventions context's latency and its queue (learnflow_jobs_total, "
    "learnflow_consumer_pending) and notify's delivery failures.",
}


def annotations_of(name: str, **rendered: str) -> dict[str, str]:
    """The rule's annotations with the templated ones given rendered (promtool compares all of them)."""
    rule = next(r for r in all_rules() if r["alert"] == name)
    found = dict(rule["annotations"])
    found.update(rendered)
    leftover = [k for k, v in found.items() if "{{" in v]
    assert not leftover, f"{name}: give the rendered {leftover}"
    return found


CASES: list[dict[str, Any]] = [
    {
        "series": [
            {
                "series": 'learnflow_intervention_sla_compliance_ratio{tenant="t1",instance="a"}',
                "values": "0.95 0.95 0.85x10",
            }
        ],
        "at": "4m",
        "alert": "InterventionSlaBelowTarget",
        "labels": {"severity": "warning", "check": "sla", "tenant": "t1"},
        "ann": {"summary": "Intervention SLA compliance 85% for tenant t1 (target 90%)"},
        "quiet_at": "2m",  # below since 2m: not yet for 2 minutes
    },
    {
        "series": [
            {"series": 'learnflow_intervention_sla_compliance_ratio{tenant="t1"}', "values": "0.4x10"}
        ],
        "at": "6m",
        "alert": "InterventionSlaCritical",
        "labels": {"severity": "critical", "check": "sla", "tenant": "t1"},
        "ann": {"summary": "Intervention SLA compliance 40% for tenant t1: most interventions are late"},
        "quiet_at": "4m",
    },
    {
        "series": [
            {
                "series": 'learnflow_context_serving{context="notify",instance="pod-1",job="learnflow"}',
                "values": "1 0x10",
            }
        ],
        "at": "4m",
        "alert": "ContextNotServing",
        "labels": {
            "severity": "critical",
            "check": "health",
            "context": "notify",
            "instance": "pod-1",
            "job": "learnflow",
        },
        "ann": {"summary": "Context notify is NOT_SERVING on pod-1"},
        "quiet_at": "2m",
    },
    {
        "series": [{"series": 'up{job="learnflow",instance="pod-1"}', "values": "0x10"}],
        "at": "3m",
        "alert": "LearnflowProcessDown",
        "labels": {"severity": "critical", "check": "scrape", "job": "learnflow", "instance": "pod-1"},
        "ann": {
            "summary": "LearnFlow process pod-1 does not answer its metrics scrape",
            "description": "Prometheus could not scrape pod-1 for 2 minutes: the process is down or hung.",
        },
        "quiet_at": "1m",
    },
    {
        "series": [
            {"series": 'learnflow_dependency_up{dependency="postgres",instance="pod-1"}', "values": "0x10"}
        ],
        "at": "2m",
        "alert": "PostgresUnreachable",
        "labels": {"severity": "critical", "check": "postgres", "instance": "pod-1"},
        "ann": {"summary": "PostgreSQL is unreachable from pod-1"},
        "quiet_at": "30s",
    },
    {
        "series": [
            {"series": 'learnflow_dependency_up{dependency="nats",instance="pod-1"}', "values": "0x10"}
        ],
        "at": "2m",
        "alert": "NatsUnreachable",
        "labels": {"severity": "critical", "check": "nats", "instance": "pod-1"},
        "ann": {"summary": "NATS is unreachable from pod-1"},
        "quiet_at": "30s",
    },
    {
        "series": [
            {
                "series": 'learnflow_events_handled_total{consumer="progress-x",outcome="dead_lettered"}',
                "values": "0 0 1 2 2 2",
            }
        ],
        "at": "5m",
        "alert": "DeadLettersGrowing",
        "labels": {"severity": "warning", "check": "dead_letters", "consumer": "progress-x"},
        # The counter went 0 -> 2 within the window.
        "ann": {"summary": "Consumer progress-x dead-lettered 2 events in 15 minutes"},
        "quiet_at": "1m",
    },
    {
        "series": [{"series": 'learnflow_outbox_oldest_age_seconds{context="audit"}', "values": "400x12"}],
        "at": "6m",
        "alert": "OutboxStuck",
        "labels": {"severity": "warning", "check": "outbox", "context": "audit"},
        "ann": {
            "summary": "Outbox of audit has not relayed for 6m 40s",
            "action": "Check NATS and the relay worker's log lines of context audit.",
        },
        "quiet_at": "4m",
    },
    {
        "series": [
            {
                "series": 'learnflow_notify_deliveries_total{channel="moodle",status="sent"}',
                "values": "0+90x12",
            },
            {
                "series": 'learnflow_notify_deliveries_total{channel="moodle",status="failed"}',
                "values": "0+10x12",
            },
        ],
        "at": "10m",
        "alert": "NotifyDeliveriesFailing",
        "labels": {"severity": "warning", "check": "deliveries", "channel": "moodle"},
        "ann": {
            "summary": "10% of moodle deliveries failed in 15 minutes",
            "description": "More than 5% of messages on channel moodle failed permanently (terminal error or "
            "three retries).",
            "action": "List them: ListDeliveries(status=failed, channel=moodle); read last_error; "
            "fix and redrive.",
        },
        "quiet_at": "3m",
    },
    {
        "series": [
            {"series": 'learnflow_notify_deliveries_total{channel="zulip",status="sent"}', "values": "5x12"},
            {
                "series": 'learnflow_notify_deliveries_total{channel="zulip",status="failed"}',
                "values": "0+2x12",
            },
        ],
        "at": "10m",
        "alert": "NotifyChannelDown",
        "labels": {"severity": "critical", "check": "deliveries", "channel": "zulip"},
        "ann": {
            "summary": "Nothing delivered on zulip for 15 minutes, 20 failures",
            "description": "Every delivery on channel zulip fails: the provider is down or its "
            "credentials are wrong.",
        },
        "quiet_at": "3m",
    },
    {
        "series": [{"series": 'learnflow_activity_watermark_age_seconds{lms="demo"}', "values": "700x20"}],
        "at": "10m",
        "alert": "ActivityWatermarkStale",
        "labels": {"severity": "warning", "check": "activity", "lms": "demo"},
        "ann": {
            "summary": "LMS demo: attempts not read for 11m 40s",
            "description": "The activity monitor's watermark for LMS demo is more than 10 minutes old: "
            "attempts in the LMS are not becoming events or mentor messages.",
        },
        "quiet_at": "3m",
    },
]


@needs_promtool
def test_each_alert_fires_after_its_for_with_its_labels_and_annotations(tmp_path: Path) -> None:
    tests = []
    for case in CASES:
        name = case["alert"]
        rendered = {**SLA_ANN, **case["ann"]} if name == "InterventionSlaBelowTarget" else case["ann"]
        ann = annotations_of(name, **rendered)
        tests.append(
            {
                "interval": "1m" if name not in ("PostgresUnreachable", "NatsUnreachable") else "15s",
                "input_series": case["series"],
                "alert_rule_test": [
                    {"eval_time": case["quiet_at"], "alertname": name, "exp_alerts": []},
                    {
                        "eval_time": case["at"],
                        "alertname": name,
                        "exp_alerts": [{"exp_labels": case["labels"], "exp_annotations": ann}],
                    },
                ],
            }
        )
    # Healthy values: nothing fires.
    tests.append(
        {
            "interval": "1m",
            "input_series": [
                {"series": 'learnflow_intervention_sla_compliance_ratio{tenant="t1"}', "values": "0.95x10"},
                {"series": 'learnflow_context_serving{context="notify"}', "values": "1x10"},
                {"series": 'learnflow_dependency_up{dependency="postgres"}', "values": "1x10"},
                {
                    "series": 'learnflow_notify_deliveries_total{channel="moodle",status="sent"}',
                    "values": "0+100x10",
                },
                {
                    "series": 'learnflow_notify_deliveries_total{channel="moodle",status="failed"}',
                    "values": "0+1x10",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "10m", "alertname": r["alert"], "exp_alerts": []} for r in all_rules()
            ],
        }
    )
    spec = tmp_path / "rules_test.yml"
    spec.write_text(
        yaml.safe_dump({"rule_files": [str(RULES)], "evaluation_interval": "15s", "tests": tests})
    )
    done = subprocess.run([PROMTOOL, "test", "rules", str(spec)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
