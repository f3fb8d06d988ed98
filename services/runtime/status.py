"""The one mapping from domain errors to gRPC status with google.rpc.Status details (AIP-193)."""

from __future__ import annotations

import math

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.runtime import errors

DOMAIN = "learnflow.dev"
# RESOURCE_EXHAUSTED (HTTP 429 through Envoy) always says when to retry. A DomainError gives the wait
# in its ErrorInfo metadata (services/sandbox/pool.py); without one, this default.
RETRY_AFTER_KEY = "retry_after_seconds"
DEFAULT_RETRY_AFTER_S = 1.0
MAX_RETRY_AFTER_S = 86_400.0  # a day: anything longer is a bug in the caller's number, not a wait
# Trailing metadata Envoy's transcoder passes to the REST client as the HTTP `Retry-After` header: an
# error is a trailers-only gRPC response (one HEADERS frame), whose entries the transcoder keeps as
# response headers. Whole seconds, rounded up (RFC 9110 delay-seconds).
RETRY_AFTER_HEADER = "retry-after"

CODES: list[tuple[type[errors.DomainError], grpc.StatusCode]] = [
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.Aborted, grpc.StatusCode.ABORTED),
    (errors.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
]


def code_for(error: errors.DomainError) -> grpc.StatusCode:
    for cls, code in CODES:
        if isinstance(error, cls):
            return code
    return grpc.StatusCode.INTERNAL


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def to_status(error: errors.DomainError, *, correlation_id: str = "") -> grpc.Status:
    code = code_for(error)
    metadata = dict(error.metadata)
    if correlation_id:
        metadata["correlation_id"] = correlation_id
    retry_after: float | None = None
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        retry_after = _retry_after(metadata.get(RETRY_AFTER_KEY))
        metadata[RETRY_AFTER_KEY] = f"{retry_after:g}"
    details = [_pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN, metadata=metadata))]
    if retry_after is not None:
        # google.rpc.RetryInfo: the standard detail gRPC clients read (REST clients get Retry-After).
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(round(retry_after * 1e9))
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    if isinstance(error, errors.InvalidArgument) and error.violations:
        details.append(
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                        for v in error.violations
                    ]
                )
            )
        )
    status = rpc_status.to_status(
        status_pb2.Status(code=code.value[0], message=error.message, details=details)
    )
    if retry_after is None:
        return status
    return _WithMetadata(
        status.code,
        status.details,
        (*status.trailing_metadata, (RETRY_AFTER_HEADER, str(max(1, math.ceil(retry_after))))),
    )


class _WithMetadata(grpc.Status):
    """A grpc.Status with extra trailing metadata (grpc_status builds one with the details only)."""

    def __init__(
        self, code: grpc.StatusCode, details: str, trailing_metadata: tuple[tuple[str, str | bytes], ...]
    ):
        self.code = code
        self.details = details
        self.trailing_metadata = trailing_metadata


def _retry_after(raw: str | None) -> float:
    """The wait a ResourceExhausted names (seconds, ErrorInfo metadata), at most MAX_RETRY_AFTER_S;
    the default when it names none or an unusable one (not a finite positive number)."""
    try:
        value = float(raw) if raw is not None else DEFAULT_RETRY_AFTER_S
    except ValueError:
        return DEFAULT_RETRY_AFTER_S
    return min(value, MAX_RETRY_AFTER_S) if math.isfinite(value) and value > 0 else DEFAULT_RETRY_AFTER_S


def internal_status(correlation_id: str, trace_id: str = "") -> grpc.Status:
    message = f"internal error; quote correlation id {correlation_id}"
    metadata = {"correlation_id": correlation_id}
    if trace_id:
        metadata["trace_id"] = trace_id
    info = error_details_pb2.ErrorInfo(reason="INTERNAL", domain=DOMAIN, metadata=metadata)
    return rpc_status.to_status(
        status_pb2.Status(code=code_pb2.INTERNAL, message=message, details=[_pack(info)])
    )
