"""Offline checks of the Prometheus Operator's custom resources (monitoring.coreos.com) we ship in
deploy/k8s/components/ops-alerting: kubernetes-validate has no schema for them, so the fields we use
are checked here against the operator's API (v0.7x: PrometheusRule and PodMonitor v1,
AlertmanagerConfig v1alpha1), strictly: an unknown or misspelt field fails, as the API server's
structural schema would refuse it."""

from __future__ import annotations

import re
from typing import Any

_DURATION = re.compile(r"^(([0-9]+)(y|w|d|h|m|s|ms))+$")
_MATCH_TYPES = {"=", "!=", "=~", "!~"}


def _keys(obj: dict[str, Any], allowed: set[str], where: str, required: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    unknown = set(obj) - allowed
    assert not unknown, f"{where}: unknown fields {sorted(unknown)}"
    missing = set(required) - set(obj)
    assert not missing, f"{where}: missing {sorted(missing)}"


def _strings(obj: Any, where: str) -> None:
    assert isinstance(obj, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in obj.items()), (
        where
    )


def _matchers(matchers: list[dict[str, Any]], where: str) -> None:
    for m in matchers:
        _keys(m, {"name", "value", "matchType", "regex"}, where, {"name"})
        assert m.get("matchType", "=") in _MATCH_TYPES, where


def check_monitoring_resource(doc: dict[str, Any], where: str) -> None:
    _keys(doc, {"apiVersion", "kind", "metadata", "spec"}, where, {"apiVersion", "kind", "metadata", "spec"})
    assert doc["metadata"]["name"], where
    spec, kind = doc["spec"], doc["kind"]
    if kind == "PrometheusRule":
        _keys(spec, {"groups"}, where, {"groups"})
        for group in spec["groups"]:
            _keys(
                group,
                {"name", "interval", "rules", "partial_response_strategy", "limit"},
                where,
                {"name", "rules"},
            )
            for rule in group["rules"]:
                _keys(rule, {"alert", "record", "expr", "for", "labels", "annotations"}, where, {"expr"})
                assert ("alert" in rule) != ("record" in rule), where
                if "for" in rule:
                    assert _DURATION.match(rule["for"]), f"{where}: for {rule['for']!r}"
                _strings(rule.get("labels", {}), where)
                _strings(rule.get("annotations", {}), where)
    elif kind == "PodMonitor":
        _keys(
            spec,
            {"jobLabel", "selector", "namespaceSelector", "podMetricsEndpoints", "podTargetLabels"},
            where,
            {"selector", "podMetricsEndpoints"},
        )
        for endpoint in spec["podMetricsEndpoints"]:
            _keys(endpoint, {"port", "path", "interval", "scrapeTimeout", "scheme", "relabelings"}, where)
            if "interval" in endpoint:
                assert _DURATION.match(endpoint["interval"]), where
    elif kind == "AlertmanagerConfig":
        _keys(spec, {"route", "receivers", "inhibitRules", "timeIntervals"}, where, {"route", "receivers"})
        names = {r["name"] for r in spec["receivers"]}

        def route(r: dict[str, Any]) -> None:
            _keys(
                r,
                {
                    "receiver",
                    "groupBy",
                    "groupWait",
                    "groupInterval",
                    "repeatInterval",
                    "matchers",
                    "continue",
                    "routes",
                    "muteTimeIntervals",
                    "activeTimeIntervals",
                },
                where,
            )
            assert r.get("receiver", next(iter(names))) in names, f"{where}: route to an unknown receiver"
            for key in ("groupWait", "groupInterval", "repeatInterval"):
                if key in r:
                    assert _DURATION.match(r[key]), where
            _matchers(r.get("matchers", []), where)
            for child in r.get("routes", []):
                route(child)

        route(spec["route"])
        for receiver in spec["receivers"]:
            _keys(receiver, {"name", "webhookConfigs"}, where, {"name"})
            for hook in receiver.get("webhookConfigs", []):
                _keys(hook, {"url", "urlSecret", "sendResolved", "maxAlerts", "httpConfig"}, where)
                _keys(
                    hook.get("httpConfig", {}),
                    {"authorization", "tlsConfig", "proxyURL", "followRedirects"},
                    where,
                )
                auth = hook.get("httpConfig", {}).get("authorization")
                if auth is not None:
                    _keys(auth, {"type", "credentials"}, where, {"credentials"})
                    _keys(auth["credentials"], {"name", "key", "optional"}, where, {"name", "key"})
        for rule in spec.get("inhibitRules", []):
            _keys(rule, {"sourceMatch", "targetMatch", "equal"}, where)
            _matchers(rule.get("sourceMatch", []), where)
            _matchers(rule.get("targetMatch", []), where)
    else:
        raise AssertionError(f"{where}: no check for {doc['apiVersion']} {kind}")
