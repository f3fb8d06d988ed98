"""The one place where identity's domain objects and its protobuf messages meet."""

from __future__ import annotations

from learnflow.auth.v1 import auth_pb2
from learnflow.identity.v1 import resources_pb2

from services.identity import domain
from services.identity.domain import Tenant, User
from services.runtime.authz import ROLE_BY_NAME, ROLE_NAMES

_KIND = {
    domain.PERSON: resources_pb2.USER_KIND_PERSON,
    domain.SERVICE_ACCOUNT: resources_pb2.USER_KIND_SERVICE_ACCOUNT,
}


def user_to_proto(user: User) -> resources_pb2.User:
    msg = resources_pb2.User(
        id=user.id,
        tenant_id=user.tenant_id,
        email=user.email,
        display_name=user.display_name,
        roles=[auth_pb2.Role.Value("ROLE_" + r.upper()) for r in user.roles if r in ROLE_BY_NAME],
        disabled=user.disabled,
        kind=_KIND.get(user.kind, resources_pb2.USER_KIND_UNSPECIFIED),
        time_zone=user.time_zone,
        etag=user.etag,
    )
    if user.created_at:
        msg.create_time.FromDatetime(user.created_at)
    if user.updated_at:
        msg.update_time.FromDatetime(user.updated_at)
    return msg


def tenant_to_proto(tenant: Tenant) -> resources_pb2.Tenant:
    msg = resources_pb2.Tenant(id=tenant.id, slug=tenant.slug, display_name=tenant.display_name)
    if tenant.created_at:
        msg.create_time.FromDatetime(tenant.created_at)
    return msg


def roles_from_proto(roles: list[int]) -> tuple[str, ...]:
    """Unknown numbers become "role_<n>" so validation reports them instead of dropping them."""
    return tuple(
        dict.fromkeys(ROLE_NAMES.get(r, f"role_{r}") for r in roles if r != auth_pb2.ROLE_UNSPECIFIED)
    )


def role_filter(role: int) -> str | None:
    return ROLE_NAMES.get(role) if role else None
