"""A failed call to another context becomes the domain error jobs and consumers classify: transient
codes Unavailable (retried), the callee's refusals FailedPrecondition (not retried)."""

import asyncio

import grpc
import pytest
from grpc.aio import AioRpcError, Metadata

from services.runtime.calls import callee_error, mesh_call
from services.runtime.errors import FailedPrecondition, Unavailable


def _failed(code: grpc.StatusCode) -> AioRpcError:
    return AioRpcError(code, Metadata(), Metadata(), details="it said no")


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAUTHENTICATED]
)
def test_transient_failures_are_unavailable(code):
    error = callee_error("sandbox Execute", _failed(code))
    assert isinstance(error, Unavailable) and f"sandbox Execute: {code.name} it said no" in str(error)


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED]
)
def test_the_callees_refusals_are_failed_preconditions(code):
    error = callee_error("notify SendMessage", _failed(code))
    assert isinstance(error, FailedPrecondition) and error.reason == "CALLEE_REFUSED"


def test_mesh_call_returns_the_reply_or_raises_the_domain_error():
    async def ok():
        return 42

    async def refused():
        raise _failed(grpc.StatusCode.NOT_FOUND)

    assert asyncio.run(mesh_call("x", ok())) == 42
    with pytest.raises(FailedPrecondition):
        asyncio.run(mesh_call("x", refused()))
