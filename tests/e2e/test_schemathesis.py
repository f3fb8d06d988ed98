"""Schemathesis over the generated OpenAPI document, against the real mesh through Envoy: every
operation with a bounded number of generated requests (valid and invalid ones), none of which may get
a 5xx. It fuzzes as the admin of a tenant of its own, so what it creates stays out of other tests'
way. The examples are derandomized: a failure names a request that fails the same way next time."""

from __future__ import annotations

import uuid

import grpc
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from learnflow.identity.v1 import identity_service_pb2 as pb
from learnflow.identity.v1 import identity_service_pb2_grpc as pb_grpc
from learnflow.identity.v1 import resources_pb2

from gateway.generate import OPENAPI
from services.runtime.testing import bearer, login

CONFIG = schemathesis.Config.from_dict({})
schema = schemathesis.openapi.from_path(OPENAPI, config=CONFIG)


@pytest.fixture(scope="module")
def fuzzer_token(mesh) -> str:
    slug = f"fuzz-{uuid.uuid4().hex[:8]}"
    password = f"fuzz-{uuid.uuid4().hex}"
    with grpc.insecure_channel(mesh.grpc_addr) as channel:
        pb_grpc.IdentityServiceStub(channel).CreateTenant(
            pb.CreateTenantRequest(
                tenant=resources_pb2.Tenant(slug=slug, display_name="Fuzzing"),
                admin_email="fuzz@fuzz.test",
                admin_password=password,
            ),
            metadata=bearer(login(mesh, "operator@demo.test")),
            timeout=10,
        )
    return login(mesh, "fuzz@fuzz.test", password, tenant=slug)


@schema.parametrize()
@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_server_error(case, mesh, fuzzer_token):
    if case.path.endswith(":stream"):
        case.query = {**(case.query or {}), "maxWaitSeconds": 0}  # don't hold the stream open
    response = case.call(
        base_url=mesh.rest_url, headers={"Authorization": f"Bearer {fuzzer_token}"}, timeout=15
    )
    assert response.status_code < 500, (
        case.method,
        case.formatted_path,
        case.query,
        case.headers,
        case.body,
        response.text[:500],
    )
