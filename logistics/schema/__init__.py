"""The GraphQL edge: the schema, its context, and the router mounted at ``/graphql``."""

from __future__ import annotations

from typing import Any

import strawberry
from fastapi import Request
from graphql import GraphQLError
from strawberry.extensions import MaxTokensLimiter
from strawberry.fastapi import GraphQLRouter
from strawberry.types import ExecutionContext

from logistics.config import Settings
from logistics.resolvers.context import Platform
from logistics.schema.context import GraphQLContext
from logistics.schema.extensions import ErrorCodes, UnitOfWorkExtension, complexity_extensions
from logistics.schema.mutation import Mutation
from logistics.schema.query import Query


class LogisticsSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # ErrorCodes logs what is unexpected; expected errors are answers, not incidents.
        return None


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    settings = settings or Settings()
    return LogisticsSchema(
        query=Query,
        mutation=Mutation,
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
            *complexity_extensions(settings.graphql_max_depth, settings.graphql_max_aliases),
            UnitOfWorkExtension,
            ErrorCodes,
        ],
    )


def graphql_router(platform: Platform) -> GraphQLRouter[Any, Any]:
    async def get_context(request: Request) -> GraphQLContext:
        return GraphQLContext(
            platform,
            authorization=request.headers.get("authorization"),
            idempotency_key=request.headers.get("idempotency-key"),
        )

    return GraphQLRouter(
        build_schema(platform.settings),
        context_getter=get_context,
        graphql_ide="graphiql",
        multipart_uploads_enabled=True,
    )
