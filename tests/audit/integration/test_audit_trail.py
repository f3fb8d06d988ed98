"""The audit trail on the real mesh (the session's `mesh` fixture: PostgreSQL, NATS, every context,
Envoy): administrative actions recorded through the contexts' outboxes and listed through gRPC and
REST, redelivery appended once, tampering and truncation named by VerifyChain, append-only for the
service role and the owner, one tenant's admin never reading another's records, and an action and
its record committing together or not at all (a process SIGKILLed between them)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import nats
import psycopg
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2, status_pb2
from learnflow.audit.v1 import audit_service_pb2 as pb
from learnflow.audit.v1 import audit_service_pb2_grpc as pb_grpc
from learnflow.identity.v1 import identity_service_pb2 as id_pb
from learnflow.identity.v1 import identity_service_pb2_grpc as id_grpc
from learnflow.identity.v1 import resources_pb2 as id_resources

from services.audit.domain import NewRecord
from services.audit.service import AuditService
from services.audit.settings import AuditConfig
from services.audit.signing import CheckpointSigner
from services.runtime import audit
from services.runtime.db import Database
from services.runtime.events.envelope import build_headers
from services.runtime.testing import bearer, login, new_student, rest
from services.sandbox.engine import BubblewrapSandbox

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture(scope="module")
def stub(mesh) -> Iterator[pb_grpc.AuditServiceStub]:
    with grpc.insecure_channel(mesh.grpc_addr) as channel:
        yield pb_grpc.AuditServiceStub(channel)


@pytest.fixture(scope="module")
def admin(mesh) -> str:
    return login(mesh, "admin@demo.test")


@pytest.fixture(scope="module")
def operator(mesh) -> str:
    return login(mesh, "operator@demo.test")


@pytest.fixture(scope="module")
def me(mesh, admin) -> dict:
    return rest(mesh, "GET", "/v1/users/me", token=admin).body


@pytest.fixture(scope="module")
def other_tenant(mesh, operator) -> dict:
    """A second tenant with its own admin, made by the demo operator."""
    slug = f"audit-{uuid.uuid4().hex[:6]}"
    with grpc.insecure_channel(mesh.grpc_addr) as channel:
        made = id_grpc.IdentityServiceStub(channel).CreateTenant(
            id_pb.CreateTenantRequest(
                tenant=id_resources.Tenant(slug=slug, display_name="Elsewhere"),
                admin_email=f"head@{slug}.test",
                admin_password="elsewhere-password",
            ),
            metadata=bearer(operator),
            timeout=10,
        )
    token = login(mesh, f"head@{slug}.test", "elsewhere-password", tenant=slug)
    return {"id": made.id, "slug": slug, "admin": token}


def _violations(err: grpc.RpcError) -> set[str]:
    fields = set()
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                bad = error_details_pb2.BadRequest()
                if detail.Unpack(bad):
                    fields.update(v.field for v in bad.field_violations)
    return fields


def _records(stub, token: str, *, expect: int = 1, timeout: float = 30, **filters) -> list:
    """The records matching `filters`, waiting (the consumer appends asynchronously) until there are
    at least `expect`; then a short wait more, so a duplicate that is coming would show."""
    deadline = time.monotonic() + timeout
    while True:
        found = list(
            stub.ListAuditRecords(pb.ListAuditRecordsRequest(**filters), metadata=bearer(token)).records
        )
        if len(found) >= expect or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if expect:
        time.sleep(0.5)
        found = list(
            stub.ListAuditRecords(pb.ListAuditRecordsRequest(**filters), metadata=bearer(token)).records
        )
    return found


def _service(mesh) -> tuple[AuditService, Database]:
    db = Database(mesh.database_url, pool_size=2)
    return AuditService(db, AuditConfig(), CheckpointSigner()), db


def _arrived(tenant: str, i: int) -> NewRecord:
    return NewRecord(
        id=str(uuid.uuid4()),
        tenant_id=tenant,
        context="test",
        action="thing.done",
        resource=f"things/{i}",
        actor="tester",
        actor_kind="user",
        correlation_id=f"corr-{i}",
        occurred_at=datetime.now(UTC),
        after_json=f'{{"n":{i}}}',
    )


def _chain_of(mesh, n: int, *, checkpoint: bool = False) -> tuple[str, list]:
    """A fresh tenant with n records appended by the audit service's own code (and a checkpoint)."""
    tenant = str(uuid.uuid4())

    async def main():
        service, db = _service(mesh)
        try:
            async with db.transaction(tenant) as session:
                chained = await service.append(session, tenant, [_arrived(tenant, i) for i in range(n)])
            if checkpoint:
                await service.checkpoint(tenant)
            return chained
        finally:
            await db.dispose()

    return tenant, asyncio.run(main())


def _superuser(mesh) -> psycopg.Connection:
    return psycopg.connect(_plain(mesh.migration_url), autocommit=True)


def _verify(stub, token: str, tenant: str, **kw) -> pb.VerifyChainResponse:
    return stub.VerifyChain(pb.VerifyChainRequest(tenant_id=tenant, **kw), metadata=bearer(token), timeout=60)


# --- what is recorded ------------------------------------------------------------------------------


def test_an_admin_action_leaves_exactly_one_record_listed_through_rest(mesh, stub, admin, me):
    student = new_student(mesh, admin_token=admin)
    resource = f"users/{student['id']}"
    (created,) = _records(stub, admin, resource=resource)
    assert (created.context, created.action, created.actor, created.actor_kind) == (
        "identity",
        "user.created",
        me["id"],
        "user",
    )
    assert created.tenant_id == me["tenantId"] and created.correlation_id
    assert created.rpc == "/learnflow.identity.v1.IdentityService/CreateUser"
    assert list(created.after["roles"]) == ["student"]
    assert len(created.hash) == 64 and created.sequence > 0

    disabled = rest(
        mesh,
        "PATCH",
        f"/v1/users/{student['id']}?updateMask=disabled",
        {"disabled": True},
        token=admin,
    )
    assert disabled.status == 200, disabled.body
    listed = rest(mesh, "GET", f"/v1/audit/records?resource={resource}&action=user.disabled", token=admin)
    deadline = time.monotonic() + 30
    while not listed.body.get("records") and time.monotonic() < deadline:
        time.sleep(0.2)
        listed = rest(mesh, "GET", f"/v1/audit/records?resource={resource}&action=user.disabled", token=admin)
    assert listed.status == 200, listed.body
    (record,) = listed.body["records"]
    assert record["before"] == {"roles": ["student"], "disabled": False}
    assert record["after"]["disabled"] is True and int(record["sequence"]) > created.sequence
    got = rest(mesh, "GET", f"/v1/audit/records/{record['id']}", token=admin)
    assert got.status == 200 and got.body == record
    # Both, and only these two, for this user.
    assert {r.action for r in _records(stub, admin, expect=2, resource=resource)} == {
        "user.created",
        "user.disabled",
    }


def test_a_class_created_through_rest_is_recorded_by_progress(mesh, stub, admin):
    made = rest(mesh, "POST", "/v1/classes", {"name": f"Audited {uuid.uuid4().hex[:6]}"}, token=admin)
    assert made.status == 200, made.body
    (record,) = _records(stub, admin, resource=f"classes/{made.body['id']}")
    assert (record.context, record.action) == ("progress", "class.created")
    assert record.after["name"] == made.body["name"]


def test_records_list_newest_first_across_pages(stub, admin):
    seen = []
    token = ""
    for _ in range(3):
        page = stub.ListAuditRecords(
            pb.ListAuditRecordsRequest(page_size=2, page_token=token), metadata=bearer(admin)
        )
        seen += [r.sequence for r in page.records]
        token = page.next_page_token
        if not token:
            break
    assert len(seen) >= 3 and seen == sorted(seen, reverse=True) and len(set(seen)) == len(seen)


def test_a_time_range_and_an_actor_filter_the_list(stub, admin, me):
    now = datetime.now(UTC)
    future = stub.ListAuditRecords(
        pb.ListAuditRecordsRequest(start_time=_ts(now + timedelta(hours=1))), metadata=bearer(admin)
    )
    assert list(future.records) == []
    mine = _records(stub, admin, actor=me["id"], page_size=50)
    assert mine and all(r.actor == me["id"] for r in mine)
    with pytest.raises(grpc.RpcError) as err:
        stub.ListAuditRecords(
            pb.ListAuditRecordsRequest(start_time=_ts(now), end_time=_ts(now - timedelta(days=1))),
            metadata=bearer(admin),
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "end_time" in _violations(err.value)


def _ts(moment: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(moment)
    return out


# --- the chain -------------------------------------------------------------------------------------


def test_a_redelivered_audit_event_is_appended_once(mesh, stub, admin, me):
    """The same event (same ce-id) published twice under different NATS message ids, so JetStream
    keeps both deliveries: one record. And the append itself skips an id it already holds."""
    resource = f"things/{uuid.uuid4()}"
    event = audit.event("test", "thing.redelivered", resource, tenant_id=me["tenantId"])
    headers = build_headers(event, source="test", tenant_id=me["tenantId"])

    async def publish():
        nc = await nats.connect(mesh.nats_url)
        try:
            js = nc.jetstream()
            for n in range(2):
                await js.publish(
                    "audit.test.thing.redelivered",
                    event.SerializeToString(),
                    headers={**headers, "Nats-Msg-Id": f"{headers['ce-id']}-{n}"},
                )
        finally:
            await nc.close()

    asyncio.run(publish())
    found = _records(stub, admin, resource=resource)
    time.sleep(1.0)
    found = _records(stub, admin, resource=resource)
    assert [r.id for r in found] == [headers["ce-id"]]

    tenant, chained = _chain_of(mesh, 2)

    async def again():
        service, db = _service(mesh)
        try:
            async with db.transaction(tenant) as session:
                return await service.append(session, tenant, [NewRecord(**_new_fields(chained[1]))])
        finally:
            await db.dispose()

    assert asyncio.run(again()) == []


def _new_fields(r) -> dict:
    return {f: getattr(r, f) for f in NewRecord.__dataclass_fields__}


def test_a_record_edited_by_a_superuser_is_named_by_verify_chain(mesh, stub, operator):
    tenant, chained = _chain_of(mesh, 5)
    intact = _verify(stub, operator, tenant)
    assert intact.intact and intact.records_checked == 5 and intact.last_sequence == 5
    with _superuser(mesh) as su:
        # Even a superuser is refused by the trigger; it must switch triggers off to tamper.
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            su.execute("UPDATE audit.records SET reason = 'x' WHERE tenant_id = %s", (tenant,))
        with su.transaction():
            su.execute("SET LOCAL session_replication_role = replica")
            su.execute(
                "UPDATE audit.records SET reason = 'nothing to see' WHERE tenant_id = %s AND sequence = 3",
                (tenant,),
            )
    broken = _verify(stub, operator, tenant)
    assert not broken.intact
    assert broken.problem == pb.CHAIN_PROBLEM_CONTENT_CHANGED
    assert (broken.broken_sequence, broken.broken_record_id) == (3, chained[2].id)
    assert broken.records_checked == 2
    # The same through REST.
    answer = rest(mesh, "POST", f"/v1/audit/chains/{tenant}:verify", {}, token=operator)
    assert answer.status == 200, answer.body
    assert (
        answer.body["problem"] == "CHAIN_PROBLEM_CONTENT_CHANGED"
        and answer.body["brokenRecordId"] == chained[2].id
    )
    # A range before the edit is still intact.
    assert _verify(stub, operator, tenant, from_sequence=1, to_sequence=2).intact


def test_removing_the_last_records_is_detected_against_the_last_checkpoint(mesh, stub, operator):
    tenant, chained = _chain_of(mesh, 6, checkpoint=True)
    before = _verify(stub, operator, tenant)
    assert before.intact and before.checkpoint.sequence == 6 and before.checkpoint.hash == chained[-1].hash
    listed = stub.ListCheckpoints(pb.ListCheckpointsRequest(tenant_id=tenant), metadata=bearer(operator))
    assert [c.sequence for c in listed.checkpoints] == [6] and listed.checkpoints[0].signature
    with _superuser(mesh) as su, su.transaction():
        su.execute("SET LOCAL session_replication_role = replica")
        su.execute("DELETE FROM audit.records WHERE tenant_id = %s AND sequence > 4", (tenant,))
    after = _verify(stub, operator, tenant)
    assert not after.intact and after.problem == pb.CHAIN_PROBLEM_TRUNCATED
    assert after.broken_sequence == 5 and after.records_checked == 4 and "ends at 4" in after.detail


def test_a_forged_checkpoint_is_reported(mesh, stub, operator):
    tenant, _ = _chain_of(mesh, 2, checkpoint=True)
    with _superuser(mesh) as su, su.transaction():
        su.execute("SET LOCAL session_replication_role = replica")
        su.execute("UPDATE audit.checkpoints SET sequence = 1 WHERE tenant_id = %s", (tenant,))
    result = _verify(stub, operator, tenant)
    assert not result.intact and result.problem == pb.CHAIN_PROBLEM_CHECKPOINT_FORGED


def test_the_service_role_can_neither_update_nor_delete_records(mesh):
    tenant, _ = _chain_of(mesh, 1, checkpoint=True)
    for statement in (
        "UPDATE audit.records SET reason = 'x'",
        "DELETE FROM audit.records",
        "TRUNCATE audit.records",
        "UPDATE audit.checkpoints SET hash = 'x'",
        "DELETE FROM audit.checkpoints",
    ):
        with psycopg.connect(_plain(mesh.database_url)) as app:
            app.execute("SELECT set_config('app.tenant_id', %s, false)", (tenant,))
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(statement)
    with _superuser(mesh) as su:  # the owner (a superuser here) is refused by the trigger
        for statement in ("DELETE FROM audit.records", "TRUNCATE audit.checkpoints"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                su.execute(statement)
        assert su.execute(
            "SELECT count(*) FROM audit.records WHERE tenant_id = %s", (tenant,)
        ).fetchone() == (1,)


# --- who reads what --------------------------------------------------------------------------------


def test_an_admin_sees_only_their_own_tenant(mesh, stub, admin, operator, other_tenant, me):
    theirs = new_student(mesh, admin_token=other_tenant["admin"], tenant=other_tenant["slug"])
    resource = f"users/{theirs['id']}"
    (record,) = _records(stub, other_tenant["admin"], resource=resource)
    assert record.tenant_id == other_tenant["id"]
    # The demo admin: not in the list, NOT_FOUND by id, PERMISSION_DENIED to verify it.
    assert _records(stub, admin, expect=0, resource=resource) == []
    with pytest.raises(grpc.RpcError) as err:
        stub.GetAuditRecord(pb.GetAuditRecordRequest(record_id=record.id), metadata=bearer(admin))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        _verify(stub, admin, other_tenant["id"])
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert rest(mesh, "GET", f"/v1/audit/records/{record.id}", token=admin).status == 404
    # Their admin verifies their chain; an operator verifies any, but reads no records.
    assert _verify(stub, other_tenant["admin"], other_tenant["id"]).intact
    assert _verify(stub, operator, other_tenant["id"]).intact
    with pytest.raises(grpc.RpcError) as err:
        stub.ListAuditRecords(pb.ListAuditRecordsRequest(), metadata=bearer(operator))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # The tenant's creation is the operator's action, recorded in the operator's tenant.
    created = _records(stub, admin, resource=f"tenants/{other_tenant['id']}")
    assert [r.action for r in created] == ["tenant.created"] and created[0].tenant_id == me["tenantId"]


def test_a_teacher_and_a_stranger_read_nothing(mesh, stub):
    teacher = login(mesh, "teacher@demo.test")
    with pytest.raises(grpc.RpcError) as err:
        stub.ListAuditRecords(pb.ListAuditRecordsRequest(), metadata=bearer(teacher))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        stub.ListAuditRecords(pb.ListAuditRecordsRequest())
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def _two_more_records(mesh, stub, tenant: dict) -> list:
    """Two records more in `tenant`'s chain than it had (two students made by its admin), whatever
    other tests did there before: the export tests run alone (-k) as well as after them."""
    known = len(_records(stub, tenant["admin"], expect=0))
    for _ in range(2):
        new_student(mesh, admin_token=tenant["admin"], tenant=tenant["slug"])
    return _records(stub, tenant["admin"], expect=known + 2)


def test_export_streams_the_tenant_oldest_first(mesh, stub, other_tenant):
    _two_more_records(mesh, stub, other_tenant)
    exported = list(
        stub.ExportAuditRecords(pb.ExportAuditRecordsRequest(), metadata=bearer(other_tenant["admin"]))
    )
    sequences = [r.sequence for r in exported]
    assert sequences == list(range(1, len(sequences) + 1)) and len(sequences) >= 2
    assert {r.tenant_id for r in exported} == {other_tenant["id"]}
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert (
        list(
            stub.ExportAuditRecords(
                pb.ExportAuditRecordsRequest(start_time=_ts(later)), metadata=bearer(other_tenant["admin"])
            )
        )
        == []
    )


@pytest.mark.parametrize(
    ("method", "request_", "field"),
    [
        ("GetAuditRecord", pb.GetAuditRecordRequest(record_id="not-an-id"), "record_id"),
        ("ListAuditRecords", pb.ListAuditRecordsRequest(page_token="%%%"), "page_token"),
        ("ListAuditRecords", pb.ListAuditRecordsRequest(actor="x" * 201), "actor"),
        ("ListAuditRecords", pb.ListAuditRecordsRequest(page_size=-1), "page_size"),
        ("VerifyChain", pb.VerifyChainRequest(tenant_id="demo"), "tenant_id"),
        (
            "VerifyChain",
            pb.VerifyChainRequest(tenant_id=str(uuid.uuid4()), from_sequence=-1),
            "from_sequence",
        ),
        ("ListCheckpoints", pb.ListCheckpointsRequest(tenant_id=""), "tenant_id"),
    ],
    ids=[
        "bad-id",
        "bad-token",
        "long-actor",
        "negative-size",
        "tenant-not-uuid",
        "negative-from",
        "no-tenant",
    ],
)
def test_a_bad_request_is_invalid_argument_naming_the_field(stub, admin, method, request_, field):
    with pytest.raises(grpc.RpcError) as err:
        getattr(stub, method)(request_, metadata=bearer(admin), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in _violations(err.value)


# --- the record commits with the action ------------------------------------------------------------


@pytest.mark.parametrize("mode", ["after-change", "after-record", "commit"])
def test_an_action_and_its_record_commit_together_or_not_at_all(mesh, stub, admin, me, mode):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "gen" / "python")])}
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "record_then_die.py"), mesh.database_url, me["tenantId"], mode],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        class_id = proc.stdout.readline().strip()
        uuid.UUID(class_id)
        if mode == "after-record":
            assert proc.stdout.readline().strip() == "recorded"
        if mode == "commit":
            assert proc.stdout.readline().strip() == "committed"
            assert proc.wait(timeout=30) == 0
        else:
            proc.kill()  # SIGKILL with the transaction open: the server rolls it back
            proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    resource = f"classes/{class_id}"
    with _superuser(mesh) as su:
        # Uncommitted rows are invisible to others whether or not the server has noticed the kill yet.
        classes = su.execute("SELECT count(*) FROM progress.classes WHERE id = %s", (class_id,)).fetchone()[0]
    records = _records(stub, admin, expect=1 if mode == "commit" else 0, timeout=20, resource=resource)
    if mode == "commit":
        assert classes == 1 and [r.action for r in records] == ["class.created"]
        assert records[0].actor == "kill-test"
    else:
        time.sleep(2)  # nothing should come: give a wrongly committed record the time to arrive
        assert classes == 0 and _records(stub, admin, expect=0, resource=resource) == []


# --- the CLI ---------------------------------------------------------------------------------------


def _cli(mesh, home: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LEARNFLOW_")}
    return subprocess.run(
        [sys.executable, "-m", "services.runtime.cli", *argv],
        cwd=REPO,
        env={**clean, "HOME": str(home), "LEARNFLOW_TOKEN_FILE": str(home / "token"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_cli_exports_json_lines_and_verifies(mesh, stub, other_tenant, tmp_path):
    listed = _two_more_records(mesh, stub, other_tenant)
    where = ("--addr", mesh.grpc_addr)
    logged = _cli(
        mesh,
        tmp_path,
        "login",
        "--tenant",
        other_tenant["slug"],
        "--email",
        f"head@{other_tenant['slug']}.test",
        *where,
        LEARNFLOW_PASSWORD="elsewhere-password",
    )
    assert logged.returncode == 0, logged.stderr
    out = tmp_path / "trail.jsonl"
    done = _cli(
        mesh, tmp_path, "audit", "export", "--since", "2020-01-01T00:00:00Z", "--output", str(out), *where
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert json.loads(done.stdout) == {"exported": len(lines), "to": str(out)}
    assert len(lines) >= len(listed) and [int(r["sequence"]) for r in lines] == list(range(1, len(lines) + 1))
    assert {r["tenantId"] for r in lines} == {other_tenant["id"]} and all(len(r["hash"]) == 64 for r in lines)
    verified = _cli(mesh, tmp_path, "audit", "verify", *where)
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["intact"] is True
    naive = _cli(mesh, tmp_path, "audit", "export", "--since", "2020-01-01", "--output", "-", *where)
    assert naive.returncode == 2 and "time zone" in naive.stderr


# --- the other contexts' records -------------------------------------------------------------------


def test_a_role_change_and_an_exercise_are_recorded(mesh, stub, admin):
    student = new_student(mesh, admin_token=admin)
    changed = rest(
        mesh,
        "PATCH",
        f"/v1/users/{student['id']}?updateMask=roles",
        {"roles": ["ROLE_STUDENT", "ROLE_MENTOR"]},
        token=admin,
    )
    assert changed.status == 200, changed.body
    records = _records(stub, admin, expect=2, resource=f"users/{student['id']}")
    assert [r.action for r in records] == ["user.roles_changed", "user.created"]  # newest first
    assert list(records[0].before["roles"]) == ["student"]
    assert sorted(records[0].after["roles"]) == ["mentor", "student"]

    teacher = login(mesh, "teacher@demo.test")
    exercise = {
        "title": "Audited",
        "prompt": "Print 1.",
        "topic": "basics",
        "testCases": [{"name": "one", "kind": "TEST_CASE_KIND_STDIO", "stdin": "", "expectedStdout": "1\n"}],
    }
    made = rest(mesh, "POST", "/v1/exercises", exercise, token=teacher)
    assert made.status == 200, made.body
    (record,) = _records(stub, admin, resource=f"exercises/{made.body['id']}")
    assert (record.context, record.action, record.after["test_cases"]) == ("sandbox", "exercise.created", 1)


def test_a_dead_job_redriven_by_an_admin_is_recorded_by_ops(mesh, stub, admin, me):
    job_id = str(uuid.uuid4())
    with _superuser(mesh) as su:  # a dead job of the audit schema (no runner: it stays queued after)
        su.execute(
            "INSERT INTO audit.jobs (id, tenant_id, kind, state, max_attempts, attempts, last_error) "
            "VALUES (%s, %s, 'audit-test', 'dead', 3, 3, 'gave up')",
            (job_id, me["tenantId"]),
        )
    redriven = rest(mesh, "POST", f"/v1/ops/deadJobs/{job_id}:redrive", {}, token=admin)
    assert redriven.status == 200, redriven.body
    (record,) = _records(stub, admin, resource=f"jobs/{job_id}")
    assert (record.context, record.action, record.actor) == ("ops", "job.redriven", me["id"])
    assert record.after["context"] == "audit" and record.after["kind"] == "audit-test"


def test_an_operators_redrive_of_another_tenants_job_is_recorded_in_that_tenants_log(
    mesh, stub, admin, operator, other_tenant
):
    """The operator's home is the demo tenant; the job is the other school's: its admins read the
    record and its chain holds it, the demo's admins see nothing of it."""
    job_id = str(uuid.uuid4())
    with _superuser(mesh) as su:
        su.execute(
            "INSERT INTO audit.jobs (id, tenant_id, kind, state, max_attempts, attempts, last_error) "
            "VALUES (%s, %s, 'audit-test', 'dead', 3, 3, 'gave up')",
            (job_id, other_tenant["id"]),
        )
    redriven = rest(mesh, "POST", f"/v1/ops/deadJobs/{job_id}:redrive", {}, token=operator)
    assert redriven.status == 200, redriven.body
    (record,) = _records(stub, other_tenant["admin"], resource=f"jobs/{job_id}")
    assert (record.context, record.action, record.tenant_id) == ("ops", "job.redriven", other_tenant["id"])
    assert _records(stub, admin, expect=0, resource=f"jobs/{job_id}") == []
    assert _verify(stub, other_tenant["admin"], other_tenant["id"]).intact


@pytest.mark.skipif(
    BubblewrapSandbox.unavailable_reason() is not None, reason="sandbox isolation unavailable"
)
def test_an_alert_acknowledged_then_resolved_leaves_two_records(mesh, stub, admin):
    """Three NameErrors make a struggle alert (progress, from the sandbox's events); its teacher
    acknowledges and resolves it: one record each, by the teacher."""
    teacher = login(mesh, "teacher@demo.test")
    teacher_id = rest(mesh, "GET", "/v1/users/me", token=teacher).body["id"]
    student = new_student(mesh, admin_token=admin)
    klass = rest(
        mesh,
        "POST",
        "/v1/classes",
        {"name": f"Alerts {uuid.uuid4().hex[:6]}", "teacherIds": [teacher_id], "studentIds": [student["id"]]},
        token=admin,
    )
    assert klass.status == 200, klass.body
    for program in ("print(x)", "print(totl)", "print(undefined_name)"):
        assert rest(mesh, "POST", "/v1/executions", {"code": program}, token=student["token"]).status == 200
    deadline = time.monotonic() + 30
    while not (
        alerts := rest(mesh, "GET", f"/v1/struggleAlerts?studentId={student['id']}", token=teacher).body.get(
            "alerts"
        )
    ):
        assert time.monotonic() < deadline, "no alert"
        time.sleep(0.2)
    alert_id = alerts[0]["id"]
    for verb in ("acknowledge", "resolve"):
        done = rest(mesh, "POST", f"/v1/struggleAlerts/{alert_id}:{verb}", {}, token=teacher)
        assert done.status == 200, done.body
    records = _records(stub, admin, expect=2, resource=f"alerts/{alert_id}")
    assert [(r.action, r.actor) for r in records] == [
        ("alert.resolved", teacher_id),
        ("alert.acknowledged", teacher_id),
    ]
    assert records[1].before["state"] == "open" and records[0].after["state"] == "resolved"
