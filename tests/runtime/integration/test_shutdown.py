"""Graceful shutdown: SIGTERM lets an in-flight RPC finish, turns health NOT_SERVING, and exits 0."""

import signal
import threading
import time

import grpc
import psycopg
from grpc_health.v1 import health_pb2, health_pb2_grpc
from learnflow.identity.v1 import identity_service_pb2 as pb
from learnflow.identity.v1 import identity_service_pb2_grpc as pb_grpc

from services.runtime.testing import bearer, login


def test_sigterm_lets_the_in_flight_rpc_finish(mesh):
    admin = login(mesh, "admin@demo.test")
    url = mesh.migration_url.replace("postgresql+psycopg://", "postgresql://")
    superuser = psycopg.connect(url)
    watcher = psycopg.connect(url, autocommit=True)
    result: dict = {}
    try:
        # Hold a lock the RPC's query needs, so the RPC is provably in flight when SIGTERM arrives.
        superuser.execute("LOCK TABLE identity.users IN ACCESS EXCLUSIVE MODE")
        channel = grpc.insecure_channel(mesh.grpc_addr)
        stub = pb_grpc.IdentityServiceStub(channel)

        def call():
            try:
                result["reply"] = stub.GetUser(
                    pb.GetUserRequest(user_id="me"), metadata=bearer(admin), timeout=30
                )
            except grpc.RpcError as err:
                result["error"] = err

        caller = threading.Thread(target=call)
        caller.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # wait until the query is waiting on our lock
            # GetUser's read is a prepared statement: its text names the table only on the connection's
            # first use (PREPARE ... ; EXECUTE), afterwards only the statement (identity_get_user).
            waiting = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND (query ILIKE '%identity.users%' OR query ILIKE '%identity_get_user%')"
            ).fetchone()[0]
            if waiting:
                break
            time.sleep(0.02)
        else:
            raise AssertionError("the RPC never reached the database")
        mesh.server.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        with grpc.insecure_channel(mesh.grpc_addr) as probe:
            try:
                status = (
                    health_pb2_grpc.HealthStub(probe).Check(health_pb2.HealthCheckRequest(), timeout=2).status
                )
                assert status == health_pb2.HealthCheckResponse.NOT_SERVING
            except grpc.RpcError:
                pass  # the listener already closed: also not serving
        assert mesh.server.poll() is None, "the server must wait for the in-flight RPC"
        superuser.rollback()  # release the lock
        caller.join(15)
        assert "error" not in result, result.get("error")
        assert result["reply"].email == "admin@demo.test"
        assert mesh.server.wait(20) == 0
        channel.close()
    finally:
        superuser.close()
        watcher.close()
        if mesh.server is None or mesh.server.poll() is not None:
            mesh.start_server()
