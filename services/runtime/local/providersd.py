"""The local provider servers (services/notify/fakes: Moodle, Zulip, Slack, PagerDuty over HTTP and an
SMTP server) as a process of the local mesh, so `learnflow up` delivers messages somewhere a newcomer
can see them (the inbox page) without an account anywhere.

The runtime knows only the module to run and its protocol: it listens on the two ports given, and once
ready writes the settings that point notify's channels at it to `--env-file` (JSON). A provider whose
endpoint the environment already configures keeps its real endpoint (`CONFIGURED_BY`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.runtime.local.procs import spawn, terminate, wait_until

# The variable that says a provider is configured for real, and the variables its settings group has:
# a configured provider gets none of the local servers' values.
CONFIGURED_BY = {
    "NOTIFY_MOODLE_URL": ("NOTIFY_MOODLE_",),
    "NOTIFY_ZULIP_URL": ("NOTIFY_ZULIP_",),
    "NOTIFY_SLACK_WEBHOOK_URL": ("NOTIFY_SLACK_",),
    "NOTIFY_SLACK_WEBHOOKS": ("NOTIFY_SLACK_",),
    "NOTIFY_SMTP_HOST": ("NOTIFY_SMTP_",),
    "NOTIFY_PAGERDUTY_ROUTING_KEY": ("NOTIFY_PAGERDUTY_",),
}
# Who has an account on the local Moodle and Zulip from the start: the demo tenant's users.
DEMO_USERS = (
    "admin@demo.test",
    "teacher@demo.test",
    "student@demo.test",
    "operator@demo.test",
    "facilitator@demo.test",
)
SWITCH = "LEARNFLOW_LOCAL_PROVIDERS"
_FALSE = {"0", "false", "no", "off"}


def wanted(env: Mapping[str, str]) -> bool:
    """Run them unless switched off, or unless every provider is configured for real."""
    if env.get(SWITCH, "").strip().lower() in _FALSE:
        return False
    configured = {prefixes for variable, prefixes in CONFIGURED_BY.items() if env.get(variable, "").strip()}
    return len(configured) < len(set(CONFIGURED_BY.values()))


@dataclass
class LocalProviders:
    data_dir: Path
    http_port: int
    smtp_port: int
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    channel_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def log(self) -> Path:
        return self.data_dir.parent / "providers.log"

    @property
    def env_file(self) -> Path:
        return self.data_dir / "channels.json"

    def start(self, env: Mapping[str, str]) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.env_file.unlink(missing_ok=True)
        argv = [
            sys.executable,
            "-m",
            "services.notify.fakes",
            "--host",
            "127.0.0.1",
            "--http-port",
            str(self.http_port),
            "--smtp-port",
            str(self.smtp_port),
            "--smtp-tls-dir",
            str(self.data_dir / "tls"),  # STARTTLS offered (and verified by notify), not required
            "--users",
            ",".join(DEMO_USERS),
            "--env-file",
            str(self.env_file),
        ]
        self.proc = spawn(argv, self.log, env=dict(env))
        wait_until(self.env_file.exists, 20, "local provider servers", self.proc, self.log)
        offered: dict[str, str] = json.loads(self.env_file.read_text())
        self.channel_env = {
            name: value
            for name, value in offered.items()
            if not any(
                name.startswith(prefixes) and env.get(variable, "").strip()
                for variable, prefixes in CONFIGURED_BY.items()
            )
        }

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None
