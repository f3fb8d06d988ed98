"""The one place where identity's domain objects and its protobuf messages meet: requests in,
resources out, and the events the service layer stages (it calls the `*_event` functions and hands
the message to the outbox unopened)."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from learnflow.auth.v1 import auth_pb2
from learnflow.identity.v1 import events_pb2, resources_pb2

from services.identity import domain
from services.identity.domain import Tenant, Tokens, User, UserChanges
from services.identity.security import SigningKey
from services.runtime.authz import ROLE_BY_NAME, ROLE_NAMES
from services.runtime.errors import FieldViolation, InvalidArgument

_KIND = {
    domain.PERSON: resources_pb2.USER_KIND_PERSON,
    domain.SERVICE_ACCOUNT: resources_pb2.USER_KIND_SERVICE_ACCOUNT,
}

# --- resources out ---------------------------------------------------------------------------------


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _timestamp(when: datetime) -> Timestamp:
    """What `Timestamp.FromDatetime` gives for an aware datetime (the database's timestamptz), from
    whole days, seconds and microseconds: exact, and a fraction of its cost on the hottest reply."""
    delta = when - _EPOCH
    return Timestamp(seconds=delta.days * 86400 + delta.seconds, nanos=delta.microseconds * 1000)


def user_to_proto(user: User) -> resources_pb2.User:
    msg = resources_pb2.User(
        id=user.id,
        tenant_id=user.tenant_id,
        email=user.email,
        display_name=user.display_name,
        roles=[ROLE_BY_NAME[r] for r in user.roles if r in ROLE_BY_NAME],
        disabled=user.disabled,
        kind=_KIND.get(user.kind, resources_pb2.USER_KIND_UNSPECIFIED),
        time_zone=user.time_zone,
        etag=user.etag,
        create_time=_timestamp(user.created_at) if user.created_at else None,
        update_time=_timestamp(user.updated_at) if user.updated_at else None,
    )
    return msg


def tenant_to_proto(tenant: Tenant) -> resources_pb2.Tenant:
    msg = resources_pb2.Tenant(id=tenant.id, slug=tenant.slug, display_name=tenant.display_name)
    if tenant.created_at:
        msg.create_time.FromDatetime(tenant.created_at)
    return msg


def tokens_to_proto(tokens: Tokens) -> resources_pb2.TokenPair:
    return resources_pb2.TokenPair(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        token_type="Bearer",
        expires_in=tokens.expires_in,
    )


def jwk_to_proto(key: SigningKey) -> resources_pb2.Jwk:
    return resources_pb2.Jwk(**key.public_jwk())


# --- requests in -----------------------------------------------------------------------------------


def roles_from_proto(roles: list[int]) -> tuple[str, ...]:
    """Unknown numbers become "role_<n>" so validation reports them instead of dropping them."""
    return tuple(
        dict.fromkeys(ROLE_NAMES.get(r, f"role_{r}") for r in roles if r != auth_pb2.ROLE_UNSPECIFIED)
    )


def role_filter(role: int) -> str | None:
    return ROLE_NAMES.get(role) if role else None


def new_user_from_proto(u: resources_pb2.User) -> User:
    """The fields a caller may set on a new user; id, tenant and times are the service's to give."""
    return User(
        id="",
        tenant_id="",
        email=u.email,
        display_name=u.display_name,
        roles=roles_from_proto(list(u.roles)),
        disabled=u.disabled,
        time_zone=u.time_zone,
    )


def changes_from_proto(u: resources_pb2.User, mask: list[str]) -> UserChanges:
    """The fields named by the update mask (every updatable one when it is empty); a path that
    names anything else is a field violation of `update_mask`."""
    paths = mask or list(domain.UPDATABLE)
    unknown = [p for p in paths if p not in domain.UPDATABLE]
    if unknown:
        raise InvalidArgument(
            "update_mask names fields that cannot be updated",
            [
                FieldViolation("update_mask", f"{p!r} is not one of {', '.join(domain.UPDATABLE)}")
                for p in unknown
            ],
        )
    changes = UserChanges(changed=paths)
    if "display_name" in paths:
        changes.display_name = u.display_name
    if "roles" in paths:
        changes.roles = roles_from_proto(list(u.roles))
    if "disabled" in paths:
        changes.disabled = u.disabled
    if "time_zone" in paths:
        changes.time_zone = u.time_zone or "UTC"
    return changes


# --- events out ------------------------------------------------------------------------------------


def tenant_created_event(tenant: Tenant) -> events_pb2.TenantCreated:
    return events_pb2.TenantCreated(tenant=tenant_to_proto(tenant))


def user_created_event(user: User) -> events_pb2.UserCreated:
    return events_pb2.UserCreated(user=user_to_proto(user))


def user_updated_event(user: User, changes: UserChanges) -> events_pb2.UserUpdated:
    return events_pb2.UserUpdated(user=user_to_proto(user), changed_fields=changes.changed)


def signing_key_rotated_event(key: SigningKey) -> events_pb2.SigningKeyRotated:
    return events_pb2.SigningKeyRotated(new_kid=key.kid)
