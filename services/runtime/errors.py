"""Domain errors. Contexts raise these; one interceptor maps them to gRPC status codes with
google.rpc.Status details (and Envoy maps those to HTTP). No grpc import here, so domain code may use them.

| error              | gRPC                | HTTP |
|--------------------|---------------------|------|
| InvalidArgument    | INVALID_ARGUMENT    | 400  |
| FailedPrecondition | FAILED_PRECONDITION | 400  |
| Unauthenticated    | UNAUTHENTICATED     | 401  |
| PermissionDenied   | PERMISSION_DENIED   | 403  |
| NotFound           | NOT_FOUND           | 404  |
| AlreadyExists      | ALREADY_EXISTS      | 409  |
| Aborted (stale etag)| ABORTED            | 409  |
| ResourceExhausted  | RESOURCE_EXHAUSTED  | 429  |
| Unavailable        | UNAVAILABLE         | 503  |
| anything else      | INTERNAL            | 500  |
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    """Base of every error a context raises on purpose. `reason` is a stable UPPER_SNAKE identifier
    (google.rpc.ErrorInfo.reason) that clients may switch on."""

    reason = "DOMAIN_ERROR"

    def __init__(self, message: str, *, reason: str | None = None, metadata: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        if reason:
            self.reason = reason
        self.metadata = metadata or {}


class InvalidArgument(DomainError):
    reason = "INVALID_ARGUMENT"

    def __init__(self, message: str, violations: list[FieldViolation] | None = None, **kw: object):
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.violations = violations or []


class FailedPrecondition(DomainError):
    reason = "FAILED_PRECONDITION"


class Unauthenticated(DomainError):
    reason = "UNAUTHENTICATED"


class PermissionDenied(DomainError):
    reason = "PERMISSION_DENIED"


class NotFound(DomainError):
    reason = "NOT_FOUND"


class AlreadyExists(DomainError):
    reason = "ALREADY_EXISTS"


class Aborted(DomainError):
    reason = "ABORTED"


class ResourceExhausted(DomainError):
    reason = "RESOURCE_EXHAUSTED"


class Unavailable(DomainError):
    """A dependency is down. Transient: event consumers nak and retry these."""

    reason = "UNAVAILABLE"


@dataclass
class Violations:
    """Collects field violations while validating a request, then raises them together."""

    items: list[FieldViolation] = field(default_factory=list)

    def add(self, field_path: str, description: str) -> None:
        self.items.append(FieldViolation(field_path, description))

    def require(self, value: object, field_path: str) -> None:
        if value in (None, "", [], ()):
            self.add(field_path, "is required")

    def raise_if_any(self, message: str = "the request has invalid fields") -> None:
        if self.items:
            raise InvalidArgument(message, list(self.items))
