"""A deployment that pins its checkpoint key (AUDIT_CHECKPOINT_KEY) trusts only checkpoints signed by
it or by the earlier keys it names (AUDIT_TRUSTED_KEY_IDS): someone who can write the checkpoints
table could otherwise cut the chain's tail and sign a new head with a key of their own.

The service in-process on the real PostgreSQL (docs/testing.md), each test on a tenant of its own."""

import asyncio
import os
import uuid
from dataclasses import replace
from datetime import UTC, datetime

from services.audit import domain
from services.audit.service import AuditService
from services.audit.settings import AuditConfig
from services.audit.signing import CheckpointSigner
from services.runtime.testing import Caller, service_database


def _records(tenant_id: str, n: int) -> list[domain.NewRecord]:
    return [
        domain.NewRecord(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            context="identity",
            action="user.created",
            resource=f"users/{uuid.uuid4()}",
            actor="someone",
            actor_kind="user",
            correlation_id=str(uuid.uuid4()),
            occurred_at=datetime.now(UTC),
        )
        for _ in range(n)
    ]


def _verify_with(context_pg, signed_by: CheckpointSigner, verified_by: CheckpointSigner, config: AuditConfig):
    async def main():
        async with service_database(context_pg) as db:
            people = Caller()
            writer = AuditService(db, config, signed_by)
            async with db.transaction(people.tenant_id) as session:
                await writer.append(session, people.tenant_id, _records(people.tenant_id, 3))
            assert await writer.checkpoint(people.tenant_id) is not None
            reader = AuditService(db, config, verified_by)
            return await reader.verify_chain(people.as_("operator"), people.tenant_id, 0, 0)

    return asyncio.run(main())


def test_a_checkpoint_signed_by_a_key_the_deployment_does_not_trust_is_forged(context_pg):
    ours, theirs = CheckpointSigner(os.urandom(32)), CheckpointSigner(os.urandom(32))
    result = _verify_with(context_pg, theirs, ours, AuditConfig())
    assert not result.intact and result.problem == domain.CHECKPOINT_FORGED
    assert theirs.key_id in result.detail and "does not trust" in result.detail


def test_its_own_key_and_the_earlier_keys_it_names_are_trusted(context_pg):
    old, current = CheckpointSigner(os.urandom(32)), CheckpointSigner(os.urandom(32))
    assert _verify_with(context_pg, current, current, AuditConfig()).intact
    rotated = replace(AuditConfig(), trusted_key_ids=frozenset({old.key_id}))
    assert _verify_with(context_pg, old, current, rotated).intact


def test_without_a_pinned_key_only_the_signature_is_checked(context_pg):
    """Each process signs with a key of its own (the warning at start says so): no key to pin."""
    assert _verify_with(context_pg, CheckpointSigner(), CheckpointSigner(), AuditConfig()).intact
