"""What the fields of the GraphQL edge share: the ``Info`` they get, how a creating field passes
the request's Idempotency-Key on, and the fields that page through a list."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry
from strawberry.types import Info

from logistics.schema.context import GraphQLContext, call

T = TypeVar("T")
Ctx = Info[GraphQLContext, Any]


async def call_idempotent(info: Ctx, resolver: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """``call`` for a resolver that creates: a retry with the same key gets the first answer."""
    return await call(info, resolver, *args, idempotency_key=info.context.idempotency_key, **kwargs)


def page_field(resolver: Callable[..., Awaitable[Any]], page: Any, description: str) -> Any:
    """A query field answering one ``page`` of the caller's rows."""

    async def resolve(info: Ctx, limit: int = 20, cursor: str | None = None) -> Any:
        return page.from_pydantic(await call(info, resolver, limit=limit, cursor=cursor))

    return strawberry.field(resolver=resolve, description=description, graphql_type=page)


def job_page_field(resolver: Callable[..., Awaitable[Any]], page: Any, description: str) -> Any:
    """A query field answering one ``page`` of a job's rows."""

    async def resolve(info: Ctx, job_id: strawberry.ID, limit: int = 20, cursor: str | None = None) -> Any:
        return page.from_pydantic(await call(info, resolver, str(job_id), limit=limit, cursor=cursor))

    return strawberry.field(resolver=resolve, description=description, graphql_type=page)
