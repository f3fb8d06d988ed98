import grpc
from google.rpc import error_details_pb2, status_pb2

from services.runtime import errors
from services.runtime.status import code_for, internal_status, to_status


def _details(status: grpc.Status) -> status_pb2.Status:
    ((key, value),) = status.trailing_metadata
    assert key == "grpc-status-details-bin"
    return status_pb2.Status.FromString(value)


def test_every_domain_error_has_its_code():
    expected = {
        errors.InvalidArgument("x"): grpc.StatusCode.INVALID_ARGUMENT,
        errors.FailedPrecondition("x"): grpc.StatusCode.FAILED_PRECONDITION,
        errors.Unauthenticated("x"): grpc.StatusCode.UNAUTHENTICATED,
        errors.PermissionDenied("x"): grpc.StatusCode.PERMISSION_DENIED,
        errors.NotFound("x"): grpc.StatusCode.NOT_FOUND,
        errors.AlreadyExists("x"): grpc.StatusCode.ALREADY_EXISTS,
        errors.Aborted("x"): grpc.StatusCode.ABORTED,
        errors.ResourceExhausted("x"): grpc.StatusCode.RESOURCE_EXHAUSTED,
        errors.Unavailable("x"): grpc.StatusCode.UNAVAILABLE,
    }
    for error, code in expected.items():
        assert code_for(error) == code


def test_invalid_argument_carries_error_info_and_field_violations():
    err = errors.InvalidArgument(
        "bad", [errors.FieldViolation("user.email", "is required")], reason="BAD_USER"
    )
    status = to_status(err, correlation_id="c1")
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    rich = _details(status)
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert rich.details[0].Unpack(info) and rich.details[1].Unpack(bad)
    assert info.reason == "BAD_USER" and info.metadata["correlation_id"] == "c1"
    assert bad.field_violations[0].field == "user.email"


def test_internal_errors_hide_detail_but_quote_the_correlation_id():
    status = internal_status("abc123")
    assert status.code == grpc.StatusCode.INTERNAL
    assert "abc123" in status.details and "Traceback" not in status.details
