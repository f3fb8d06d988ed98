"""The capability registry: every context registers through the runtime and heartbeats into NATS KV;
Discover lists live providers only; a provider that dies leaves discovery within two heartbeats (one
TTL); a failed discovery says which capability and why. RegisterCapability is for the mesh's workloads
only, each for itself: the registry is one for every tenant and research steps call what it names
with the tenant's workload token, so a tenant's service account must not write to it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from typing import Any

import grpc
import pytest
from learnflow.workflows.v1 import resources_pb2
from learnflow.workflows.v1 import workflows_service_pb2 as wf_pb
from learnflow.workflows.v1 import workflows_service_pb2_grpc as wf_grpc

from services.runtime.local.mesh import LocalMesh, grpc_serving
from services.runtime.local.procs import free_port, spawn, wait_until
from services.runtime.testing import bearer, login, new_student, rest
from services.runtime.workload import WorkloadIdentity

TTL = 2.0  # LEARNFLOW_REGISTRY_TTL_SECONDS of the workflows test mesh (conftest.py)


def workload_token(mesh: LocalMesh, tenant_id: str, workload: str = "tutoring") -> str:
    async def issue() -> str:
        identity = WorkloadIdentity(mesh.grpc_addr, workload, mesh.workload_secrets[workload])
        try:
            return await identity.token(tenant_id)
        finally:
            await identity.close()

    return asyncio.run(issue())


def service_account_token(mesh: LocalMesh) -> str:
    """A service account of the demo tenant, made by its admin: a user with the service role."""
    admin = login(mesh, "admin@demo.test")
    made = rest(
        mesh,
        "POST",
        "/v1/serviceAccounts",
        {"name": f"probe-{uuid.uuid4().hex[:8]}", "roles": ["ROLE_SERVICE"]},
        token=admin,
    )
    assert made.status == 200, made.body
    issued = rest(
        mesh,
        "POST",
        "/v1/auth:serviceToken",
        {"tenant": "demo", "clientId": made.body["clientId"], "clientSecret": made.body["clientSecret"]},
    )
    assert issued.status == 200, issued.body
    return str(issued.body["tokens"]["accessToken"])


def register(addr: str, token: str, **capability: Any) -> resources_pb2.Capability:
    """RegisterCapability over gRPC at `addr` (inside the mesh: the serve process; or the edge)."""
    with grpc.insecure_channel(addr) as channel:
        return wf_grpc.WorkflowsServiceStub(channel).RegisterCapability(
            wf_pb.RegisterCapabilityRequest(capability=resources_pb2.Capability(**capability)),
            metadata=bearer(token),
            timeout=10,
        )


def refused(addr: str, token: str, **capability: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as err:
        register(addr, token, **capability)
    return err.value.code()


def providers(mesh: LocalMesh, token: str, capability: str) -> list[dict[str, str]]:
    got = rest(mesh, "GET", f"/v1/capabilities/{capability}:discover", token=token)
    if got.status == 404:
        return []
    assert got.status == 200, got.body
    return list(got.body.get("providers", []))


def test_every_context_registers_and_research_is_discoverable(wf_mesh: LocalMesh) -> None:
    token = login(wf_mesh, "operator@demo.test")
    listed = rest(wf_mesh, "GET", "/v1/capabilities", token=token)
    assert listed.status == 200, listed.body
    names = {c["name"] for c in listed.body["capabilities"]}
    assert {"identity", "tutoring", "workflows", "research", "analysis", "notion.page"} <= names
    found = providers(wf_mesh, token, "research")
    assert [p["context"] for p in found] == ["tutoring"]
    assert found[0]["address"] == wf_mesh.grpc_addr and found[0]["version"] == "1.0.0"
    assert found[0]["ttlSeconds"] == round(TTL)


def test_the_registry_is_for_services_operators_and_admins(wf_mesh: LocalMesh) -> None:
    """It names every process's address, host and pid: not for students or teachers."""
    for email in ("teacher@demo.test", "student@demo.test"):
        token = login(wf_mesh, email)
        assert rest(wf_mesh, "GET", "/v1/capabilities", token=token).status == 403
        assert rest(wf_mesh, "GET", "/v1/capabilities/research:discover", token=token).status == 403
    for token in (login(wf_mesh, "admin@demo.test"), service_account_token(wf_mesh)):
        assert rest(wf_mesh, "GET", "/v1/capabilities", token=token).status == 200
        assert [p["context"] for p in providers(wf_mesh, token, "research")] == ["tutoring"]


def test_unknown_capability_is_a_diagnosis(wf_mesh: LocalMesh) -> None:
    token = login(wf_mesh, "admin@demo.test")
    got = rest(wf_mesh, "GET", "/v1/capabilities/translation:discover", token=token)
    assert got.status == 404, got.body
    assert "translation" in got.body["message"] and "no provider ever registered" in got.body["message"]
    assert "research" in got.body["message"]  # what the registry does hold


def test_register_is_for_workloads_only_and_expires_without_heartbeats(wf_mesh: LocalMesh) -> None:
    student = new_student(wf_mesh)
    reader = login(wf_mesh, "admin@demo.test")
    name = f"probe-{uuid.uuid4().hex[:8]}"
    instance = f"tutoring@probe-{uuid.uuid4().hex[:6]}"
    body = {"name": name, "version": "1.2.3", "context": "tutoring", "address": "127.0.0.1:1"}
    own = {**body, "instance": instance}
    # The edge routes it nowhere, REST or gRPC, whoever asks (a workload's own token included).
    tutoring = workload_token(wf_mesh, student["tenant"])
    for token in (student["token"], service_account_token(wf_mesh), tutoring):
        assert rest(wf_mesh, "POST", "/v1/capabilities", own, token=token).status == 404
    edge = wf_mesh.rest_url.removeprefix("http://")
    assert refused(edge, tutoring, **own) == grpc.StatusCode.UNIMPLEMENTED
    # Inside the mesh: a tenant's service account (the service role, but a user) is refused, taking
    # over the real research provider's instance or not; so are a student and another context.
    real = providers(wf_mesh, reader, "research")[0]
    account = service_account_token(wf_mesh)
    mesh = wf_mesh.grpc_addr
    assert refused(mesh, student["token"], **own) == grpc.StatusCode.PERMISSION_DENIED
    assert refused(mesh, account, **own) == grpc.StatusCode.PERMISSION_DENIED
    hijack = {**body, "name": "research", "version": "1.0.0", "instance": real["instance"]}
    assert refused(mesh, account, **hijack) == grpc.StatusCode.PERMISSION_DENIED
    assert refused(mesh, account, **{**hijack, "context": "probe", "instance": "probe@x"}) == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    # A workload registers only for itself: its own context, under an instance of its own.
    notify = workload_token(wf_mesh, student["tenant"], "notify")
    assert refused(mesh, notify, **hijack) == grpc.StatusCode.PERMISSION_DENIED
    assert refused(mesh, notify, **{**hijack, "context": "notify"}) == grpc.StatusCode.PERMISSION_DENIED
    assert refused(mesh, tutoring, **{**own, "instance": "notify@x"}) == grpc.StatusCode.PERMISSION_DENIED
    assert refused(mesh, tutoring, **{**own, "version": "one"}) == grpc.StatusCode.INVALID_ARGUMENT
    after = providers(wf_mesh, reader, "research")
    assert [(p["instance"], p["address"]) for p in after] == [(real["instance"], real["address"])]
    # The workload itself may, and the registration lapses without heartbeats.
    made = register(mesh, tutoring, **own)
    assert made.instance == instance
    registered = time.monotonic()
    assert [p["instance"] for p in providers(wf_mesh, reader, name)] == [instance]
    while providers(wf_mesh, reader, name):
        assert time.monotonic() - registered < 2 * TTL + 1, "a dead registration stayed discoverable"
        time.sleep(0.1)
    gone = rest(wf_mesh, "GET", f"/v1/capabilities/{name}:discover", token=reader)
    assert gone.status == 404 and "stopped heartbeating" in gone.body["message"], gone.body


def test_a_killed_provider_leaves_discovery_within_two_heartbeats(wf_mesh: LocalMesh) -> None:
    """A second process serving tutoring registers `research` too; SIGKILLed, it is gone within one TTL
    (two heartbeats), and research runs go on through the provider left."""
    token = login(wf_mesh, "operator@demo.test")
    port = free_port()
    log = wf_mesh.data_dir / "second-tutoring.log"
    env = wf_mesh.server_env(
        LEARNFLOW_GRPC_ADDR=f"127.0.0.1:{port}", LEARNFLOW_METRICS_ADDR=f"127.0.0.1:{free_port()}"
    )
    env["IDENTITY_SERVICE_ADDR"] = wf_mesh.grpc_addr
    env["SANDBOX_SERVICE_ADDR"] = env["PROGRESS_SERVICE_ADDR"] = wf_mesh.grpc_addr
    proc = spawn(
        [sys.executable, "-m", "services.runtime.cli", "serve", "--contexts", "tutoring"], log, env=env
    )
    try:
        wait_until(lambda: grpc_serving(f"127.0.0.1:{port}"), 60, "second tutoring", proc, log)
        deadline = time.monotonic() + 10
        while len(providers(wf_mesh, token, "research")) < 2:
            assert time.monotonic() < deadline, providers(wf_mesh, token, "research")
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        while any(p["address"].endswith(f":{port}") for p in providers(wf_mesh, token, "research")):
            assert time.monotonic() - killed <= 2 * TTL, "the killed provider is still discoverable"
            time.sleep(0.05)
        left = providers(wf_mesh, token, "research")
        assert [p["address"] for p in left] == [wf_mesh.grpc_addr]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
