"""Conventions several REST paths follow: how a path that creates is declared, and the page
size parameter of every list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Query

from logistics.errors import ErrorCode
from logistics.rest_compat.base import errors

F = TypeVar("F", bound=Callable[..., Any])

LIMIT = Query(20, description="1 to 100")


def creates(router: APIRouter, path: str, response_model: Any, *codes: ErrorCode) -> Callable[[F], F]:
    """A POST path that creates what it answers (201) and honours an Idempotency-Key: the same
    key with another body is ``IDEMPOTENCY_CONFLICT``."""
    return router.post(
        path,
        status_code=201,
        response_model=response_model,
        responses=errors(*codes, ErrorCode.IDEMPOTENCY_CONFLICT),
    )
