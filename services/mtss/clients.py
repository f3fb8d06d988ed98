"""mtss's calls to other contexts, as its workload: identity (who the tenant's users are and their
roles, through the runtime's cached UserDirectory)."""

from __future__ import annotations

from services.runtime.directory import UserDirectory


class IdentityDirectory:
    """Roles of the tenant's users by id (lower-case); unknown ids and disabled users are absent, so
    a disabled teacher cannot be made an owner or a facilitator."""

    def __init__(self, directory: UserDirectory):
        self.directory = directory

    async def roles_of(self, tenant_id: str, ids: list[str]) -> dict[str, frozenset[str]]:
        found = await self.directory.users(tenant_id, ids)
        return {uid: user.roles for uid, user in found.items() if not user.disabled}
