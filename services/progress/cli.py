"""progress's commands, through the typed betterproto2 SDK (learnflow_sdk) over gRPC.

  learnflow classes create --name "Python 1" --teacher teacher@demo.test --student new@demo.test

Teachers and students are named by user id or by email (emails are looked up with identity's
ListUsers, which admins and teachers may call). The token and address are those of `learnflow login`
(services/runtime/cli_client.py).
"""

from __future__ import annotations

import argparse
from typing import Any

from learnflow_sdk.learnflow.identity.v1 import IdentityServiceStub, ListUsersRequest
from learnflow_sdk.learnflow.progress.v1 import CreateClassRequest, ProgressServiceStub, StudentClass

from services.runtime.cli_client import CliError, add_addr_argument, channel, client_command, metadata


async def _user_ids(stub: IdentityServiceStub, names: list[str]) -> list[str]:
    """Ids as given; emails (anything with an @) looked up in the caller's tenant."""
    emails = {n.lower() for n in names if "@" in n}
    found: dict[str, str] = {}
    token = ""
    while emails - found.keys():
        page = await stub.list_users(ListUsersRequest(page_size=200, page_token=token))
        found.update({u.email.lower(): u.id for u in page.users if u.email.lower() in emails})
        token = page.next_page_token
        if not token:
            break
    if missing := sorted(emails - found.keys()):
        raise CliError(f"no user {', '.join(missing)} in your tenant")
    return [found[n.lower()] if "@" in n else n for n in names]


async def _classes(args: argparse.Namespace) -> Any:
    ch = channel(args.addr)
    auth = metadata()
    try:
        identity = IdentityServiceStub(ch, metadata=auth)
        teachers = await _user_ids(identity, args.teacher)
        students = await _user_ids(identity, args.student)
        made = await ProgressServiceStub(ch, metadata=auth).create_class(
            CreateClassRequest(
                class_=StudentClass(name=args.name, teacher_ids=teachers, student_ids=students)
            )
        )
        return made.to_dict()
    finally:
        ch.close()


def add_commands(sub: argparse._SubParsersAction) -> None:
    classes = sub.add_parser("classes", help="create classes", description="Classes: who teaches whom.")
    add_addr_argument(classes)
    classes_sub = classes.add_subparsers(dest="classes_command", required=True, metavar="{create}")
    create = classes_sub.add_parser(
        "create",
        help="create a class with its teachers and students",
        description="Creates a class. A teacher sees the progress and struggle alerts of the students of "
        "their classes. Name people by user id or email; repeat --teacher and --student for several. "
        "Who may create a class and set its members is progress's rule (the call fails with "
        "PERMISSION_DENIED otherwise).",
    )
    create.add_argument("--name", required=True, help="e.g. 'Python 1'")
    create.add_argument(
        "--teacher", action="append", default=[], help="a teacher's id or email; repeat for several"
    )
    create.add_argument(
        "--student", action="append", default=[], help="a student's id or email; repeat for several"
    )
    add_addr_argument(create)
    classes.set_defaults(func=client_command(_classes))
