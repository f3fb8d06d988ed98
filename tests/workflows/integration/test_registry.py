"""The capability registry: every context registers through the runtime and heartbeats into NATS KV;
Discover lists live providers only; a provider that dies leaves discovery within two heartbeats (one
TTL); a failed discovery says which capability and why."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid

from services.runtime.local.mesh import LocalMesh, grpc_serving
from services.runtime.local.procs import free_port, spawn, wait_until
from services.runtime.testing import login, new_student, rest
from services.runtime.workload import WorkloadIdentity

TTL = 2.0  # LEARNFLOW_REGISTRY_TTL_SECONDS of the workflows test mesh (conftest.py)


def service_token(mesh: LocalMesh, tenant_id: str) -> str:
    async def issue() -> str:
        workload = WorkloadIdentity(mesh.grpc_addr, "tutoring", mesh.workload_secrets["tutoring"])
        try:
            return await workload.token(tenant_id)
        finally:
            await workload.close()

    return asyncio.run(issue())


def providers(mesh: LocalMesh, token: str, capability: str) -> list[dict[str, str]]:
    got = rest(mesh, "GET", f"/v1/capabilities/{capability}:discover", token=token)
    if got.status == 404:
        return []
    assert got.status == 200, got.body
    return list(got.body.get("providers", []))


def test_every_context_registers_and_research_is_discoverable(wf_mesh: LocalMesh) -> None:
    token = login(wf_mesh, "teacher@demo.test")
    listed = rest(wf_mesh, "GET", "/v1/capabilities", token=token)
    assert listed.status == 200, listed.body
    names = {c["name"] for c in listed.body["capabilities"]}
    assert {"identity", "tutoring", "workflows", "research", "notion.page"} <= names
    found = providers(wf_mesh, token, "research")
    assert [p["context"] for p in found] == ["tutoring"]
    assert found[0]["address"] == wf_mesh.grpc_addr and found[0]["version"] == "1.0.0"
    assert found[0]["ttlSeconds"] == round(TTL)


def test_unknown_capability_is_a_diagnosis(wf_mesh: LocalMesh) -> None:
    token = login(wf_mesh, "teacher@demo.test")
    got = rest(wf_mesh, "GET", "/v1/capabilities/translation:discover", token=token)
    assert got.status == 404, got.body
    assert "translation" in got.body["message"] and "no provider ever registered" in got.body["message"]
    assert "research" in got.body["message"]  # what the registry does hold


def test_register_is_for_services_only_and_expires_without_heartbeats(wf_mesh: LocalMesh) -> None:
    student = new_student(wf_mesh)
    name = f"probe-{uuid.uuid4().hex[:8]}"
    body = {
        "name": name,
        "version": "1.2.3",
        "context": "probe",
        "address": "127.0.0.1:1",
        "instance": "probe@test",
    }
    refused = rest(wf_mesh, "POST", "/v1/capabilities", body, token=student["token"])
    assert refused.status == 403, refused.body
    bad = rest(wf_mesh, "POST", "/v1/capabilities", {**body, "version": "one"}, token=student["token"])
    assert bad.status in (400, 403)
    token = service_token(wf_mesh, student["tenant"])
    made = rest(wf_mesh, "POST", "/v1/capabilities", body, token=token)
    assert made.status == 200, made.body
    registered = time.monotonic()
    assert [p["instance"] for p in providers(wf_mesh, token, name)] == ["probe@test"]
    while providers(wf_mesh, token, name):
        assert time.monotonic() - registered < 2 * TTL + 1, "a dead registration stayed discoverable"
        time.sleep(0.1)
    gone = rest(wf_mesh, "GET", f"/v1/capabilities/{name}:discover", token=token)
    assert gone.status == 404 and "stopped heartbeating" in gone.body["message"], gone.body


def test_a_killed_provider_leaves_discovery_within_two_heartbeats(wf_mesh: LocalMesh) -> None:
    """A second process serving tutoring registers `research` too; SIGKILLed, it is gone within one TTL
    (two heartbeats), and research runs go on through the provider left."""
    token = login(wf_mesh, "teacher@demo.test")
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
