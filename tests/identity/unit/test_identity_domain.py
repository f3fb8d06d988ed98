import pytest

from services.identity import domain, security
from services.runtime.errors import PermissionDenied, Violations
from services.runtime.request_context import Principal


def _v():
    return Violations()


def test_email_roles_timezone_password_checks():
    v = _v()
    domain.check_email(v, "not-an-email", "user.email")
    domain.check_roles(v, ("student", "wizard"), "user.roles")
    domain.check_roles(v, (), "user.roles")
    domain.check_time_zone(v, "Mars/Olympus", "user.time_zone")
    domain.check_password(v, "short", "password")
    fields = [i.field for i in v.items]
    assert fields == ["user.email", "user.roles", "user.roles", "user.time_zone", "password"]
    ok = _v()
    domain.check_email(ok, "a.b@school.example", "e")
    domain.check_roles(ok, ("teacher", "mentor"), "r")
    domain.check_time_zone(ok, "Europe/Berlin", "t")
    domain.check_password(ok, "long-enough-pw", "p")
    assert ok.items == []


def test_students_read_only_themselves_whether_or_not_the_other_exists():
    student = Principal(subject="u1", tenant_id="t", roles=frozenset({"student"}))
    domain.may_read_user(student, "u1")
    with pytest.raises(PermissionDenied):
        domain.may_read_user(student, "someone-else")
    teacher = Principal(subject="u2", tenant_id="t", roles=frozenset({"teacher"}))
    domain.may_read_user(teacher, "u1")


def test_only_operators_grant_operator():
    admin = Principal(subject="a", tenant_id="t", roles=frozenset({"admin"}))
    with pytest.raises(PermissionDenied):
        domain.may_grant(admin, ("operator",))
    domain.may_grant(admin, ("teacher",))


def test_password_hash_round_trip_and_unknown_user_is_false():
    stored = security.hash_secret("correct horse battery")
    assert security.verify_secret(stored, "correct horse battery")
    assert not security.verify_secret(stored, "wrong")
    assert not security.verify_secret(None, "anything")


def test_refresh_tokens_name_their_tenant():
    token, digest = security.refresh_token_for("6f1c1a4e-3d55-4a4b-9d9e-0d1f0a7b8c9d")
    assert security.tenant_of_refresh_token(token) == "6f1c1a4e-3d55-4a4b-9d9e-0d1f0a7b8c9d"
    assert security.digest(token) == digest
    assert security.tenant_of_refresh_token("garbage") is None
