"""`learnflow providers ...`: what the local provider servers received (as Mailpit shows email), and
marking a message read, from the terminal.

    learnflow providers inbox [--provider moodle] [--json]
    learnflow providers read moodle 12

They are found at --url, else LEARNFLOW_PROVIDERS_URL, else http://127.0.0.1:$LEARNFLOW_PROVIDERS_HTTP_PORT
(8026, what `learnflow up` uses).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from services.notify.fakes.client import FakesClient, FakesError
from services.notify.fakes.state import PROVIDERS


def default_url() -> str:
    found = os.environ.get("LEARNFLOW_PROVIDERS_URL", "").strip()
    if found:
        return found
    return f"http://127.0.0.1:{os.environ.get('LEARNFLOW_PROVIDERS_HTTP_PORT', '8026').strip() or '8026'}"


def add_commands(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser(
        "providers",
        help="what the local Moodle, Zulip, Slack, PagerDuty and SMTP servers received (`learnflow up`)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = group.add_subparsers(dest="providers_command", required=True, metavar="{inbox,read}")
    inbox = commands.add_parser("inbox", help="list the messages received, oldest first")
    inbox.add_argument("--provider", choices=PROVIDERS, default=None, help="only this provider's")
    inbox.add_argument("--json", action="store_true", help="the JSON API's answer, as is")
    inbox.add_argument("--url", default=None, help="where the servers are (default: %(default)s)")
    inbox.set_defaults(func=_inbox)
    read = commands.add_parser("read", help="mark a message read, as its recipient would")
    read.add_argument("provider", choices=PROVIDERS)
    read.add_argument("id", help="the message's id (the inbox's id column)")
    read.add_argument("--url", default=None, help="where the servers are")
    read.set_defaults(func=_read)


def _client(args: argparse.Namespace) -> FakesClient:
    return FakesClient(args.url or default_url())


def _inbox(args: argparse.Namespace) -> int:
    try:
        messages = _client(args).messages(args.provider)
    except FakesError as exc:
        sys.stderr.write(f"learnflow: {exc}\n")
        return 1
    if args.json:
        sys.stdout.write(json.dumps({"messages": messages}, indent=2) + "\n")
        return 0
    if not messages:
        sys.stdout.write("no messages yet\n")
        return 0
    for m in messages:
        sys.stdout.write(_line(m) + "\n")
    return 0


def _read(args: argparse.Namespace) -> int:
    try:
        found = _client(args).mark_read(args.provider, args.id)
    except FakesError as exc:
        sys.stderr.write(f"learnflow: {exc}\n")
        return 1
    sys.stdout.write(_line(found) + "\n")
    return 0


def _line(m: dict[str, Any]) -> str:
    when = time.strftime("%H:%M:%S", time.gmtime(m["received_at"]))
    read = "read" if m.get("read_at") else "unread"
    text = " ".join(f"{m.get('subject') or ''} {m.get('text') or ''}".split())
    dup = f" (duplicate of {m['duplicate_of']})" if m.get("duplicate_of") else ""
    return f"{m['provider']:<9} {m['id']:>6} {when} {read:<6} to {m['to']}: {text[:100]}{dup}"
