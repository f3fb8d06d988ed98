"""audit's domain without a database or a network: the chain, its verification (each problem named at
the right record), checkpoints and their signatures, and the record call's event."""

import itertools
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.audit import domain, signing
from services.audit.domain import ChainHead, NewRecord
from services.runtime import audit, request_context
from services.runtime.request_context import Principal, RequestContext

TENANT = str(uuid.uuid4())
T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _new(i: int, **changes: str) -> NewRecord:
    record = NewRecord(
        id=str(uuid.uuid4()),
        tenant_id=TENANT,
        context="identity",
        action="user.created",
        resource=f"users/{i}",
        actor="admin-1",
        actor_kind="user",
        correlation_id=f"c{i}",
        occurred_at=T0 + timedelta(seconds=i),
        after_json='{"roles":["student"]}',
    )
    return replace(record, **changes)


def _verify(records: list[domain.AuditRecord]) -> domain.ChainCheck:
    check = domain.ChainCheck(1, domain.GENESIS)
    check.feed(domain.link_of(r, r.sequence, r.previous_hash, r.hash) for r in records)
    return check


def test_a_chain_links_each_record_to_the_previous_one():
    chained = domain.chain(ChainHead(TENANT), [_new(i) for i in range(5)])
    assert [r.sequence for r in chained] == [1, 2, 3, 4, 5]
    assert chained[0].previous_hash == domain.GENESIS
    assert all(b.previous_hash == a.hash for a, b in itertools.pairwise(chained))
    assert len({r.hash for r in chained}) == 5
    check = _verify(chained)
    assert check.problem == "" and check.checked == 5 and check.last_sequence == 5


def test_extending_a_chain_continues_from_its_head():
    first = domain.chain(ChainHead(TENANT), [_new(i) for i in range(3)])
    more = domain.chain(ChainHead(TENANT, first[-1].sequence, first[-1].hash), [_new(i) for i in range(3, 5)])
    whole = first + more
    assert _verify(whole).problem == ""
    assert whole == domain.chain(ChainHead(TENANT), [NewRecord(**_fields(r)) for r in whole])


def _fields(r: domain.AuditRecord) -> dict:
    return {f: getattr(r, f) for f in NewRecord.__dataclass_fields__}


@pytest.mark.parametrize("field", ["resource", "actor", "reason", "after_json", "action", "correlation_id"])
def test_changing_any_field_of_a_record_names_that_record(field):
    chained = domain.chain(ChainHead(TENANT), [_new(i) for i in range(6)])
    chained[3] = replace(chained[3], **{field: "tampered"})
    check = _verify(chained)
    assert (check.problem, check.broken_sequence, check.broken_record_id) == (
        domain.CONTENT_CHANGED,
        4,
        chained[3].id,
    )


def test_a_record_rehashed_after_tampering_breaks_the_next_link():
    chained = domain.chain(ChainHead(TENANT), [_new(i) for i in range(5)])
    forged = replace(chained[1], reason="covered up")
    forged = replace(forged, hash=domain.link(forged.previous_hash, domain.canonical(forged, 2)))
    chained[1] = forged
    check = _verify(chained)
    assert (check.problem, check.broken_sequence) == (domain.LINK_BROKEN, 3)


def test_a_record_removed_from_the_middle_is_a_gap():
    chained = domain.chain(ChainHead(TENANT), [_new(i) for i in range(5)])
    del chained[2]
    check = _verify(chained)
    assert (check.problem, check.broken_sequence) == (domain.SEQUENCE_GAP, 4)
    assert "sequence 3 is missing" in check.detail


def test_the_time_is_hashed_as_an_instant_whatever_its_zone():
    r = _new(1)
    other_zone = r.occurred_at.astimezone(datetime.now().astimezone().tzinfo)
    assert domain.canonical(r, 1) == domain.canonical(replace(r, occurred_at=other_zone), 1)
    assert domain.canonical(r, 1) != domain.canonical(
        replace(r, occurred_at=r.occurred_at + timedelta(microseconds=1)), 1
    )


def test_a_redelivered_event_is_taken_once():
    a, b = _new(1), _new(2)
    assert domain.first_time_each([a, b, a, b], known=set()) == [a, b]
    assert domain.first_time_each([a, b], known={a.id}) == [b]


def _checkpoint(chained, signer, sequence):
    at = T0 + timedelta(hours=1)
    said = domain.statement(TENANT, sequence, chained[sequence - 1].hash, at)
    return domain.Checkpoint(
        id=str(uuid.uuid4()),
        tenant_id=TENANT,
        sequence=sequence,
        hash=chained[sequence - 1].hash,
        signed_at=at,
        algorithm=signing.ALGORITHM,
        key_id=signer.key_id,
        public_key=signer.public_key,
        signature=signer.sign(said),
    )


def test_a_truncated_tail_is_found_against_the_checkpoint():
    chained = domain.chain(ChainHead(TENANT), [_new(i) for i in range(5)])
    signer = signing.CheckpointSigner()
    cp = _checkpoint(chained, signer, 5)
    assert signing.verify(cp.public_key, cp.signature, domain.statement(TENANT, 5, cp.hash, cp.signed_at))
    intact = _verify(chained)
    assert domain.against_checkpoint(intact, 5, cp, chained[4].hash)[0] == ""
    cut = _verify(chained[:3])  # the last two removed
    problem, sequence, detail = domain.against_checkpoint(cut, 3, cp, None)
    assert (problem, sequence) == (domain.TRUNCATED, 4) and "ends at 3" in detail


def test_a_signature_verifies_only_for_its_statement_and_key():
    signer = signing.CheckpointSigner(b"\x01" * 32)
    said = domain.statement(TENANT, 7, "ab" * 32, T0)
    signature = signer.sign(said)
    assert signing.verify(signer.public_key, signature, said)
    assert not signing.verify(signer.public_key, signature, domain.statement(TENANT, 6, "ab" * 32, T0))
    assert not signing.verify(signing.CheckpointSigner().public_key, signature, said)
    assert not signing.verify(signer.public_key, "not base64!", said)
    # A configured seed gives the same key every time (checkpoints verify across restarts).
    assert signing.CheckpointSigner(b"\x01" * 32).key_id == signer.key_id


def test_the_record_event_takes_who_and_why_from_the_request_context():
    principal = Principal("user-7", TENANT, frozenset({"admin"}))
    with request_context.bind(RequestContext("corr-1", principal=principal, tenant_id=TENANT, rpc="/x.Y/Z")):
        made = audit.event("identity", "user.created", "users/1", tenant_id=TENANT, after={"b": 1, "a": [2]})
    assert (made.actor, made.actor_kind, made.correlation_id, made.rpc) == (
        "user-7",
        "user",
        "corr-1",
        "/x.Y/Z",
    )
    assert made.after_json == '{"a":[2],"b":1}' and made.before_json == ""
    workload = Principal("workload:tutoring", TENANT, frozenset({"service"}))
    with request_context.bind(RequestContext("corr-2", principal=workload, tenant_id=TENANT)):
        assert (
            audit.event("sandbox", "exercise.created", "exercises/1", tenant_id=TENANT).actor_kind
            == "workload"
        )
    outside = audit.event("identity", "signing_key.rotated", "signingKeys/k", tenant_id=audit.PLATFORM_TENANT)
    assert (outside.actor, outside.actor_kind) == ("system:identity", "system")


@pytest.mark.parametrize("action", ["User.Created", "user created", "user.>", "", "user..created"])
def test_a_malformed_action_fails_the_caller(action):
    with pytest.raises(ValueError, match="dotted lower-case"):
        audit.event("identity", action, "users/1", tenant_id=TENANT)


def test_an_oversized_state_fails_the_caller():
    with pytest.raises(ValueError, match="at most"):
        audit.event("identity", "user.created", "users/1", tenant_id=TENANT, after={"x": "y" * 20_000})
