"""`python -m services.notify.fakes`: the local provider servers as one process (what `learnflow up`
runs). Prints one line `ready http=<url> smtp=<port>` once both listen."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path

from services.notify.fakes.server import FakeProviders, FakesConfig


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m services.notify.fakes",
        description="Local servers speaking Moodle's, Zulip's, Slack's and PagerDuty's wire formats on one "
        "HTTP port (by path: /moodle, /zulip, /slack, /pagerduty) and SMTP on another, keeping what they "
        "receive in memory. The inbox page is at / and the JSON API under /_api/ (messages, state, users, "
        "mark read, fault injection).",
    )
    d = FakesConfig()
    p.add_argument("--host", default=d.host, help="listen address (default %(default)s)")
    p.add_argument("--http-port", type=int, default=8026, help="HTTP port (default %(default)s; 0: any)")
    p.add_argument("--smtp-port", type=int, default=1026, help="SMTP port (default %(default)s; 0: any)")
    p.add_argument("--moodle-token", default=d.moodle_token, help="the wstoken Moodle accepts")
    p.add_argument("--zulip-bot-email", default=d.zulip_bot_email, help="the Zulip bot's email")
    p.add_argument("--zulip-api-key", default=d.zulip_api_key, help="the Zulip bot's API key")
    p.add_argument(
        "--pagerduty-routing-key", default="", help="the only routing key accepted (default: any non-empty)"
    )
    p.add_argument(
        "--smtp-tls-dir",
        type=Path,
        default=None,
        help="offer STARTTLS with a self-signed certificate kept here",
    )
    p.add_argument("--smtp-require-starttls", action="store_true", help="refuse mail before STARTTLS")
    p.add_argument("--smtp-username", default="", help="require SMTP AUTH as this user")
    p.add_argument("--smtp-password", default="", help="the SMTP AUTH password")
    p.add_argument(
        "--users",
        default="",
        help="comma list of emails that have a Moodle and a Zulip account from the start",
    )
    p.add_argument(
        "--env-file",
        type=Path,
        default=None,
        help="once ready, write the NOTIFY_* settings that point notify's channels here (JSON, mode 0600)",
    )
    p.add_argument(
        "--latency-ms", type=float, default=0.0, help="added to every HTTP answer (benches; default none)"
    )
    return p


async def serve(config: FakesConfig, env_file: Path | None = None) -> None:
    fakes = FakeProviders(config)
    await fakes.start()
    if env_file is not None:
        # Written whole then renamed: whoever waits for the file never reads half of it.
        partial = env_file.with_suffix(".tmp")
        partial.write_text(json.dumps(fakes.channel_env(), indent=2))
        partial.chmod(0o600)
        partial.replace(env_file)
    sys.stdout.write(f"ready http={fakes.http_url} smtp={fakes.smtp_port}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await fakes.stop()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.smtp_password and not args.smtp_username:
        sys.stderr.write("--smtp-password needs --smtp-username\n")
        return 2
    config = FakesConfig(
        host=args.host,
        http_port=args.http_port,
        smtp_port=args.smtp_port,
        moodle_token=args.moodle_token,
        zulip_bot_email=args.zulip_bot_email,
        zulip_api_key=args.zulip_api_key,
        pagerduty_routing_key=args.pagerduty_routing_key,
        smtp_tls_dir=args.smtp_tls_dir,
        smtp_require_starttls=args.smtp_require_starttls,
        smtp_username=args.smtp_username,
        smtp_password=args.smtp_password,
        users=tuple(u.strip() for u in args.users.split(",") if u.strip()),
        latency_seconds=args.latency_ms / 1000.0,
    )
    try:
        import uvloop  # the faster loop: a bench measures notify, not these servers

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover (uvloop is a dependency on Linux)
        runner = asyncio.Runner()
    with runner:
        runner.run(serve(config, args.env_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
