"""interventions' commands (seed FR5.1):

  learnflow policy check FILE...     parse and validate policy files here, offline: every problem with
                                     its file, line and explanation, or the parsed rules; exit 1 on errors
  learnflow policy push FILE [--reason TEXT]
                                     activate a file's content for your tenant (ActivatePolicy), as you

`check` needs no mesh: it runs the same parser and schema the service runs, so a file it approves is
one ActivatePolicy and the folder watcher accept. `push` logs in as `learnflow login` did and calls
the mesh as services/runtime/cli_client.py says.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from grpclib.const import Cardinality
from learnflow.interventions.v1 import interventions_service_pb2, resources_pb2

from services.interventions.domain.policy import try_parse
from services.runtime.cli_client import CliError, add_addr_argument, channel, client_command, metadata

ACTIVATE = "/learnflow.interventions.v1.InterventionsService/ActivatePolicy"


def check_files(paths: list[str]) -> tuple[int, str]:
    """(exit status, report) of `policy check`: 0 when every file is valid, 1 otherwise."""
    lines: list[str] = []
    failed = 0
    for name in paths:
        path = Path(name)
        try:
            content = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            lines.append(f"{name}: cannot read the file ({exc})")
            failed += 1
            continue
        policy, problems = try_parse(content, name)
        if policy is None:
            failed += 1
            lines += [str(p) for p in problems]
            continue
        lines.append(
            f"{name}: OK — policy {policy.id} "
            f"({policy.intervention}, {policy.mode}, urgency {policy.urgency})"
        )
        lines.append("  when the signal is " + policy.signal)
        lines += [f"  and {c.describe()}" for c in policy.conditions]
        if policy.between:
            lines.append(
                f"  and the student's time of day is between {policy.between[0]} and {policy.between[1]}"
            )
        lines.append("  rules: " + json.dumps(policy.rules, sort_keys=True, ensure_ascii=False))
    if failed:
        lines.append(f"{failed} of {len(paths)} file(s) invalid: nothing was activated")
    return (1 if failed else 0), "\n".join(lines)


def _check(args: argparse.Namespace) -> int:
    status, report = check_files(args.files)
    (sys.stderr if status else sys.stdout).write(report + "\n")
    return status


async def _push(args: argparse.Namespace) -> Any:
    path = Path(args.file)
    try:
        content = path.read_text(encoding="utf-8")  # noqa: ASYNC240 (one small file, before any call)
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"{args.file}: cannot read the file ({exc})") from None
    request = interventions_service_pb2.ActivatePolicyRequest(
        content=content, file_name=path.name, reason=args.reason
    )
    ch = channel(args.addr)
    try:
        async with ch.request(
            ACTIVATE,
            Cardinality.UNARY_UNARY,
            interventions_service_pb2.ActivatePolicyRequest,
            resources_pb2.PolicyVersion,
            metadata=metadata(),
        ) as stream:
            await stream.send_message(request, end=True)
            reply = await stream.recv_message()
    finally:
        ch.close()
    assert reply is not None
    out = json_format.MessageToDict(reply)
    out.pop("content", None)
    return out


def add_commands(sub: argparse._SubParsersAction) -> None:
    policy = sub.add_parser(
        "policy",
        help="check and activate intervention policies",
        description="Intervention policies (docs/interventions.md).",
    )
    policy_sub = policy.add_subparsers(dest="policy_command", required=True, metavar="{check,push}")
    check = policy_sub.add_parser(
        "check",
        help="parse and validate policy files (offline); exit 1 when any is invalid",
        description="Prints each problem as FILE:LINE: explanation, or the parsed rules of a valid file.",
    )
    check.add_argument("files", nargs="+", metavar="FILE")
    check.set_defaults(func=_check)
    push = policy_sub.add_parser("push", help="activate a policy file for your tenant (ActivatePolicy)")
    push.add_argument("file", metavar="FILE")
    push.add_argument("--reason", default="", help="why, for the version history and the audit trail")
    add_addr_argument(push)
    push.set_defaults(func=client_command(_push))
