"""graphql-transport-ws: the token comes in ``connection_init``; limits per connection and user;
every operation on its own; subscriptions served by the live hub.

- A connection without a valid token is closed with 4401, and one over the user's number of
  connections per process with 4429, each with a reason.
- Each query or mutation sent over the socket gets its own context and unit of work, as an
  HTTP request does: one operation's failure never rolls back another's work.
- A subscription is authorized and validated through the schema as any operation is, then
  joins the hub (:mod:`logistics.live.hub`): its events are executed and encoded once per group
  of identical subscriptions and reach this socket as prebuilt frames.
- Everything the server sends goes through the socket's outbox (:mod:`logistics.live.outbox`),
  drained by its own task: no fan-out waits on this socket, and a client that falls too far
  behind is closed with 4008.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import suppress
from typing import Any

from graphql import GraphQLError, GraphQLSchema
from strawberry.schema import Schema
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
    _OperationStreamClosed,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.utils.aio import aclosing

from logistics.errors import DomainError, ErrorCode
from logistics.live.members import SocketMember
from logistics.live.outbox import Outbox
from logistics.observability.metrics import WS_CONNECTIONS
from logistics.platform import Platform
from logistics.schema.context import Authorize, GraphQLContext
from logistics.schema.extensions import render_error
from logistics.schema.live import render_key, renderer

# Open connections per user, in this process.
_connections: Counter[str] = Counter()
# Every open socket of this process, to close them all when it shuts down.
_open: set[AuthenticatedTransportWSHandler] = set()
# "Going away": the server is shutting down; a client reconnects, to another replica.
GOING_AWAY = 1001
# How long closing waits for sockets whose client stopped reading; uvicorn ends those itself.
CLOSE_WAIT_S = 2.0


async def close_all(platform: Platform, reason: str) -> int:
    """Close every open socket of ``platform`` with :data:`GOING_AWAY`; returns how many. The
    closes are written concurrently: a socket whose client does not read must not hold up
    the thousands behind it."""
    closing = [
        asyncio.create_task(handler.going_away(reason))
        for handler in list(_open)
        if handler.context.platform is platform
    ]
    if closing:
        await asyncio.wait(closing, timeout=CLOSE_WAIT_S)
    return len(closing)


def authorization_from(payload: dict[str, Any]) -> str | None:
    value = payload.get("Authorization") or payload.get("authorization")
    if isinstance(value, str):
        return value
    token = payload.get("token")
    return f"Bearer {token}" if isinstance(token, str) else None


class OperationContext(GraphQLContext):
    """One operation of a socket: its own unit of work, and for a subscription, a seat in the hub."""

    def __init__(self, handler: AuthenticatedTransportWSHandler, operation: Operation[Any, Any]) -> None:
        connection = handler.context
        super().__init__(connection.platform, connection.authorization, idempotency_key=None)
        self.connection_params = connection.connection_params
        self.handler = handler
        self.operation = operation
        self.joined = False

    async def watch(self, authorize: Authorize) -> Any:
        watch, principal, recheck = await self.authorized_watch(authorize)
        handler, operation = self.handler, self.operation
        member = SocketMember(
            watch,
            sub=principal.sub,
            expires_at=principal.expires_at,
            recheck=recheck,
            op_id=operation.id,
            outbox=handler.outbox,
            done=handler.operation_done,
        )
        handler.members[operation.id] = member
        self.joined = True
        query, variables, name = operation.query, operation.variables, operation.operation_name
        try:
            await self.platform.hub.join(
                member,
                render_key=render_key(query, variables, name),
                render=renderer(handler.graphql_schema, query, variables, name),
            )
        except BaseException:
            handler.members.pop(operation.id, None)
            self.joined = False
            raise
        # The hub sends this operation's events from now on; the resolver has nothing to yield.
        return
        yield


class AuthenticatedTransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    user: str | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = self.context.platform.settings
        self.outbox = Outbox(self._send_text, self.websocket.close, limit=settings.ws_outbox_limit)
        self.members: dict[str, SocketMember] = {}
        self.contexts: dict[str, OperationContext] = {}
        self._raw_send = self.websocket.ws._send  # type: ignore[attr-defined]
        _open.add(self)

    async def _send_text(self, text: str) -> None:
        # The server's own ASGI send, past strawberry's adapter and Starlette's state checks:
        # the frame is already encoded, and a fan-out pays for every layer once per socket.
        await self._raw_send({"type": "websocket.send", "text": text})

    async def send_message(self, message: Message) -> None:
        encoded = self.view.encode_json(message)
        self.outbox.put(encoded if isinstance(encoded, str) else encoded.decode())

    @property
    def graphql_schema(self) -> GraphQLSchema:
        schema = self.schema
        assert isinstance(schema, Schema)
        return schema._schema

    def operation_done(self, operation_id: str) -> None:
        """The hub ended or failed a subscription: its id is free again."""
        self.members.pop(operation_id, None)
        self.operations.pop(operation_id, None)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload") or {}
        context = self.context
        if isinstance(payload, dict) and not self.connection_init_received:
            context.authorization = authorization_from(payload) or context.authorization
            try:
                principal = context.principal()
            except DomainError as refused:
                await self._refuse(4401, f"Unauthorized: {refused.message}")
                return
            limit = context.platform.settings.ws_max_connections_per_user
            if _connections[principal.sub] >= limit:
                await self._refuse(4429, f"Too many connections: at most {limit} per user")
                return
            _connections[principal.sub] += 1
            self.user = principal.sub
            WS_CONNECTIONS.inc()
        await super().handle_connection_init(message)
        if self.connection_acknowledged:
            # Cancelled above; holding it would keep its exception and frames for the life
            # of the connection.
            self.connection_init_timeout_task = None

    async def _refuse(self, code: int, reason: str) -> None:
        if self.connection_init_timeout_task:
            self.connection_init_timeout_task.cancel()
        await self.websocket.close(code=code, reason=reason)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if not self.connection_acknowledged:
            await self.websocket.close(code=4401, reason="Unauthorized: send connection_init first")
            return
        # Strawberry refuses one subscription too many with an error that has no code; give
        # it one, like every other error of the API.
        limit = self.max_subscriptions_per_connection
        if limit is not None and message["id"] not in self.operations and len(self.operations) >= limit:
            error = GraphQLError(
                f"at most {limit} subscriptions per connection",
                extensions={"code": ErrorCode.RATE_LIMITED.value},
            )
            await self.send_message({"id": message["id"], "type": "error", "payload": [error.formatted]})
            return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation[Any, Any]) -> None:
        """As the base class, with a context of the operation's own."""
        context = self.contexts[operation.id] = OperationContext(self, operation)
        try:
            result_source = await self.schema.stream(
                operation.query,
                variable_values=operation.variables,
                context_value=context,
                root_value=self.root_value,
                operation_name=operation.operation_name,
            )
            async with aclosing(result_source):
                await self._send_result_stream(operation, result_source)
            if not context.joined:
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
        except _OperationStreamClosed:
            return
        except Exception as error:
            await self.handle_task_exception(error)
            if operation.id not in self.members:
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)
        finally:
            # A result stream closed after its first (failed) result never resumes the
            # extension that ends the unit of work: end it here, or it holds the write lock.
            await context.finish(commit=False)
            if self.contexts.get(operation.id) is context:
                del self.contexts[operation.id]

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
                # Read the stream to its end: its extensions (the one that ends the unit of
                # work) finish only when it does.
                async for _ in result_source:
                    pass
                return
            await operation.send_next(result)
            first = False

    async def cleanup_operation(self, operation_id: str) -> None:
        member = self.members.pop(operation_id, None)
        if member is not None:
            self.context.platform.hub.leave(member)
            self.outbox.forget(operation_id)
        context = self.contexts.get(operation_id)
        if member is None and context is not None and context.write and operation_id in self.operations:
            # A mutation runs to its end, as an HTTP request does when its client goes away:
            # cancelled in the middle of its transaction, it left its connection (and on
            # SQLite the writer's lock) in a state nothing could finish.
            self.operations.pop(operation_id)
            return
        await super().cleanup_operation(operation_id)

    async def going_away(self, reason: str) -> None:
        # Frames still waiting are dropped: the client reads the current state on reconnecting.
        await self.outbox.close()
        with suppress(Exception):  # already closed by the client, or the connection lost
            await self.websocket.close(code=GOING_AWAY, reason=reason)

    async def shutdown(self) -> None:
        try:
            await super().shutdown()
        finally:
            _open.discard(self)
            hub = self.context.platform.hub
            for member in self.members.values():
                hub.leave(member)
            self.members.clear()
            await self.outbox.close()
            if self.user is not None:
                WS_CONNECTIONS.dec()
                _connections[self.user] -= 1
                if _connections[self.user] <= 0:
                    del _connections[self.user]
                self.user = None
