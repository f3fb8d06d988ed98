"""Identity's domain: tenants, users, roles and the rules about who may see and change what.
Pure logic: no gRPC, SQLAlchemy or NATS here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime

from services.runtime.errors import PermissionDenied, Violations
from services.runtime.request_context import Principal
from services.runtime.zones import zone_named

ROLES = ("student", "teacher", "facilitator", "mentor", "caregiver", "admin", "operator", "service")
# Roles that may read every user of their tenant; the others may read only themselves.
DIRECTORY_READERS = frozenset({"teacher", "facilitator", "mentor", "admin", "service", "operator"})
PERSON = "person"
SERVICE_ACCOUNT = "service_account"
MIN_PASSWORD = 10
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,38}[a-z0-9])$")
_SA_NAME = re.compile(r"^[a-z][a-z0-9-]{2,40}$")
UPDATABLE = ("display_name", "roles", "disabled", "time_zone")


@dataclass(frozen=True)
class Tenant:
    id: str
    slug: str
    display_name: str
    created_at: datetime | None = None


@dataclass(frozen=True)
class User:
    id: str
    tenant_id: str
    email: str
    display_name: str
    roles: tuple[str, ...]
    kind: str = PERSON
    disabled: bool = False
    time_zone: str = "UTC"
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


@dataclass(frozen=True)
class Tokens:
    """What a login, a refresh or a service account's sign-in hands out."""

    access_token: str
    refresh_token: str
    expires_in: int


@dataclass
class UserChanges:
    display_name: str | None = None
    roles: tuple[str, ...] | None = None
    disabled: bool | None = None
    time_zone: str | None = None
    changed: list[str] = field(default_factory=list)

    def apply(self, user: User) -> User:
        updates = {name: getattr(self, name) for name in self.changed}
        return replace(user, version=user.version + 1, **updates)


def normalize_email(email: str) -> str:
    return email.strip().lower()


def check_email(v: Violations, email: str, path: str) -> None:
    if not email:
        v.add(path, "is required")
    elif not _EMAIL.match(email):
        v.add(path, "must be an email address like name@school.example")


def check_roles(v: Violations, roles: tuple[str, ...], path: str) -> None:
    if not roles:
        v.add(path, "at least one role is required")
    for role in roles:
        if role not in ROLES:
            v.add(path, f"unknown role {role!r}")


def check_time_zone(v: Violations, tz: str, path: str) -> None:
    if not tz:
        return
    if zone_named(tz) is None:
        v.add(path, f"{tz!r} is not an IANA time zone such as Europe/Berlin")


def check_password(v: Violations, password: str, path: str) -> None:
    if len(password) < MIN_PASSWORD:
        v.add(path, f"must be at least {MIN_PASSWORD} characters")
    elif len(password) > 1024:
        v.add(path, "must be at most 1024 characters")


def check_slug(v: Violations, slug: str, path: str) -> None:
    if not _SLUG.match(slug):
        v.add(path, "must be 3-40 characters of a-z, 0-9 and '-', starting and ending with a letter or digit")


def check_service_account_name(v: Violations, name: str, path: str) -> None:
    if not _SA_NAME.match(name):
        v.add(path, "must be 3-41 characters of a-z, 0-9 and '-', starting with a letter")


def may_read_user(caller: Principal, user_id: str) -> None:
    """Permission before existence: a student asking for someone else is refused whether or not
    that someone exists."""
    if caller.subject == user_id:
        return
    if not caller.has_any(*DIRECTORY_READERS):
        raise PermissionDenied("you may only read your own user", reason="NOT_YOUR_USER")


def may_grant(caller: Principal, roles: tuple[str, ...]) -> None:
    """Tenant admins manage their school; platform roles are granted by operators only."""
    if "operator" in roles and not caller.has_any("operator"):
        raise PermissionDenied("only operators may grant the operator role", reason="ROLE_NOT_GRANTABLE")


def may_change(caller: Principal, current: User, changes: UserChanges) -> None:
    """Nor taken away: an operator's roles and account (disabled) are changed by operators only, so a
    tenant admin cannot demote or lock out the platform's operators who live in their tenant."""
    touches = changes.roles is not None or changes.disabled is not None
    if touches and "operator" in current.roles and not caller.has_any("operator"):
        raise PermissionDenied(
            "only operators may change an operator's roles or disable them", reason="ROLE_NOT_GRANTABLE"
        )
