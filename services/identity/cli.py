"""identity's commands, through the typed betterproto2 SDK (learnflow_sdk) over gRPC.

  learnflow login --email teacher@demo.test          (password: $LEARNFLOW_PASSWORD, else a prompt)
  learnflow users list [--role teacher]
  learnflow users get me
  learnflow users create --email new@demo.test --role student   (admins; $LEARNFLOW_NEW_PASSWORD)
  learnflow tenants create --slug school --admin-email head@school.test   (operators)

The access token is kept in $LEARNFLOW_TOKEN_FILE (default ~/.config/learnflow/token, mode 0600).
The mesh is found as services/runtime/cli_client.py says (--addr, LEARNFLOW_ADDR, LEARNFLOW_GRPC_PORT).
"""

from __future__ import annotations

import argparse
from typing import Any

from learnflow_sdk.learnflow.auth.v1 import Role
from learnflow_sdk.learnflow.identity.v1 import (
    CreateTenantRequest,
    CreateUserRequest,
    GetUserRequest,
    IdentityServiceStub,
    ListUsersRequest,
    LoginRequest,
    Tenant,
    User,
)

from services.runtime.cli_client import (
    add_addr_argument,
    channel,
    client_command,
    metadata,
    password_from,
    save_token,
)

ROLES = [r.name.lower() for r in Role if r != Role.UNSPECIFIED]
NEW_PASSWORD_VARIABLE = "LEARNFLOW_NEW_PASSWORD"


async def _login(args: argparse.Namespace) -> Any:
    password = password_from("LEARNFLOW_PASSWORD", f"password for {args.email}: ")
    ch = channel(args.addr)
    try:
        reply = await IdentityServiceStub(ch).login(
            LoginRequest(tenant=args.tenant, email=args.email, password=password)
        )
    finally:
        ch.close()
    assert reply.tokens is not None and reply.user is not None  # set on every successful login
    save_token(reply.tokens.access_token)
    return {
        "logged_in_as": reply.user.email,
        "roles": [r.name for r in reply.user.roles],
        "expires_in": reply.tokens.expires_in,
    }


async def _users(args: argparse.Namespace) -> Any:
    ch = channel(args.addr)
    stub = IdentityServiceStub(ch, metadata=metadata())
    try:
        if args.users_command == "get":
            return (await stub.get_user(GetUserRequest(user_id=args.user_id))).to_dict()
        if args.users_command == "create":
            user = User(
                email=args.email,
                display_name=args.name,
                roles=[Role[r.upper()] for r in args.role],
                time_zone=args.time_zone,
            )
            password = password_from(NEW_PASSWORD_VARIABLE, f"initial password for {args.email}: ")
            return (await stub.create_user(CreateUserRequest(user=user, password=password))).to_dict()
        role = Role[args.role.upper()] if args.role else Role.UNSPECIFIED
        reply = await stub.list_users(
            ListUsersRequest(page_size=args.page_size, page_token=args.page_token, role=role)
        )
        return reply.to_dict(include_default_values=True)  # an empty list prints as []
    finally:
        ch.close()


async def _tenants(args: argparse.Namespace) -> Any:
    ch = channel(args.addr)
    stub = IdentityServiceStub(ch, metadata=metadata())
    try:
        password = password_from(NEW_PASSWORD_VARIABLE, f"initial password for {args.admin_email}: ")
        made = await stub.create_tenant(
            CreateTenantRequest(
                tenant=Tenant(slug=args.slug, display_name=args.name),
                admin_email=args.admin_email,
                admin_password=password,
            )
        )
        return made.to_dict()
    finally:
        ch.close()


def add_commands(sub: argparse._SubParsersAction) -> None:
    _add_login(sub)
    _add_users(sub)
    _add_tenants(sub)


def _add_login(sub: argparse._SubParsersAction) -> None:
    login = sub.add_parser(
        "login",
        help="log in and keep the access token for later commands",
        description="Logs in with a password and saves the access token in $LEARNFLOW_TOKEN_FILE "
        "(default ~/.config/learnflow/token, mode 0600). The password comes from $LEARNFLOW_PASSWORD, "
        "else a prompt; never from the command line.",
    )
    login.add_argument("--tenant", default="demo", help="tenant slug (default %(default)s)")
    login.add_argument("--email", required=True, help="e.g. teacher@demo.test")
    add_addr_argument(login)
    login.set_defaults(func=client_command(_login))


def _add_users(sub: argparse._SubParsersAction) -> None:
    users = sub.add_parser(
        "users", help="list, read and create the users of your tenant", description="Users of your tenant."
    )
    add_addr_argument(users)
    users_sub = users.add_subparsers(dest="users_command", required=True, metavar="{list,get,create}")
    lst = users_sub.add_parser("list", help="list users, ordered by email (teachers, admins)")
    lst.add_argument("--role", choices=ROLES, help="only users holding this role")
    lst.add_argument("--page-size", type=int, default=50, help="1-200 (default %(default)s)")
    lst.add_argument("--page-token", default="", help="next_page_token of the previous page")
    add_addr_argument(lst)
    get = users_sub.add_parser("get", help="one user by id, or 'me'")
    get.add_argument("user_id", help="a user id (UUID) or 'me'")
    add_addr_argument(get)
    create = users_sub.add_parser(
        "create",
        help="create a user (admins)",
        description="Creates a user in your tenant (you must be its admin). The initial password comes "
        f"from ${NEW_PASSWORD_VARIABLE}, else a prompt (at least 10 characters); never from the "
        "command line. Prints the user, with its id (what `learnflow classes create` takes).",
    )
    create.add_argument("--email", required=True, help="the login, e.g. new@demo.test")
    create.add_argument("--name", default="", help="display name")
    create.add_argument(
        "--role", required=True, action="append", choices=ROLES, help="a role; repeat for several"
    )
    create.add_argument("--time-zone", default="", help="IANA zone, e.g. Europe/Berlin (default UTC)")
    add_addr_argument(create)
    users.set_defaults(func=client_command(_users))


def _add_tenants(sub: argparse._SubParsersAction) -> None:
    tenants = sub.add_parser("tenants", help="create tenants (operators)", description="Tenants (schools).")
    add_addr_argument(tenants)
    tenants_sub = tenants.add_subparsers(dest="tenants_command", required=True, metavar="{create}")
    create = tenants_sub.add_parser(
        "create",
        help="create a tenant and its first admin (operators)",
        description="Creates a tenant with its first admin, who then logs in with `learnflow login "
        "--tenant SLUG --email ADMIN_EMAIL`. The admin's initial password comes from "
        f"${NEW_PASSWORD_VARIABLE}, else a prompt; never from the command line.",
    )
    create.add_argument("--slug", required=True, help="login name of the tenant: [a-z0-9-], e.g. riverside")
    create.add_argument("--name", default="", help="display name, e.g. 'Riverside High'")
    create.add_argument("--admin-email", required=True, help="the first admin's login")
    add_addr_argument(create)
    tenants.set_defaults(func=client_command(_tenants))
