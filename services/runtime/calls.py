"""Calling another context over gRPC: which failures are worth retrying, and the domain error each
failure becomes, so a job, a consumer or a request handler classifies it without knowing gRPC.

    reply = await mesh_call("sandbox Execute", stub.Execute(request, metadata=..., timeout=10))

- UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNKNOWN and UNAUTHENTICATED
  (the callee may not have fetched identity's keys yet) are transient: `Unavailable`, which jobs and
  consumers retry with backoff;
- anything else is the callee's answer about this request: `FailedPrecondition` with reason
  CALLEE_REFUSED, which retrying cannot change.
A caller that needs a finer split (a context's own "refused" error, INVALID_ARGUMENT passed on)
asks `is_transient(code)` and builds its own.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import grpc

from services.runtime.errors import FailedPrecondition, Unavailable

T = TypeVar("T")

TRANSIENT = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.UNAUTHENTICATED,  # e.g. the callee has not fetched identity's keys yet
    }
)


def is_transient(code: grpc.StatusCode) -> bool:
    return code in TRANSIENT


def callee_error(what: str, exc: grpc.aio.AioRpcError) -> Exception:
    """The domain error for a failed call: Unavailable (transient) or FailedPrecondition."""
    message = f"{what}: {exc.code().name} {exc.details()}"
    if is_transient(exc.code()):
        return Unavailable(message)
    return FailedPrecondition(message, reason="CALLEE_REFUSED")


async def mesh_call(what: str, call: Awaitable[T]) -> T:
    """Awaits a gRPC call to another context; its failure raised as callee_error's domain error."""
    try:
        return await call
    except grpc.aio.AioRpcError as exc:
        raise callee_error(what, exc) from exc
