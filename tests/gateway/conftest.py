"""Fixtures for the gateway tests (helpers in gateway_harness.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from gateway_harness import FakeIdentity, RunningEnvoy, Servicer, start_envoy
from grpc_reflection.v1alpha import reflection
from learnflow.identity.v1 import identity_service_pb2 as id_pb
from learnflow.identity.v1 import identity_service_pb2_grpc as id_grpc

from services.runtime.local.procs import free_port


@pytest.fixture
def envoy_factory(tmp_path: Path) -> Iterator[Callable[..., RunningEnvoy]]:
    """Start Envoy with `render()` output: factory(render_fn) where render_fn(port, admin_port) -> config.
    Every Envoy started here is stopped (by PID) at the end of the test."""
    started: list[RunningEnvoy] = []

    def factory(make_config: Callable[[int, int], dict[str, Any]]) -> RunningEnvoy:
        port, admin_port = free_port(), free_port()
        envoy = start_envoy(
            make_config(port, admin_port), port, admin_port, tmp_path / f"envoy{len(started)}"
        )
        started.append(envoy)
        return envoy

    yield factory
    for envoy in started:
        envoy.stop()


@pytest.fixture
def fake_identity() -> Iterator[FakeIdentity]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    holder: list[FakeIdentity] = []
    id_grpc.add_IdentityServiceServicer_to_server(Servicer(lambda: holder[0]), server)
    reflection.enable_server_reflection(
        (id_pb.DESCRIPTOR.services_by_name["IdentityService"].full_name, reflection.SERVICE_NAME), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    holder.append(FakeIdentity(port, ec.generate_private_key(ec.SECP256R1()), server))
    server.start()
    yield holder[0]
    server.stop(grace=None)
