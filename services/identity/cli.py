"""Operator commands for identity, through the typed betterproto2 SDK (learnflow_sdk) over gRPC.

  learnflow login --tenant demo --email teacher@demo.test    (password from LEARNFLOW_PASSWORD or a prompt)
  learnflow users list [--role teacher]
  learnflow users get me
The access token is kept in $LEARNFLOW_TOKEN_FILE (default ~/.config/learnflow/token, mode 0600).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from grpclib.client import Channel
from grpclib.exceptions import GRPCError
from learnflow_sdk.learnflow.auth.v1 import Role
from learnflow_sdk.learnflow.identity.v1 import (
    GetUserRequest,
    IdentityServiceStub,
    ListUsersRequest,
    LoginRequest,
)


def _token_file() -> Path:
    return Path(os.environ.get("LEARNFLOW_TOKEN_FILE", Path.home() / ".config" / "learnflow" / "token"))


def _channel(addr: str) -> Channel:
    host, _, port = addr.rpartition(":")
    return Channel(host, int(port))


def _metadata() -> dict[str, str]:
    path = _token_file()
    if not path.exists():
        raise SystemExit("not logged in: run `learnflow login` first")
    return {"authorization": "Bearer " + path.read_text().strip()}


async def _login(args: argparse.Namespace) -> Any:
    password = os.environ.get("LEARNFLOW_PASSWORD") or getpass.getpass("password: ")
    channel = _channel(args.addr)
    try:
        reply = await IdentityServiceStub(channel).login(
            LoginRequest(tenant=args.tenant, email=args.email, password=password)
        )
    finally:
        channel.close()
    path = _token_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(reply.tokens.access_token)
    path.chmod(0o600)
    assert reply.user is not None
    return {
        "logged_in_as": reply.user.email,
        "roles": [r.name for r in reply.user.roles],
        "expires_in": reply.tokens.expires_in,
    }


async def _users(args: argparse.Namespace) -> Any:
    channel = _channel(args.addr)
    stub = IdentityServiceStub(channel, metadata=_metadata())
    try:
        if args.users_command == "get":
            return (await stub.get_user(GetUserRequest(user_id=args.user_id))).to_dict()
        role = Role[args.role.upper()] if args.role else Role.UNSPECIFIED
        reply = await stub.list_users(
            ListUsersRequest(page_size=args.page_size, page_token=args.page_token, role=role)
        )
        return reply.to_dict()
    finally:
        channel.close()


def _run(func: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            result = asyncio.run(func(args))
        except GRPCError as exc:
            sys.stderr.write(f"learnflow: {exc.status.name}: {exc.message}\n")
            return 1
        sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
        return 0

    return run


def add_commands(sub: argparse._SubParsersAction) -> None:
    default_addr = os.environ.get("LEARNFLOW_ADDR", "127.0.0.1:50051")
    login = sub.add_parser("login", help="log in and keep the access token for later commands")
    login.add_argument("--tenant", default="demo")
    login.add_argument("--email", required=True)
    login.add_argument("--addr", default=default_addr, help="gRPC address (default %(default)s)")
    login.set_defaults(func=_run(_login))
    users = sub.add_parser("users", help="read users of your tenant")
    users.add_argument("--addr", default=default_addr, help="gRPC address (default %(default)s)")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    lst = users_sub.add_parser("list", help="list users, ordered by email")
    lst.add_argument("--role", choices=[r.name.lower() for r in Role if r != Role.UNSPECIFIED])
    lst.add_argument("--page-size", type=int, default=50)
    lst.add_argument("--page-token", default="")
    get = users_sub.add_parser("get", help="one user by id, or 'me'")
    get.add_argument("user_id")
    users.set_defaults(func=_run(_users))
