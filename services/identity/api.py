"""IdentityService over gRPC: proto in, domain call, proto out. Nothing else."""

from __future__ import annotations

from learnflow.identity.v1 import identity_service_pb2 as pb
from learnflow.identity.v1 import identity_service_pb2_grpc as pb_grpc
from learnflow.identity.v1 import resources_pb2

from services.identity import convert, domain
from services.identity.domain import User, UserChanges
from services.identity.service import IdentityService, Tokens
from services.runtime import request_context
from services.runtime.errors import FieldViolation, InvalidArgument

_caller = request_context.require_principal


def _tokens(tokens: Tokens) -> resources_pb2.TokenPair:
    return resources_pb2.TokenPair(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        token_type="Bearer",
        expires_in=tokens.expires_in,
    )


class IdentityApi(pb_grpc.IdentityServiceServicer):
    def __init__(self, service: IdentityService):
        self.service = service

    async def Login(self, request: pb.LoginRequest, context: object) -> pb.LoginResponse:
        tokens, user = await self.service.login(request.tenant, request.email, request.password)
        return pb.LoginResponse(tokens=_tokens(tokens), user=convert.user_to_proto(user))

    async def RefreshToken(self, request: pb.RefreshTokenRequest, context: object) -> pb.RefreshTokenResponse:
        return pb.RefreshTokenResponse(tokens=_tokens(await self.service.refresh(request.refresh_token)))

    async def IssueServiceToken(
        self, request: pb.IssueServiceTokenRequest, context: object
    ) -> pb.IssueServiceTokenResponse:
        tokens = await self.service.issue_service_token(
            request.tenant, request.client_id, request.client_secret
        )
        return pb.IssueServiceTokenResponse(tokens=_tokens(tokens))

    async def IssueWorkloadToken(
        self, request: pb.IssueWorkloadTokenRequest, context: object
    ) -> pb.IssueWorkloadTokenResponse:
        token, ttl = await self.service.issue_workload_token(
            request.workload, request.secret, request.tenant_id
        )
        return pb.IssueWorkloadTokenResponse(access_token=token, expires_in=ttl)

    async def GetJwks(self, request: pb.GetJwksRequest, context: object) -> pb.GetJwksResponse:
        keys = await self.service.published_keys()
        return pb.GetJwksResponse(keys=[resources_pb2.Jwk(**k.public_jwk()) for k in keys])

    async def RotateSigningKey(
        self, request: pb.RotateSigningKeyRequest, context: object
    ) -> pb.RotateSigningKeyResponse:
        new, published = await self.service.rotate_signing_key()
        return pb.RotateSigningKeyResponse(new_kid=new.kid, published_kids=[k.kid for k in published])

    async def CreateTenant(self, request: pb.CreateTenantRequest, context: object) -> resources_pb2.Tenant:
        tenant = await self.service.create_tenant(
            request.tenant.slug, request.tenant.display_name, request.admin_email, request.admin_password
        )
        return convert.tenant_to_proto(tenant)

    async def GetUser(self, request: pb.GetUserRequest, context: object) -> resources_pb2.User:
        return convert.user_to_proto(await self.service.get_user(_caller(), request.user_id))

    async def ListUsers(self, request: pb.ListUsersRequest, context: object) -> pb.ListUsersResponse:
        users, token = await self.service.list_users(
            _caller(), request.page_size, request.page_token, convert.role_filter(request.role)
        )
        return pb.ListUsersResponse(users=[convert.user_to_proto(u) for u in users], next_page_token=token)

    async def CreateUser(self, request: pb.CreateUserRequest, context: object) -> resources_pb2.User:
        u = request.user
        user = User(
            id="",
            tenant_id="",
            email=u.email,
            display_name=u.display_name,
            roles=convert.roles_from_proto(list(u.roles)),
            disabled=u.disabled,
            time_zone=u.time_zone,
        )
        return convert.user_to_proto(await self.service.create_user(_caller(), user, request.password))

    async def UpdateUser(self, request: pb.UpdateUserRequest, context: object) -> resources_pb2.User:
        paths = list(request.update_mask.paths) or list(domain.UPDATABLE)
        unknown = [p for p in paths if p not in domain.UPDATABLE]
        if unknown:
            raise InvalidArgument(
                "update_mask names fields that cannot be updated",
                [
                    FieldViolation("update_mask", f"{p!r} is not one of {', '.join(domain.UPDATABLE)}")
                    for p in unknown
                ],
            )
        u = request.user
        changes = UserChanges(changed=paths)
        if "display_name" in paths:
            changes.display_name = u.display_name
        if "roles" in paths:
            changes.roles = convert.roles_from_proto(list(u.roles))
        if "disabled" in paths:
            changes.disabled = u.disabled
        if "time_zone" in paths:
            changes.time_zone = u.time_zone or "UTC"
        updated = await self.service.update_user(_caller(), u.id, u.etag, changes)
        return convert.user_to_proto(updated)

    async def CreateServiceAccount(
        self, request: pb.CreateServiceAccountRequest, context: object
    ) -> pb.CreateServiceAccountResponse:
        account, client_id, secret = await self.service.create_service_account(
            _caller(), request.name, convert.roles_from_proto(list(request.roles))
        )
        return pb.CreateServiceAccountResponse(
            account=convert.user_to_proto(account), client_id=client_id, client_secret=secret
        )
