"""A mesh without the audit context: records wait in the runtime's AUDIT stream and the recording
context's events keep flowing; when the audit context comes, it appends what waited. On a mesh of its
own (identity alone first, then every context)."""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid

import grpc
import nats
import psycopg
from learnflow.audit.v1 import audit_service_pb2 as pb
from learnflow.audit.v1 import audit_service_pb2_grpc as pb_grpc
from learnflow.identity.v1 import identity_service_pb2 as id_pb
from learnflow.identity.v1 import identity_service_pb2_grpc as id_grpc
from learnflow.identity.v1 import resources_pb2 as id_resources

from services.runtime import audit
from services.runtime.testing import STUDENT_PASSWORD, bearer, login, mesh_dir, new_mesh


def _waiting(nats_url: str) -> tuple[int, list[str]]:
    async def main():
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            info = await js.stream_info(audit.STREAM.name, subjects_filter="audit.>")
            return info.state.messages, sorted((info.state.subjects or {}).keys())
        finally:
            await nc.close()

    return asyncio.run(main())


def test_records_wait_in_the_stream_until_the_audit_context_comes():
    root = mesh_dir()
    m = new_mesh(root)
    try:
        m.start_infra()
        m.start_server(contexts="identity")
        admin = login(m, "admin@demo.test")
        with grpc.insecure_channel(m.grpc_addr) as channel:
            made = id_grpc.IdentityServiceStub(channel).CreateUser(
                id_pb.CreateUserRequest(
                    user=id_resources.User(email=f"later-{uuid.uuid4().hex[:6]}@demo.test", roles=[1]),
                    password=STUDENT_PASSWORD,
                ),
                metadata=bearer(admin),
                timeout=10,
            )
        # identity's relay is not held back by its audit events: its outbox empties...
        dsn = m.migration_url.replace("postgresql+psycopg://", "postgresql://", 1)
        deadline = time.monotonic() + 20
        with psycopg.connect(dsn, autocommit=True) as su:
            while su.execute("SELECT count(*) FROM identity.outbox").fetchone() != (0,):
                assert time.monotonic() < deadline, "identity's outbox did not drain without audit"
                time.sleep(0.2)
            assert su.execute("SELECT to_regclass('audit.records')").fetchone() == (None,)  # not migrated
        # ...and its audit events wait in the runtime's stream.
        messages, subjects = _waiting(m.nats_url)
        assert messages >= 1 and "audit.identity.user.created" in subjects

        m.stop_server()
        m.start_server(contexts="all")
        with grpc.insecure_channel(m.grpc_addr) as channel:
            stub = pb_grpc.AuditServiceStub(channel)
            request = pb.ListAuditRecordsRequest(resource=f"users/{made.id}")
            deadline = time.monotonic() + 30
            while not (found := list(stub.ListAuditRecords(request, metadata=bearer(admin)).records)):
                assert time.monotonic() < deadline, "the waiting record was not appended"
                time.sleep(0.2)
        assert [(r.action, r.context) for r in found] == [("user.created", "identity")]
    finally:
        m.stop()
        shutil.rmtree(root, ignore_errors=True)
