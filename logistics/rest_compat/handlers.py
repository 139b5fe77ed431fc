"""The REST edge's one error renderer: status plus ``{"error": {...}}``, nothing else leaks."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from logistics.db import database_unavailable
from logistics.errors import DomainError, ErrorCode, pydantic_fields
from logistics.limits import BodyTooLarge, too_large_error
from logistics.observability.context import current_request_id

log = logging.getLogger("logistics")

HTTP_CODES = {
    400: ErrorCode.VALIDATION_FAILED,
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    422: ErrorCode.VALIDATION_FAILED,
}


def render(error: DomainError) -> JSONResponse:
    headers = None
    if error.code is ErrorCode.UNAUTHENTICATED:
        headers = {"WWW-Authenticate": "Bearer"}
    elif error.code is ErrorCode.RATE_LIMITED and "retry_after_s" in error.details:
        headers = {"Retry-After": str(error.details["retry_after_s"])}
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        return render(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = pydantic_fields(list(exc.errors()))
        return render(
            DomainError(ErrorCode.VALIDATION_FAILED, "the request is not valid", {"fields": fields})
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        cause = exc.__cause__
        if isinstance(cause, DomainError):
            return render(cause)
        if isinstance(cause, BodyTooLarge):
            return render(too_large_error(cause.limit))
        code = HTTP_CODES.get(
            exc.status_code, ErrorCode.INTERNAL if exc.status_code >= 500 else ErrorCode.VALIDATION_FAILED
        )
        message = "no such path" if exc.status_code == 404 else str(exc.detail)
        return JSONResponse(
            {"error": {"code": code.value, "message": message}},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        if not database_unavailable(exc):
            return await unexpected(request, exc)
        # Every connection in use, or the connection lost: a moment, not a server fault.
        log.warning("database unavailable", exc_info=exc)
        response = render(DomainError(ErrorCode.UNAVAILABLE, "the service is busy; try again shortly"))
        response.headers["Retry-After"] = "1"
        return response

    app.add_exception_handler(PoolTimeout, database_error)
    app.add_exception_handler(DBAPIError, database_error)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        # Answered outside the request middleware, which repeats the id on every other answer:
        # this is the one a user most needs to quote.
        request_id = current_request_id()
        return JSONResponse(
            {"error": {"code": "INTERNAL", "message": "an unexpected error occurred"}},
            status_code=500,
            headers={"X-Request-ID": request_id} if request_id else None,
        )
