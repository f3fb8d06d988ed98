"""audit's commands, through the typed betterproto2 SDK (learnflow_sdk) over gRPC.

  learnflow audit export --since 2026-01-01T00:00:00Z --until 2027-01-01T00:00:00Z --output trail.jsonl
  learnflow audit verify [--tenant TENANT_ID]        (admins: their tenant; operators: any)

`export` streams ExportAuditRecords and writes one record per line (JSON Lines, the REST JSON of an
AuditRecord) to --output, or to stdout with `-`; it prints how many it wrote. Log in first
(`learnflow login`); the mesh is found as services/runtime/cli_client.py says.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from grpclib.const import Cardinality
from learnflow.audit.v1 import audit_service_pb2, resources_pb2
from learnflow_sdk.learnflow.audit.v1 import AuditServiceStub, VerifyChainRequest
from learnflow_sdk.learnflow.identity.v1 import GetUserRequest, IdentityServiceStub

from services.runtime.cli_client import CliError, add_addr_argument, channel, client_command, metadata

EXPORT = "/learnflow.audit.v1.AuditService/ExportAuditRecords"


def _moment(text: str, flag: str) -> Timestamp | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(
            f"{flag} {text!r}: use an ISO 8601 time with a zone, e.g. 2026-01-01T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise CliError(f"{flag} {text!r}: give the time zone, e.g. 2026-01-01T00:00:00Z")
    out = Timestamp()
    out.FromDatetime(moment)
    return out


async def _export(args: argparse.Namespace) -> Any:
    """Through the protobuf messages (not the SDK's, which lack google.protobuf.Struct), so each line
    is the record's REST JSON, before/after as objects."""
    request = audit_service_pb2.ExportAuditRecordsRequest(
        start_time=_moment(args.since, "--since"), end_time=_moment(args.until, "--until")
    )
    ch = channel(args.addr)
    written = 0
    try:
        with contextlib.ExitStack() as stack:
            out: TextIO = (
                sys.stdout if args.output == "-" else stack.enter_context(Path(args.output).open("w"))  # noqa: ASYNC230 (opened once)
            )
            async with ch.request(
                EXPORT,
                Cardinality.UNARY_STREAM,
                audit_service_pb2.ExportAuditRecordsRequest,
                resources_pb2.AuditRecord,
                metadata=metadata(),
            ) as stream:
                await stream.send_message(request, end=True)
                async for record in stream:
                    line = json.dumps(
                        json_format.MessageToDict(record), separators=(",", ":"), ensure_ascii=False
                    )
                    out.write(line + "\n")
                    written += 1
    finally:
        ch.close()
    return {"exported": written, "to": args.output}


async def _verify(args: argparse.Namespace) -> Any:
    ch = channel(args.addr)
    try:
        tenant = args.tenant
        if not tenant:  # the caller's own tenant
            tenant = (
                await IdentityServiceStub(ch, metadata=metadata()).get_user(GetUserRequest(user_id="me"))
            ).tenant_id
        reply = await AuditServiceStub(ch, metadata=metadata()).verify_chain(
            VerifyChainRequest(tenant_id=tenant)
        )
        return reply.to_dict(include_default_values=True)
    finally:
        ch.close()


def add_commands(sub: argparse._SubParsersAction) -> None:
    audit = sub.add_parser(
        "audit",
        help="export and verify your tenant's audit trail",
        description="The audit trail (docs/audit.md).",
    )
    add_addr_argument(audit)
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="{export,verify}")
    export = audit_sub.add_parser(
        "export",
        help="write your tenant's records of a time range as JSON Lines (admins)",
        description="Streams the records that occurred in [--since, --until), oldest first, one JSON "
        "object per line.",
    )
    export.add_argument("--since", default="", help="ISO 8601 with a zone (default: the first record)")
    export.add_argument("--until", default="", help="ISO 8601 with a zone (default: now)")
    export.add_argument("--output", required=True, help="a file to write, or - for stdout")
    add_addr_argument(export)
    export.set_defaults(func=client_command(_export))
    verify = audit_sub.add_parser("verify", help="recompute a tenant's chain (admins: yours; operators: any)")
    verify.add_argument("--tenant", default="", help="tenant id (default: yours)")
    add_addr_argument(verify)
    verify.set_defaults(func=client_command(_verify))
