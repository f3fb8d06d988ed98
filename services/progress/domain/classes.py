"""Who may put whom in a class (docs/progress-model.md, "Classes").

A class is what lets a teacher read a student's progress and alerts, so membership is an authority
the tenant grants, not something a teacher claims: only the tenant's admins and its service accounts
(a roster import from the school's information system) create classes and change who is in them.
Teachers read the classes they teach. Every id put in a class must be a user of the tenant holding
the role of its place (a teacher among teacher_ids, a student among student_ids); identity says who
is, the service asks it and hands the answers here.

Pure rules, standard library only (plus the runtime's error types)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from services.runtime.errors import PermissionDenied, Violations

# Who may create classes and set their membership.
CLASS_ADMINS = frozenset({"admin", "service"})
MAX_TEACHERS = 100
MAX_STUDENTS = 1000


@dataclass(frozen=True)
class Member:
    """A user of the tenant as progress needs to know them: which roles they hold (from identity)."""

    id: str
    roles: frozenset[str]
    disabled: bool = False


@dataclass(frozen=True)
class MembershipChange:
    add_teacher_ids: tuple[str, ...] = ()
    remove_teacher_ids: tuple[str, ...] = ()
    add_student_ids: tuple[str, ...] = ()
    remove_student_ids: tuple[str, ...] = ()

    @property
    def added(self) -> tuple[str, ...]:
        return (*self.add_teacher_ids, *self.add_student_ids)


def may_manage_classes(roles: Iterable[str]) -> None:
    if not CLASS_ADMINS.intersection(roles):
        raise PermissionDenied(
            "only the tenant's admins and service accounts (roster import) create classes and set their "
            "members; teachers read the classes they teach",
            reason="NOT_CLASS_ADMIN",
        )


def canonical(ids: Iterable[str]) -> list[str]:
    """Ids as identity writes them (lower-case UUIDs), each once, in the order given. An id that is
    not a UUID is kept as given: it names no user, and check_members says so."""
    out: dict[str, None] = {}
    for i in ids:
        try:
            out[str(uuid.UUID(i))] = None
        except ValueError:
            out[i] = None
    return list(out)


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def check_members(v: Violations, field: str, ids: list[str], users: Mapping[str, Member], role: str) -> None:
    """Each id must name a user of the tenant (users holds those identity found) who holds `role`
    and is not disabled. One violation per bad id, at its index, so a roster import learns every bad
    row of a request at once."""
    for index, member_id in enumerate(ids):
        user = users.get(member_id)
        where = f"{field}[{index}]"
        if user is None:
            v.add(where, f"{member_id!r} is not a user of this tenant")
        elif role not in user.roles:
            v.add(where, f"{member_id!r} is not a {role} of this tenant")
        elif user.disabled:
            v.add(where, f"{member_id!r} is disabled")
