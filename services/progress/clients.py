"""progress's view of identity: the runtime's directory of a tenant's users (runtime/directory.py),
as the domain's Members (who is a teacher, who a student, who is disabled)."""

from __future__ import annotations

from services.progress.domain.classes import Member
from services.runtime.directory import UserDirectory

CACHE_SECONDS = 30.0  # a role change reaches class checks within this long


class Directory:
    def __init__(self, users: UserDirectory):
        self.users = users

    async def members(self, tenant_id: str, ids: list[str]) -> dict[str, Member]:
        """The users of tenant_id among ids, by id; others are absent."""
        found = await self.users.users(tenant_id, ids)
        return {i: Member(u.id, u.roles, u.disabled) for i, u in found.items()}
