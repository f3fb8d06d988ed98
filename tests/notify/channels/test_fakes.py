"""The local provider servers themselves: fault injection (the next N calls, a seeded share of calls,
aimed at some operations), the JSON API's refusals, the inbox page (escaped), the process that
`learnflow up` runs and the mesh's wiring of it, and `learnflow providers inbox`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request

import httpx
import pytest
from conftest import STUDENT

from services.notify.fakes.client import FakesClient, FakesError
from services.runtime.local.mesh import LocalMesh
from services.runtime.local.procs import free_port
from services.runtime.local.providersd import wanted
from services.runtime.testing import free_ports, mesh_dir, mesh_env


def _slack_statuses(url: str, n: int) -> list[int]:
    with httpx.Client() as http:
        return [http.post(f"{url}/slack/services/T/B/x", json={"text": "t"}).status_code for _ in range(n)]


def test_the_next_n_calls_fail_with_the_status_and_retry_after_then_calls_succeed(fakes, inbox):
    inbox.fault("slack", count=2, status=429, retry_after=7)
    with httpx.Client() as http:
        first = http.post(f"{fakes.http_url}/slack/services/T/B/x", json={"text": "t"})
    assert first.status_code == 429 and first.headers["retry-after"] == "7" and first.text == "rate_limited"
    assert _slack_statuses(fakes.http_url, 3) == [429, 200, 200]
    state = inbox.state()["providers"]["slack"]
    assert state["calls"] == {"webhook": 4} and state["failed"] == {"webhook": 2} and state["received"] == 2


def test_a_seeded_share_of_calls_fails_the_same_way_each_run(fakes, inbox):
    runs = []
    for _ in range(2):
        inbox.reset()
        inbox.fault("slack", fraction=0.3, seed=42, status=503)
        runs.append(_slack_statuses(fakes.http_url, 200))
    assert runs[0] == runs[1]
    failed = runs[0].count(503)
    assert 40 <= failed <= 80 and set(runs[0]) == {200, 503}  # ~30% of 200
    inbox.clear_fault("slack")
    assert _slack_statuses(fakes.http_url, 20) == [200] * 20


def test_a_fault_aimed_at_one_operation_spares_the_others(fakes, inbox):
    inbox.fault("zulip", count=5, status=500, operations=["send_message"])
    auth = ("notify-bot@zulip.local", "fake-zulip-api-key")
    with httpx.Client(auth=auth) as http:
        user = http.get(f"{fakes.http_url}/zulip/api/v1/users/{STUDENT}")
        sent = http.post(
            f"{fakes.http_url}/zulip/api/v1/messages", data={"type": "direct", "to": "[10]", "content": "x"}
        )
    assert user.status_code == 200 and user.json()["user"]["email"] == STUDENT
    assert sent.status_code == 500


@pytest.mark.parametrize(
    ("provider", "fault", "wanted_error"),
    [
        ("slack", {"count": 1, "status": 42}, "status must be between"),
        ("slack", {"status": 500}, "give count"),
        ("slack", {"count": 1, "sometimes": True}, "unknown fault fields: sometimes"),
        ("teams", {"count": 1}, "unknown provider 'teams'"),
    ],
)
def test_bad_faults_are_refused(inbox, provider, fault, wanted_error):
    with pytest.raises(FakesError, match=wanted_error):
        inbox.fault(provider, **fault)


def test_the_inbox_page_lists_messages_as_text_and_marks_them_read(fakes, inbox):
    with httpx.Client(follow_redirects=True) as http:
        http.post(f"{fakes.http_url}/slack/services/T/B/x", json={"text": "<script>alert(1)</script>"})
        page = http.get(f"{fakes.http_url}/").text
        assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        [message] = inbox.messages("slack")
        marked = http.post(f"{fakes.http_url}/_page/read", data={"provider": "slack", "id": message["id"]})
    assert marked.status_code == 200  # followed the 303 back to the page
    assert inbox.messages("slack")[0]["read_at"] is not None


def test_the_process_serves_both_ports_writes_its_settings_and_the_cli_lists_the_inbox(tmp_path):
    http_port, smtp_port = free_port(), free_port()
    env_file = tmp_path / "channels.json"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "services.notify.fakes", "--http-port", str(http_port), "--smtp-port",
            str(smtp_port), "--users", STUDENT, "--env-file", str(env_file),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"ready http=http://127.0.0.1:{http_port} smtp={smtp_port}"
        settings = json.loads(env_file.read_text())
        assert settings["NOTIFY_MOODLE_URL"] == f"http://127.0.0.1:{http_port}/moodle"
        assert settings["NOTIFY_SMTP_PORT"] == str(smtp_port)
        assert oct(env_file.stat().st_mode & 0o777) == "0o600"
        client = FakesClient(f"http://127.0.0.1:{http_port}")
        user_id = client.state()["providers"]["moodle"]["users"][0]["id"]
        form = {
            "wstoken": settings["NOTIFY_MOODLE_TOKEN"],
            "wsfunction": "core_message_send_instant_messages",
            "moodlewsrestformat": "json",
            "messages[0][touserid]": str(user_id),
            "messages[0][text]": "from the CLI test",
            "messages[0][textformat]": "1",
        }
        answer = httpx.post(settings["NOTIFY_MOODLE_URL"] + "/webservice/rest/server.php", data=form).json()
        msgid = answer[0]["msgid"]
        assert msgid > 0
        env = {"LEARNFLOW_PROVIDERS_URL": f"http://127.0.0.1:{http_port}", "PATH": "/usr/bin:/bin"}
        listed = subprocess.run(
            [sys.executable, "-m", "services.runtime.cli", "providers", "inbox", "--provider", "moodle"],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
        assert (
            "moodle" in listed.stdout and "unread" in listed.stdout and "from the CLI test" in listed.stdout
        )
        subprocess.run(
            [sys.executable, "-m", "services.runtime.cli", "providers", "read", "moodle", str(msgid)],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
        assert client.messages("moodle")[0]["read_at"] is not None
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode == 0
    down = subprocess.run(
        [sys.executable, "-m", "services.runtime.cli", "providers", "inbox", "--url", f"http://127.0.0.1:{http_port}"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert down.returncode == 1 and "not reachable" in down.stderr


def test_the_mesh_runs_them_and_points_notify_at_them_unless_a_provider_is_configured():
    assert not wanted({"LEARNFLOW_LOCAL_PROVIDERS": "false"})
    every = {
        "NOTIFY_MOODLE_URL": "https://m",
        "NOTIFY_ZULIP_URL": "https://z",
        "NOTIFY_SLACK_WEBHOOK_URL": "https://s",
        "NOTIFY_SMTP_HOST": "smtp.example.org",
        "NOTIFY_PAGERDUTY_ROUTING_KEY": "k",
    }
    assert not wanted(every) and wanted({})
    root = mesh_dir()
    real_moodle = {"NOTIFY_MOODLE_URL": "https://moodle.example.org", "NOTIFY_MOODLE_TOKEN": "real"}
    mesh = LocalMesh(root, free_ports(), env=mesh_env(LEARNFLOW_LOCAL_PROVIDERS="true", **real_moodle))
    try:
        mesh.start_providers()
        assert mesh.providers is not None
        env = mesh.server_env()
        assert (
            env["NOTIFY_MOODLE_URL"] == "https://moodle.example.org" and env["NOTIFY_MOODLE_TOKEN"] == "real"
        )
        assert env["NOTIFY_ZULIP_URL"] == f"{mesh.providers.url}/zulip"
        assert env["NOTIFY_SMTP_PORT"] == str(mesh.ports.providers_smtp)
        assert env["NOTIFY_SMTP_STARTTLS"] == "true" and env["NOTIFY_SMTP_CA_FILE"].endswith("smtp-cert.pem")
        demo = FakesClient(mesh.providers.url).state()["providers"]["zulip"]["users"]
        assert "student@demo.test" in {u["email"] for u in demo}
        with urllib.request.urlopen(mesh.providers.url + "/") as page:
            assert b"LearnFlow local providers" in page.read()
    finally:
        mesh.stop()
    assert mesh.providers is None or mesh.providers.proc is None
    off = LocalMesh(root, free_ports(), env=mesh_env())  # the test default: not started
    off.start_providers()
    assert off.providers is None and "NOTIFY_MOODLE_URL" not in off.server_env()
    shutil.rmtree(root, ignore_errors=True)  # its providers' log (each run left one in /tmp)


def test_a_test_mesh_started_with_them_serves_and_keeps_their_credentials_out_of_its_logs(mesh):
    """On the session's mesh, which runs them (a mesh of its own cost ~9 s more)."""
    from services.runtime.testing import secrets_in_logs

    assert mesh.providers is not None and mesh.server is not None and mesh.server.poll() is None
    env = mesh.server_env()
    state = FakesClient(mesh.providers.url).state()
    assert state["endpoints"]["NOTIFY_MOODLE_URL"] == env["NOTIFY_MOODLE_URL"]
    # /_api/state names the endpoints, never the (made-up) credentials.
    assert "NOTIFY_MOODLE_TOKEN" not in state["endpoints"]
    credentials = (env["NOTIFY_MOODLE_TOKEN"], env["NOTIFY_ZULIP_API_KEY"])
    assert all(credentials) and (mesh.data_dir / "providers.log").exists()
    assert secrets_in_logs(mesh.data_dir, credentials) == []
