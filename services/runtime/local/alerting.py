"""Debian's Prometheus and Alertmanager for the local mesh and the alerting tests (docs/ops-alerting.md).

Both read the repository's own files, so what runs locally is what Kubernetes gets:
deploy/prometheus/rules.yml (the alerting rules) and deploy/prometheus/alertmanager.yml (routing by
severity to notify's receiver); only addresses, the token file and, with `fast`, the timings differ.
`fast` (the tests) scrapes and evaluates every second, turns each rule's `for` into 0s and lets
Alertmanager send at once, so a rule fires into the receiver within seconds.

Optional: `available()` says whether the binaries are installed (`make setup` installs them as root);
`learnflow up` starts them when they are and prints their addresses.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from services.runtime.local.procs import free_port, http_ok, spawn, terminate, wait_until

REPO_ROOT = Path(__file__).resolve().parents[3]
RULES_FILE = REPO_ROOT / "deploy" / "prometheus" / "rules.yml"
ALERTMANAGER_FILE = REPO_ROOT / "deploy" / "prometheus" / "alertmanager.yml"
# The receiver's address as deploy/prometheus/alertmanager.yml names it (the notify Service in Kubernetes).
IN_CLUSTER_RECEIVER = "http://notify:9095"
PROMETHEUS_BINS = ("prometheus",)
ALERTMANAGER_BINS = ("prometheus-alertmanager", "alertmanager")  # Debian's name, upstream's name


def _which(names: tuple[str, ...]) -> str | None:
    for name in names:
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
        if found:
            return found
    return None


def available() -> bool:
    return _which(PROMETHEUS_BINS) is not None and _which(ALERTMANAGER_BINS) is not None


def rules(*, fast: bool = False) -> dict[str, Any]:
    """The rules file, with every `for` at 0s when `fast` (the expressions are untouched)."""
    doc: dict[str, Any] = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    if fast:
        for group in doc["groups"]:
            group["interval"] = "1s"
            for rule in group["rules"]:
                rule["for"] = "0s"
    return doc


def alertmanager_config(receiver_url: str, token_file: Path, *, fast: bool = False) -> dict[str, Any]:
    """deploy/prometheus/alertmanager.yml with the receiver at `receiver_url` and the token file."""
    doc: dict[str, Any] = yaml.safe_load(ALERTMANAGER_FILE.read_text(encoding="utf-8"))
    for receiver in doc["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = hook["url"].replace(IN_CLUSTER_RECEIVER, receiver_url.rstrip("/"))
            hook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    if fast:
        doc["route"].update(group_wait="0s", group_interval="1s", repeat_interval="1h")
    return doc


@dataclass
class Monitoring:
    """Prometheus scraping `targets` (host:port of /metrics endpoints, job "learnflow") with the rules,
    and Alertmanager posting to the notify receiver at `receiver_url` with `token`."""

    data_dir: Path
    targets: list[str]
    receiver_url: str
    token: str
    fast: bool = False
    prometheus_port: int = field(default_factory=free_port)
    alertmanager_port: int = field(default_factory=free_port)
    prometheus: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    alertmanager: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.alertmanager_port}"

    def start(self) -> None:
        prom, am = _which(PROMETHEUS_BINS), _which(ALERTMANAGER_BINS)
        if prom is None or am is None:
            raise RuntimeError(
                "Prometheus and Alertmanager are not installed: "
                "apt-get install --no-install-recommends prometheus prometheus-alertmanager"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        token_file = self.data_dir / "alert-webhook-token"
        token_file.write_text(self.token, encoding="utf-8")
        token_file.chmod(0o600)
        (self.data_dir / "rules.yml").write_text(yaml.safe_dump(rules(fast=self.fast)), encoding="utf-8")
        am_config = self.data_dir / "alertmanager.yml"
        am_config.write_text(
            yaml.safe_dump(alertmanager_config(self.receiver_url, token_file, fast=self.fast)),
            encoding="utf-8",
        )
        interval = "1s" if self.fast else "15s"
        prom_config = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": [str(self.data_dir / "rules.yml")],
            "alerting": {
                "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{self.alertmanager_port}"]}]}]
            },
            "scrape_configs": [
                {"job_name": "learnflow", "static_configs": [{"targets": list(self.targets)}]}
            ],
        }
        (self.data_dir / "prometheus.yml").write_text(yaml.safe_dump(prom_config), encoding="utf-8")
        am_log = self.data_dir / "alertmanager.log"
        self.alertmanager = spawn(
            [
                am,
                f"--config.file={am_config}",
                f"--storage.path={self.data_dir / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{self.alertmanager_port}",
                f"--web.external-url={self.alertmanager_url}",
                "--cluster.listen-address=",  # one local instance: no gossip port
            ],
            am_log,
        )
        wait_until(
            lambda: http_ok(f"{self.alertmanager_url}/-/ready"), 30, "alertmanager", self.alertmanager, am_log
        )
        prom_log = self.data_dir / "prometheus.log"
        self.prometheus = spawn(
            [
                prom,
                f"--config.file={self.data_dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.data_dir / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{self.prometheus_port}",
                f"--web.external-url={self.prometheus_url}",
                "--storage.tsdb.retention.time=2d",
            ],
            prom_log,
        )
        wait_until(
            lambda: http_ok(f"{self.prometheus_url}/-/ready"), 30, "prometheus", self.prometheus, prom_log
        )

    def stop(self) -> None:
        terminate(self.prometheus)
        terminate(self.alertmanager)
        self.prometheus = self.alertmanager = None


# --- `learnflow up` ----------------------------------------------------------------------------------

# Ports of the local monitoring, each movable by its variable (like the mesh's own, local/mesh.py).
LOCAL_PORTS = {
    "prometheus": ("LEARNFLOW_PROMETHEUS_PORT", 9090),
    "alertmanager": ("LEARNFLOW_ALERTMANAGER_PORT", 9093),
    "receiver": ("LEARNFLOW_ALERT_RECEIVER_PORT", 9095),
}


def local_port(env: dict[str, str], which: str) -> int:
    variable, default = LOCAL_PORTS[which]
    return int(env.get(variable, default))


def receiver_env(env: dict[str, str], token: str) -> dict[str, str]:
    """What `learnflow serve` needs to run notify's receiver where the local Alertmanager posts."""
    return {
        "NOTIFY_ALERTS_LISTEN_ADDR": f"127.0.0.1:{local_port(env, 'receiver')}",
        "NOTIFY_ALERTS_WEBHOOK_TOKEN": token,
    }


def for_mesh(data_dir: Path, metrics_port: int, env: dict[str, str], token: str) -> Monitoring | None:
    """Prometheus scraping the mesh and Alertmanager posting to its notify, or None (with a note) when
    they are not installed: the mesh runs without them."""
    if not available():
        sys.stderr.write(
            "note: Prometheus/Alertmanager not installed, ops alerting is off "
            "(apt-get install --no-install-recommends prometheus prometheus-alertmanager)\n"
        )
        return None
    return Monitoring(
        data_dir / "monitoring",
        targets=[f"127.0.0.1:{metrics_port}"],
        receiver_url=f"http://127.0.0.1:{local_port(env, 'receiver')}",
        token=token,
        prometheus_port=local_port(env, "prometheus"),
        alertmanager_port=local_port(env, "alertmanager"),
    )


def banner(monitoring: Monitoring | None) -> str:
    if monitoring is None or monitoring.prometheus is None:
        return ""
    return (
        f"  Prometheus:          {monitoring.prometheus_url}  (rules: deploy/prometheus/rules.yml)\n"
        f"  Alertmanager:        {monitoring.alertmanager_url}  (to notify at {monitoring.receiver_url})\n"
    )
