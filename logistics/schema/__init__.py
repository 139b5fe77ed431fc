"""The GraphQL edge: the schema, its context, and the router mounted at ``/graphql``."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import strawberry
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.extensions import MaxTokensLimiter, SchemaExtension, ValidationCache
from strawberry.file_uploads import Upload
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext
from strawberry.types.scalar import scalar
from strawberry.types.unset import UNSET

from logistics.config import Settings
from logistics.errors import DomainError, ErrorCode
from logistics.limits import parse_json
from logistics.observability.graphql import OperationMetrics
from logistics.platform import Platform
from logistics.schema.context import GraphQLContext
from logistics.schema.extensions import ErrorCodes, ParseOnce, UnitOfWorkExtension, complexity_extensions
from logistics.schema.money import MoneyMutation, MoneyQuery
from logistics.schema.mutation import Mutation
from logistics.schema.query import Query
from logistics.schema.subscription import Subscription
from logistics.schema.webhooks import WebhookMutation, WebhookQuery
from logistics.schema.websocket import AuthenticatedTransportWSHandler
from logistics.web.assets import graphiql_page


class PerEventExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """graphql-core 3.3 copies a subscription's executor for every event, and the copies share
    a cache keyed by ``id()`` of per-event lists (``_relevant_sub_fields``), which keeps them
    alive: a long-lived subscription leaked two entries per event, and full garbage
    collections of that growing heap stalled the event loop for seconds. Each event's
    executor gets a cache of its own, freed with it."""

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        return executor


class LogisticsSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # ErrorCodes logs what is unexpected; expected errors are answers, not incidents.
        return None


def _uploaded_file(value: Any) -> UploadFile:
    # Strawberry's own Upload scalar takes any variable value (``"file": false`` reached the
    # resolver as a file); only a part of a multipart request is a file.
    if isinstance(value, UploadFile):
        return value
    raise GraphQLError("expected a file part of a multipart request (the GraphQL multipart request spec)")


UPLOAD = scalar(
    name="Upload", description="Represents a file upload.", serialize=lambda v: v, parse_value=_uploaded_file
)


def build_schema(
    settings: Settings | None = None, extensions: Sequence[Callable[[], SchemaExtension]] = ()
) -> strawberry.Schema:
    """The schema; ``extensions`` come first, around every other (tracing's operation span)."""
    settings = settings or Settings()
    return LogisticsSchema(
        query=merge_types("Query", (Query, MoneyQuery, WebhookQuery)),
        mutation=merge_types("Mutation", (Mutation, MoneyMutation, WebhookMutation)),
        subscription=Subscription,
        execution_context_class=PerEventExecutionContext,
        scalar_overrides={Upload: UPLOAD},
        extensions=[
            *extensions,
            # Around everything below: it counts each operation with its final outcome.
            OperationMetrics,
            # An app sends the same few documents again and again: parse and validate each once.
            ParseOnce,
            lambda: ValidationCache(maxsize=512),
            lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
            *complexity_extensions(
                settings.graphql_max_depth, settings.graphql_max_aliases, settings.graphql_max_fields
            ),
            UnitOfWorkExtension,
            ErrorCodes,
        ],
    )


class LogisticsGraphQL(GraphQL[GraphQLContext, None]):
    """Strawberry's ASGI app, mounted at ``/graphql`` as it is: through FastAPI's router every
    operation paid for dependency injection and route handling it does not use."""

    graphql_transport_ws_handler_class = AuthenticatedTransportWSHandler

    def parse_json(self, data: str | bytes) -> Any:
        # Bodies, multipart operations and query-string variables: the API's one JSON parser,
        # whose DomainError run() answers.
        return parse_json(data)

    def encode_json(self, data: object) -> str:
        # orjson: several times json.dumps's speed on every answer. Text, not bytes: the
        # websocket sends what this returns, and graphql-transport-ws speaks in text frames.
        return orjson.dumps(data).decode()

    def decode_json(self, data: str | bytes) -> object:
        # Websocket messages: strawberry answers a JSONDecodeError by closing with 4400.
        try:
            return parse_json(data)
        except DomainError as exc:
            raise json.JSONDecodeError(exc.message, str(data), 0) from exc

    async def render_graphql_ide(self, request: Request) -> Response:
        # GraphiQL on the assets the server serves itself: Strawberry's page loads a CDN.
        return HTMLResponse(graphiql_page())

    def __init__(self, platform: Platform, extensions: Sequence[Callable[[], SchemaExtension]] = ()) -> None:
        super().__init__(
            build_schema(platform.settings, extensions),
            graphql_ide="graphiql",
            multipart_uploads_enabled=True,
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
            max_subscriptions_per_connection=platform.settings.ws_max_subscriptions_per_connection,
        )
        self.platform = platform

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> GraphQLContext:
        return GraphQLContext(
            self.platform,
            authorization=request.headers.get("authorization"),
            idempotency_key=request.headers.get("idempotency-key"),
        )

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        """As the base router, but a request it cannot even read (malformed JSON, a wrong
        content type) answers in GraphQL's JSON error shape with a code, not plain text, and
        with the code's status (a body that is not JSON is 422, as in REST)."""
        try:
            return await super().run(request, context=context, root_value=root_value)
        except DomainError as exc:
            return JSONResponse(exc.graphql_body(), status_code=exc.status)
        except HTTPException as exc:
            if isinstance(request, WebSocket):
                raise
            code = {405: ErrorCode.METHOD_NOT_ALLOWED, 413: ErrorCode.PAYLOAD_TOO_LARGE}.get(
                exc.status_code, ErrorCode.VALIDATION_FAILED
            )
            error = DomainError(code, exc.reason)
            return JSONResponse(error.graphql_body(), status_code=error.status)
