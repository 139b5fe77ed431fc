"""One error vocabulary for both edges (API.md, Conventions).

Resolvers raise :class:`DomainError`; the REST edge renders ``status`` and
``{"error": {...}}``, the GraphQL edge puts ``code`` in ``extensions``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    VALIDATION_FAILED = "VALIDATION_FAILED"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    OFFER_TAKEN = "OFFER_TAKEN"
    QUOTE_EXPIRED = "QUOTE_EXPIRED"
    ADDRESS_INVALID = "ADDRESS_INVALID"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    PROOF_REQUIRED = "PROOF_REQUIRED"
    ALREADY_RATED = "ALREADY_RATED"
    JOB_NOT_ACTIVE = "JOB_NOT_ACTIVE"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    HEADERS_TOO_LARGE = "HEADERS_TOO_LARGE"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    RATE_LIMITED = "RATE_LIMITED"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.VALIDATION_FAILED: 422,
    ErrorCode.INVALID_TRANSITION: 409,
    ErrorCode.OFFER_TAKEN: 409,
    ErrorCode.QUOTE_EXPIRED: 409,
    ErrorCode.ADDRESS_INVALID: 422,
    ErrorCode.PAYMENT_FAILED: 402,
    ErrorCode.INSUFFICIENT_BALANCE: 409,
    ErrorCode.IDEMPOTENCY_CONFLICT: 409,
    ErrorCode.PROOF_REQUIRED: 409,
    ErrorCode.ALREADY_RATED: 409,
    ErrorCode.JOB_NOT_ACTIVE: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.HEADERS_TOO_LARGE: 431,
    ErrorCode.QUERY_TOO_COMPLEX: 400,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}


class DomainError(Exception):
    """An expected failure, safe to show to the client as it is."""

    def __init__(self, code: ErrorCode, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}

    @property
    def status(self) -> int:
        return HTTP_STATUS[self.code]

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code.value, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def graphql_body(self) -> dict[str, Any]:
        """The error as GraphQL answers a request it refused before executing anything."""
        extensions: dict[str, Any] = {"code": self.code.value}
        if self.details:
            extensions["details"] = self.details
        return {"errors": [{"message": self.message, "extensions": extensions}]}


def not_found(what: str = "object") -> DomainError:
    # One message for "absent" and "not yours", so the answer never confirms existence.
    return DomainError(ErrorCode.NOT_FOUND, f"{what} not found")


def validation_failed(message: str, **fields: str) -> DomainError:
    return DomainError(ErrorCode.VALIDATION_FAILED, message, {"fields": fields} if fields else None)


def pydantic_fields(errors: list[Any]) -> dict[str, str]:
    """``details.fields`` from pydantic's error list: dotted location -> message."""
    fields: dict[str, str] = {}
    for error in errors:
        # Fields are snake_case; a capitalised part names the member of a union body
        # (``TrackingIn`` or ``LocationReport``), which is not a field the client sent.
        loc = [
            str(part)
            for part in error.get("loc", ())
            if part not in ("body", "query", "path") and not (isinstance(part, str) and part[:1].isupper())
        ]
        fields[".".join(loc) or "body"] = str(error.get("msg", "invalid"))
    return fields
