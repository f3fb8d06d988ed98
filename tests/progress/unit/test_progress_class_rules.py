"""The class membership rules (services/progress/domain/classes.py), without the mesh."""

from __future__ import annotations

import uuid

import pytest

from services.progress.domain.classes import Member, canonical, check_members, may_manage_classes
from services.runtime.errors import PermissionDenied, Violations

T, S, D = (str(uuid.uuid4()) for _ in range(3))
USERS = {
    T: Member(T, frozenset({"teacher"})),
    S: Member(S, frozenset({"student"})),
    D: Member(D, frozenset({"student"}), disabled=True),
}


def test_only_admins_and_services_manage_classes() -> None:
    may_manage_classes({"admin"})
    may_manage_classes({"service"})
    for roles in ({"teacher"}, {"student"}, set()):
        with pytest.raises(PermissionDenied):
            may_manage_classes(roles)


def test_ids_are_written_as_identity_writes_them_each_once() -> None:
    assert canonical([S.upper(), S, "not-an-id", "not-an-id"]) == [S, "not-an-id"]


def test_every_bad_member_is_one_violation_at_its_index() -> None:
    v = Violations()
    nobody = str(uuid.uuid4())
    check_members(v, "class.student_ids", [S, T, nobody, D, "x"], USERS, "student")
    fields = {f.field for f in v.items}
    assert fields == {f"class.student_ids[{i}]" for i in (1, 2, 3, 4)}
    v = Violations()
    check_members(v, "class.teacher_ids", [T], USERS, "teacher")
    assert not v.items
