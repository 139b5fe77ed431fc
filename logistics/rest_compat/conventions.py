"""Conventions several REST paths follow: how a path that creates is declared, the page
size parameter of every list, and the schema of a body a path reads itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from fastapi import APIRouter, Query
from pydantic import BaseModel

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


def inline_schema(shape: type[BaseModel]) -> dict[str, Any]:
    """A shape's JSON schema with its definitions inlined, for an ``openapi_extra`` request
    body: FastAPI puts in ``components`` only the models its declared parameters use, so a
    ``$ref`` to any other would point at nothing."""
    schema = shape.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, list):
            return [inline(item) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return inline(definitions[ref.removeprefix("#/$defs/")])
        return {key: inline(value) for key, value in node.items()}

    return cast(dict[str, Any], inline(schema))
