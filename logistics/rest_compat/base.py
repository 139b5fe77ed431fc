"""What every REST path shares: the transaction, the caller, the error documentation."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Depends, Header, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from logistics.db import Transaction
from logistics.errors import HTTP_STATUS, ErrorCode
from logistics.limits import parse_json
from logistics.platform import Ctx, Platform

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class JSONRequest(Request):
    """A request whose JSON body is read by the API's one parser: FastAPI's own (``json.loads``)
    would take NaN, lone surrogates and any depth, and answer some bad bodies with a bare 400.
    A ``DomainError`` raised here reaches the error handler as the cause of FastAPI's 400."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


class UnitOfWorkRoute(APIRoute):
    """Runs each request in one transaction: committed when the endpoint returns, rolled back
    when it raises; queued events are published only after the commit.

    The transaction opens only when :func:`get_ctx` asks for it, after FastAPI has read the
    body and the caller is authenticated: a slow upload or a bad token never holds the SQLite
    writer lock that every other writer of the process waits on."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        write = bool((self.methods or set()) & WRITE_METHODS)

        async def handler(request: Request) -> Response:
            request = JSONRequest(request.scope, request.receive)
            platform: Platform = request.app.state.platform
            transaction = platform.db.transaction(write=write)
            request.state.transaction = transaction
            try:
                response = await handle(request)
            except BaseException:
                await transaction.finish(commit=False)
                raise
            await transaction.finish(commit=True)
            return response

        return handler


bearer = HTTPBearer(auto_error=False, description="A JWT from the identity service.")


async def get_ctx(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> Ctx:
    ctx = await get_lazy_ctx(request, credentials)
    await ctx.begin()
    return ctx


async def get_lazy_ctx(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> Ctx:
    """The caller's ``Ctx`` with its transaction not yet open, for a use case that may answer
    without the database (a driver's presence ping); it opens on ``ctx.begin()``."""
    platform: Platform = request.app.state.platform
    authorization = (
        f"Bearer {credentials.credentials}" if credentials else request.headers.get("authorization")
    )
    principal = platform.verifier.principal(authorization)
    platform.rate_limiter.check(principal.sub)
    transaction: Transaction = request.state.transaction
    return Ctx(principal=principal, platform=platform, transaction=transaction)


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
