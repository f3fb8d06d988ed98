"""audit's domain: records, the per-tenant hash chain, its verification, checkpoints, and who may read
what. Pure logic: no gRPC, SQLAlchemy or NATS here (tests/contracts/test_architecture.py holds it to
that).

The chain (docs/audit.md): record n of a tenant stores previous_hash (record n-1's hash, 64 zeros for
n = 1) and hash = SHA-256(bytes(previous_hash) || canonical(record n)). The canonical content is one
JSON array of every field that says what happened (below, in a fixed order), so changing any of them,
removing a record, or reordering records changes a hash that a later record or a checkpoint holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from services.runtime.errors import NotFound, PermissionDenied
from services.runtime.request_context import Principal

GENESIS = "0" * 64
CANONICAL_VERSION = 1
ADMIN = "admin"
OPERATOR = "operator"


@dataclass(frozen=True)
class NewRecord:
    """An audit event as it arrives, before it has a place in its tenant's chain."""

    id: str  # the event id (ce-id), a UUID
    tenant_id: str
    context: str
    action: str
    resource: str
    actor: str
    actor_kind: str
    correlation_id: str
    occurred_at: datetime
    before_json: str = ""
    after_json: str = ""
    reason: str = ""
    rpc: str = ""


@dataclass(frozen=True)
class AuditRecord:
    id: str
    tenant_id: str
    sequence: int
    context: str
    action: str
    resource: str
    actor: str
    actor_kind: str
    correlation_id: str
    occurred_at: datetime
    before_json: str
    after_json: str
    reason: str
    rpc: str
    previous_hash: str
    hash: str


@dataclass(frozen=True)
class ChainHead:
    tenant_id: str
    sequence: int = 0
    hash: str = GENESIS


@dataclass(frozen=True)
class Checkpoint:
    id: str
    tenant_id: str
    sequence: int
    hash: str
    signed_at: datetime
    algorithm: str
    key_id: str
    public_key: str
    signature: str


@dataclass(frozen=True)
class RecordFilter:
    actor: str = ""
    action: str = ""
    context: str = ""
    resource: str = ""
    start: datetime | None = None
    end: datetime | None = None


# Problems VerifyChain reports (the first one found).
CONTENT_CHANGED = "content_changed"
LINK_BROKEN = "link_broken"
SEQUENCE_GAP = "sequence_gap"
TRUNCATED = "truncated"
CHECKPOINT_FORGED = "checkpoint_forged"


@dataclass(frozen=True)
class Verification:
    intact: bool
    records_checked: int
    first_sequence: int
    last_sequence: int
    problem: str = ""
    broken_sequence: int = 0
    broken_record_id: str = ""
    detail: str = ""
    checkpoint: Checkpoint | None = None


class ChainLink(NamedTuple):
    """A record as VerifyChain reads it: its canonical fields first, in canonical order (so the
    content is the tuple's first 14 items), then its two hashes. A tuple, not a dataclass, because a
    million of them are built per verification."""

    tenant_id: str
    sequence: int
    id: str
    context: str
    action: str
    resource: str
    actor: str
    actor_kind: str
    correlation_id: str
    occurred: str  # the instant as `moment()` spells it
    before_json: str
    after_json: str
    reason: str
    rpc: str
    previous_hash: str
    hash: str


CONTENT_FIELDS = 14
# The canonical content is its fields joined by NUL, UTF-8: unambiguous because no field can hold a
# NUL (PostgreSQL text cannot, and convert.record_from_event refuses one), and a tenth of the cost of
# a JSON array, which matters a million times per VerifyChain.
_SEP = "\x00"
_VERSION = f"learnflow-audit/{CANONICAL_VERSION}"
# What VerifyChain reads per record: ChainLink's fields as a plain tuple, in ChainLink's order.
LinkRow = tuple[str, int, str, str, str, str, str, str, str, str, str, str, str, str, str, str]


def moment(value: datetime) -> str:
    """An instant as hashed: UTC, microseconds, "+00:00" (store.py reads it back spelled the same)."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _canonical(r: LinkRow) -> bytes:
    return _SEP.join((_VERSION, r[0], str(r[1]), *r[2:CONTENT_FIELDS])).encode()  # type: ignore[arg-type]  # items 2-13 are str; mypy widens a slice


def canonical(record: NewRecord | AuditRecord, sequence: int) -> bytes:
    """The record's content as hashed: what happened, to what, by whom, for whom, when, in which
    place of the chain. Not the time the audit context appended it (that is the audit context's)."""
    return _canonical(link_of(record, sequence))


def link_of(r: NewRecord | AuditRecord, sequence: int, previous_hash: str = "", hash: str = "") -> ChainLink:
    return ChainLink(
        r.tenant_id,
        sequence,
        r.id,
        r.context,
        r.action,
        r.resource,
        r.actor,
        r.actor_kind,
        r.correlation_id,
        moment(r.occurred_at),
        r.before_json,
        r.after_json,
        r.reason,
        r.rpc,
        previous_hash,
        hash,
    )


def link(previous_hash: str, content: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(previous_hash) + content).hexdigest()


def chain(head: ChainHead, fresh: Iterable[NewRecord]) -> list[AuditRecord]:
    """`fresh` appended after `head`, in order: each gets the next sequence and its hashes."""
    out: list[AuditRecord] = []
    sequence, previous = head.sequence, head.hash
    for r in fresh:
        sequence += 1
        digest = link(previous, canonical(r, sequence))
        out.append(
            AuditRecord(
                id=r.id,
                tenant_id=r.tenant_id,
                sequence=sequence,
                context=r.context,
                action=r.action,
                resource=r.resource,
                actor=r.actor,
                actor_kind=r.actor_kind,
                correlation_id=r.correlation_id,
                occurred_at=r.occurred_at,
                before_json=r.before_json,
                after_json=r.after_json,
                reason=r.reason,
                rpc=r.rpc,
                previous_hash=previous,
                hash=digest,
            )
        )
        previous = digest
    return out


def first_time_each(records: Iterable[NewRecord], known: set[str]) -> list[NewRecord]:
    """The records whose id is neither known (already in the chain) nor seen earlier in the batch:
    a redelivered event is appended once."""
    seen = set(known)
    out = []
    for r in records:
        if r.id not in seen:
            seen.add(r.id)
            out.append(r)
    return out


class ChainCheck:
    """Recomputes a chain fed record by record in sequence order and keeps the first problem.
    `previous` is the hash the first record fed must link to (GENESIS from sequence 1)."""

    def __init__(self, first_sequence: int, previous: str):
        self.expected = first_sequence
        self.previous = previous
        self.checked = 0
        self.last_sequence = first_sequence - 1
        self.last_hash = previous
        self.problem = ""
        self.broken_sequence = 0
        self.broken_record_id = ""
        self.detail = ""

    def feed(self, links: Iterable[LinkRow]) -> bool:
        """Checks the next records in order; False once a problem is found (stop feeding)."""
        sha256, expected, previous = hashlib.sha256, self.expected, self.previous
        try:
            for r in links:
                # Positions, not names: the store hands plain tuples (ChainLink's order) for speed.
                if r[1] != expected:
                    return self._broken(
                        SEQUENCE_GAP, r, f"sequence {expected} is missing: the next record is {r[1]}"
                    )
                if r[14] != previous:
                    return self._broken(LINK_BROKEN, r, "its previous_hash is not its predecessor's hash")
                digest = sha256(bytes.fromhex(previous) + _canonical(r)).hexdigest()
                if digest != r[15]:
                    return self._broken(CONTENT_CHANGED, r, "its content does not hash to its stored hash")
                expected += 1
                previous = digest
            return True
        finally:
            self.checked += expected - self.expected
            self.expected, self.previous = expected, previous
            self.last_sequence, self.last_hash = expected - 1, previous

    def _broken(self, problem: str, row: LinkRow, detail: str) -> bool:
        r = ChainLink._make(row)
        self.problem, self.broken_sequence, self.broken_record_id = problem, r.sequence, r.id
        self.detail = f"record {r.sequence} ({r.id}): {detail}"
        return False


def against_checkpoint(
    check: ChainCheck, head_sequence: int, checkpoint: Checkpoint, hash_at_checkpoint: str | None
) -> tuple[str, int, str]:
    """Compares the chain with a signed checkpoint: (problem, sequence, detail), problem "" when they
    agree. `head_sequence` is the last sequence present; `hash_at_checkpoint` is the stored hash of the
    record at the checkpoint's sequence (None when that record is gone)."""
    if head_sequence < checkpoint.sequence or hash_at_checkpoint is None:
        return (
            TRUNCATED,
            head_sequence + 1,
            f"the checkpoint of {moment(checkpoint.signed_at)} holds record {checkpoint.sequence}, "
            f"but the chain ends at {head_sequence}: records were removed from its tail",
        )
    if hash_at_checkpoint != checkpoint.hash:
        return (
            TRUNCATED,
            checkpoint.sequence,
            f"record {checkpoint.sequence}'s hash differs from the checkpoint's: the chain was rewritten",
        )
    return "", 0, ""


# --- who may read what -----------------------------------------------------------------------------


def may_read_tenant(caller: Principal, tenant_id: str) -> None:
    """Admins read (and verify) their own tenant; operators verify any tenant. Another tenant's
    records are never read: the list and get RPCs take no tenant at all."""
    if caller.has_any(OPERATOR) or tenant_id.lower() == caller.tenant_id.lower():
        return
    raise PermissionDenied("you may verify only your own tenant's audit chain", reason="OTHER_TENANT")


def not_found(record_id: str) -> NotFound:
    return NotFound(f"audit record {record_id} not found", reason="AUDIT_RECORD_NOT_FOUND")


def statement(tenant_id: str, sequence: int, chain_hash: str, signed_at: datetime) -> bytes:
    """What a checkpoint's signature covers: the tenant's chain head at a moment."""
    return (
        f"learnflow-audit-checkpoint/v1\n{tenant_id}\n{sequence}\n{chain_hash}\n{moment(signed_at)}".encode()
    )
