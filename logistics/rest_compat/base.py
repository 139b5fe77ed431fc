"""What every REST path shares: the transaction, the caller, the error documentation."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Depends, Header, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from logistics.errors import HTTP_STATUS, ErrorCode
from logistics.resolvers.context import Ctx, Platform

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class UnitOfWorkRoute(APIRoute):
    """Runs each request in one transaction: committed when the endpoint returns, rolled back
    when it raises; queued events are published only after the commit."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        write = bool((self.methods or set()) & WRITE_METHODS)

        async def handler(request: Request) -> Response:
            platform: Platform = request.app.state.platform
            async with platform.db.unit_of_work(write=write) as uow:
                request.state.uow = uow
                return await handle(request)

        return handler


bearer = HTTPBearer(auto_error=False, description="A JWT from the identity service.")


def get_ctx(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Ctx:
    platform: Platform = request.app.state.platform
    authorization = (
        f"Bearer {credentials.credentials}" if credentials else request.headers.get("authorization")
    )
    principal = platform.verifier.principal(authorization)
    platform.rate_limiter.check(principal.sub)
    return Ctx(uow=request.state.uow, principal=principal, platform=platform)


IdempotencyKey = Header(
    default=None,
    alias="Idempotency-Key",
    description="Optional. The same key and body return the first answer; another body is 409.",
)


class ErrorDetail(BaseModel):
    code: ErrorCode
    message: str
    details: dict[str, Any] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


def errors(*codes: ErrorCode) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error codes a path can answer (plus 401 and 422)."""
    documented: dict[int | str, dict[str, Any]] = {}
    for code in (ErrorCode.UNAUTHENTICATED, ErrorCode.VALIDATION_FAILED, *codes):
        status = HTTP_STATUS[code]
        entry = documented.setdefault(status, {"model": ErrorBody, "description": ""})
        entry["description"] = ", ".join(filter(None, [entry["description"], code.value]))
    return documented
