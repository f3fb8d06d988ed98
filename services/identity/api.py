"""IdentityService over gRPC: proto in (convert.py), one service call, proto out (convert.py)."""

from __future__ import annotations

from learnflow.identity.v1 import identity_service_pb2 as pb
from learnflow.identity.v1 import identity_service_pb2_grpc as pb_grpc
from learnflow.identity.v1 import resources_pb2

from services.identity import convert
from services.identity.service import IdentityService
from services.runtime import request_context

_caller = request_context.require_principal


class IdentityApi(pb_grpc.IdentityServiceServicer):
    def __init__(self, service: IdentityService):
        self.service = service

    async def Login(self, request: pb.LoginRequest, context: object) -> pb.LoginResponse:
        tokens, user = await self.service.login(request.tenant, request.email, request.password)
        return pb.LoginResponse(tokens=convert.tokens_to_proto(tokens), user=convert.user_to_proto(user))

    async def RefreshToken(self, request: pb.RefreshTokenRequest, context: object) -> pb.RefreshTokenResponse:
        tokens = await self.service.refresh(request.refresh_token)
        return pb.RefreshTokenResponse(tokens=convert.tokens_to_proto(tokens))

    async def IssueServiceToken(
        self, request: pb.IssueServiceTokenRequest, context: object
    ) -> pb.IssueServiceTokenResponse:
        tokens = await self.service.issue_service_token(
            request.tenant, request.client_id, request.client_secret
        )
        return pb.IssueServiceTokenResponse(tokens=convert.tokens_to_proto(tokens))

    async def IssueWorkloadToken(
        self, request: pb.IssueWorkloadTokenRequest, context: object
    ) -> pb.IssueWorkloadTokenResponse:
        token, ttl = await self.service.issue_workload_token(
            request.workload, request.secret, request.tenant_id
        )
        return pb.IssueWorkloadTokenResponse(access_token=token, expires_in=ttl)

    async def GetJwks(self, request: pb.GetJwksRequest, context: object) -> pb.GetJwksResponse:
        keys = await self.service.published_keys()
        return pb.GetJwksResponse(keys=[convert.jwk_to_proto(k) for k in keys])

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

    async def BatchGetUsers(
        self, request: pb.BatchGetUsersRequest, context: object
    ) -> pb.BatchGetUsersResponse:
        users = await self.service.batch_get_users(_caller(), list(request.user_ids))
        return pb.BatchGetUsersResponse(users=[convert.user_to_proto(u) for u in users])

    async def CreateUser(self, request: pb.CreateUserRequest, context: object) -> resources_pb2.User:
        user = convert.new_user_from_proto(request.user)
        return convert.user_to_proto(await self.service.create_user(_caller(), user, request.password))

    async def UpdateUser(self, request: pb.UpdateUserRequest, context: object) -> resources_pb2.User:
        changes = convert.changes_from_proto(request.user, list(request.update_mask.paths))
        updated = await self.service.update_user(_caller(), request.user.id, request.user.etag, changes)
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
