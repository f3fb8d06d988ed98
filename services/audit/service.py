"""audit's use cases: appending arriving events to their tenant's chain (the consumer's unit of
work), reading records, verifying a chain, signing checkpoints. Domain objects in and out."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from services.audit import domain, signing, store
from services.audit.domain import AuditRecord, ChainHead, Checkpoint, NewRecord, RecordFilter, Verification
from services.audit.settings import AuditConfig
from services.audit.signing import CheckpointSigner
from services.runtime import pagination
from services.runtime.db import Database
from services.runtime.errors import FieldViolation, InvalidArgument
from services.runtime.request_context import Principal

log = logging.getLogger(__name__)


class AuditService:
    def __init__(self, db: Database, config: AuditConfig, signer: CheckpointSigner):
        self.db = db
        self.config = config
        self.signer = signer

    # --- appending (the consumer) ------------------------------------------------------------------

    async def append(
        self, session: AsyncConnection, tenant_id: str, arrived: list[NewRecord]
    ) -> list[AuditRecord]:
        """Appends one tenant's arrived records, in order, to its chain inside the consumer's
        transaction (scoped to that tenant): the head is locked, records already present (a
        redelivery, a replayed stream) are skipped, the rest are chained and inserted, the head
        moves. Returns what was appended."""
        strays = [r.id for r in arrived if r.tenant_id != tenant_id]
        if strays:
            raise InvalidArgument(f"audit events {strays} are not of tenant {tenant_id}")
        head, created = await store.lock_head(session, tenant_id)
        if created:
            await store.add_tenant(session, tenant_id)
        fresh = domain.first_time_each(arrived, await store.known_ids(session, [r.id for r in arrived]))
        chained = domain.chain(head, fresh)
        if chained:
            await store.insert_records(session, chained)
            await store.set_head(session, ChainHead(tenant_id, chained[-1].sequence, chained[-1].hash))
        return chained

    # --- reading -----------------------------------------------------------------------------------

    async def list_records(
        self, caller: Principal, f: RecordFilter, page_size: int, page_token: str
    ) -> tuple[list[AuditRecord], str]:
        _check_range(f.start, f.end)
        size = pagination.page_size(page_size, default=self.config.default_page_size)
        position = pagination.decode_token(page_token, s=int)
        async with self.db.transaction(caller.tenant_id) as session:
            found = await store.list_records(
                session, f, limit=size + 1, before_sequence=position["s"] if position else None
            )
        token = pagination.encode_token({"s": found[size - 1].sequence}) if len(found) > size else ""
        return found[:size], token

    async def get_record(self, caller: Principal, record_id: str) -> AuditRecord:
        async with self.db.transaction(caller.tenant_id) as session:
            found = await store.get_record(session, record_id)
        if found is None:
            raise domain.not_found(record_id)
        return found

    async def export(
        self, caller: Principal, start: datetime | None, end: datetime | None
    ) -> AsyncIterator[AuditRecord]:
        """The caller's tenant's records in [start, end), oldest first, streamed from one snapshot."""
        _check_range(start, end)
        async with self.db.transaction(caller.tenant_id) as session:
            async for r in store.stream_records(session, first=1, last=None, start=start, end=end):
                yield r

    async def list_checkpoints(
        self, caller: Principal, tenant_id: str, page_size: int, page_token: str
    ) -> tuple[list[Checkpoint], str]:
        # The request is read before it is authorised, like every field the interceptor validates:
        # a malformed token is a 400 whoever asks.
        size = pagination.page_size(page_size, default=self.config.default_page_size)
        position = pagination.decode_token(page_token, s=int, t=datetime, i=uuid.UUID)
        domain.may_read_tenant(caller, tenant_id)
        after = (position["s"], position["t"], str(position["i"])) if position else None
        async with self.db.transaction(tenant_id) as session:
            found = await store.list_checkpoints(session, limit=size + 1, after=after)
        token = ""
        if len(found) > size:
            last = found[size - 1]
            token = pagination.encode_token(
                {"s": last.sequence, "t": last.signed_at.isoformat(), "i": last.id}
            )
        return found[:size], token

    # --- verifying ---------------------------------------------------------------------------------

    async def verify_chain(self, caller: Principal, tenant_id: str, first: int, last: int) -> Verification:
        """Recomputes the tenant's chain from `first` (0: 1) to `last` (0: the head) and compares it
        with the latest checkpoint; the first problem found is reported with its record."""
        domain.may_read_tenant(caller, tenant_id)
        if last and first > last:
            raise InvalidArgument(
                "from_sequence is after to_sequence",
                [FieldViolation("from_sequence", "must not be after to_sequence")],
            )
        start = first or 1
        async with self.db.transaction(tenant_id) as session:
            head = await store.last_sequence(session)
            previous = domain.GENESIS if start == 1 else await store.hash_at(session, start - 1)
            check = domain.ChainCheck(start, previous or domain.GENESIS)
            if previous is None and start <= head:
                check.problem, check.broken_sequence = domain.SEQUENCE_GAP, start - 1
                check.detail = f"record {start - 1}, the one before the range, is missing"
            else:
                # Closed at once when a problem stops the walk, so its cursor does not outlive it.
                async with contextlib.aclosing(
                    store.chain_links(session, first=start, last=last or None)
                ) as chunks:
                    async for links in chunks:
                        if not check.feed(links):
                            break
            end = min(last, head) if last else head
            if not check.problem and check.last_sequence < end:
                check.problem, check.broken_sequence = domain.SEQUENCE_GAP, check.expected
                check.detail = f"record {check.expected} is missing"
            checkpoint = await store.latest_checkpoint(session)
            if checkpoint is not None and not check.problem:
                self._against(check, head, checkpoint, await store.hash_at(session, checkpoint.sequence))
        return Verification(
            intact=not check.problem,
            records_checked=check.checked,
            first_sequence=start,
            last_sequence=check.last_sequence,
            problem=check.problem,
            broken_sequence=check.broken_sequence,
            broken_record_id=check.broken_record_id,
            detail=check.detail,
            checkpoint=checkpoint,
        )

    @staticmethod
    def _against(check: domain.ChainCheck, head: int, cp: Checkpoint, hash_there: str | None) -> None:
        said = domain.statement(cp.tenant_id, cp.sequence, cp.hash, cp.signed_at)
        if signing.key_id_of(cp.public_key) != cp.key_id or not signing.verify(
            cp.public_key, cp.signature, said
        ):
            check.problem, check.broken_sequence = domain.CHECKPOINT_FORGED, cp.sequence
            check.detail = f"checkpoint {cp.id}'s signature does not verify with its key {cp.key_id}"
            return
        problem, sequence, detail = domain.against_checkpoint(check, head, cp, hash_there)
        if problem:
            check.problem, check.broken_sequence, check.detail = problem, sequence, detail

    # --- checkpoints (periodic, singleton) ---------------------------------------------------------

    async def checkpoint_all(self) -> int:
        """Signs the head of every tenant's chain that moved since its last checkpoint; returns how
        many were signed. A tenant that fails is logged and the others are still signed."""
        async with self.db.transaction(tenant_id="") as session:
            tenants = await store.tenant_ids(session)
        signed = 0
        for tenant_id in tenants:
            try:
                signed += await self.checkpoint(tenant_id) is not None
            except Exception:
                log.exception("audit checkpoint failed", extra={"tenant": tenant_id})
        return signed

    async def checkpoint(self, tenant_id: str) -> Checkpoint | None:
        """Signs the tenant's last record (sequence and hash) unless the latest checkpoint has it."""
        async with self.db.transaction(tenant_id) as session:
            head = await store.last_sequence(session)
            latest = await store.latest_checkpoint(session)
            if head == 0 or (latest is not None and latest.sequence >= head):
                return None
            chain_hash = await store.hash_at(session, head)
            assert chain_hash is not None  # read in this transaction; records are never deleted
            now = datetime.now(UTC)
            cp = Checkpoint(
                id=str(uuid.uuid4()),
                tenant_id=tenant_id,
                sequence=head,
                hash=chain_hash,
                signed_at=now,
                algorithm=signing.ALGORITHM,
                key_id=self.signer.key_id,
                public_key=self.signer.public_key,
                signature=self.signer.sign(domain.statement(tenant_id, head, chain_hash, now)),
            )
            await store.insert_checkpoint(session, cp)
        return cp


def _check_range(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and end < start:
        raise InvalidArgument(
            "end_time is before start_time", [FieldViolation("end_time", "must not be before start_time")]
        )
