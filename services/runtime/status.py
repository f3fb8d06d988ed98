"""The one mapping from domain errors to gRPC status with google.rpc.Status details (AIP-193)."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.runtime import errors

DOMAIN = "learnflow.dev"

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
    details = [_pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN, metadata=metadata))]
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
    return rpc_status.to_status(status_pb2.Status(code=code.value[0], message=error.message, details=details))


def internal_status(correlation_id: str, trace_id: str = "") -> grpc.Status:
    message = f"internal error; quote correlation id {correlation_id}"
    metadata = {"correlation_id": correlation_id}
    if trace_id:
        metadata["trace_id"] = trace_id
    info = error_details_pb2.ErrorInfo(reason="INTERNAL", domain=DOMAIN, metadata=metadata)
    return rpc_status.to_status(
        status_pb2.Status(code=code_pb2.INTERNAL, message=message, details=[_pack(info)])
    )
