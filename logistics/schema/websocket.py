"""graphql-transport-ws: the token comes in ``connection_init``; limits per connection and user.

A connection without a valid token is closed with 4401. A user may hold a bounded number of
connections per process; one more is closed with 4429.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from graphql import GraphQLError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)
from strawberry.types.execution import ExecutionResult, PreExecutionError

from logistics.errors import DomainError, ErrorCode
from logistics.schema.extensions import render_error

# Open connections per user, in this process.
_connections: Counter[str] = Counter()


def authorization_from(payload: dict[str, Any]) -> str | None:
    value = payload.get("Authorization") or payload.get("authorization")
    if isinstance(value, str):
        return value
    token = payload.get("token")
    return f"Bearer {token}" if isinstance(token, str) else None


class AuthenticatedTransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    user: str | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload") or {}
        context = self.context
        if isinstance(payload, dict) and not self.connection_init_received:
            context.authorization = authorization_from(payload) or context.authorization
            try:
                principal = context.principal()
            except DomainError:
                if self.connection_init_timeout_task:
                    self.connection_init_timeout_task.cancel()
                await self.websocket.close(code=4401, reason="Unauthorized")
                return
            limit = context.platform.settings.ws_max_connections_per_user
            if _connections[principal.sub] >= limit:
                if self.connection_init_timeout_task:
                    self.connection_init_timeout_task.cancel()
                await self.websocket.close(code=4429, reason="Too many connections")
                return
            _connections[principal.sub] += 1
            self.user = principal.sub
        await super().handle_connection_init(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        # Strawberry refuses one subscription too many with an error that has no code; give
        # it one, like every other error of the API.
        limit = self.max_subscriptions_per_connection
        if (
            self.connection_acknowledged
            and limit is not None
            and message["id"] not in self.operations
            and len(self.operations) >= limit
        ):
            error = GraphQLError(
                f"at most {limit} subscriptions per connection",
                extensions={"code": ErrorCode.RATE_LIMITED.value},
            )
            await self.send_message({"id": message["id"], "type": "error", "payload": [error.formatted]})
            return
        await super().handle_subscribe(message)

    async def _send_result_stream(self, operation: Operation[Any, Any], result_source: Any) -> None:
        """As the base class, plus: errors carry ``extensions.code`` like every other answer,
        and a subscription refused before its first event (say, a job the caller may not
        see) gets the protocol's ``error`` message rather than an empty ``next``."""
        first = True
        async for result in result_source:
            errors = getattr(result, "errors", None)
            if errors:
                result.errors = [render_error(error) for error in errors]
            if first and isinstance(result, PreExecutionError):
                await self._handle_pre_execution_error(operation, result)
                return
            if not isinstance(result, ExecutionResult):
                await self._reject_incremental_delivery(operation)
                return
            if first and result.errors and result.data is None:
                await operation.send_initial_errors(result.errors)
                return
            await operation.send_next(result)
            first = False

    async def shutdown(self) -> None:
        try:
            await super().shutdown()
        finally:
            if self.user is not None:
                _connections[self.user] -= 1
                if _connections[self.user] <= 0:
                    del _connections[self.user]
                self.user = None
