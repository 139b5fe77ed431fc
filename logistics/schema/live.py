"""A subscription's events as GraphQL answers, rendered once per group (see :mod:`logistics.live.hub`).

The hub hands over a view (an event's shape); it is executed against the group's document and
variables with graphql-core's ``execute``, the root field resolving to the view itself, and
encoded once. The execution context holds nothing: no field of an event reads the caller, so
nothing of one subscriber can reach the answer another is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from inspect import isawaitable
from typing import Any

import orjson
from graphql import ExecutionResult, GraphQLSchema, execute
from pydantic import BaseModel

from logistics.live.hub import Render
from logistics.schema import types as t
from logistics.schema.extensions import parse_once, render_error
from logistics.shapes import events
from logistics.shapes.messaging import IssueView, MessageView

_GRAPHQL_TYPE: dict[type[BaseModel], Callable[[Any], Any]] = {
    events.JobUpdate: t.JobUpdate.from_pydantic,
    events.DriverLocation: t.DriverLocation.from_pydantic,
    MessageView: t.Message.from_pydantic,
    IssueView: t.JobIssue.from_pydantic,
    events.FeedChange: t.FeedChange.from_pydantic,
    events.JobOfferEvent: t.JobOffer.from_pydantic,
}


def as_graphql(view: BaseModel) -> Any:
    """The GraphQL object of an event's shape."""
    return _GRAPHQL_TYPE[type(view)](view)


class EventContext:
    """The context of an event's shared execution: deliberately empty."""

    __slots__ = ()


def render_key(
    query: str, variables: dict[str, Any] | None, operation_name: str | None
) -> tuple[str, bytes, str | None]:
    """Everything a rendering depends on besides the event."""
    return (query, orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS), operation_name)


def renderer(
    schema: GraphQLSchema, query: str, variables: dict[str, Any] | None, operation_name: str | None
) -> Render:
    document = parse_once(query)
    context = EventContext()

    async def render(view: Any) -> str:
        result = execute(
            schema,
            document,
            root_value=as_graphql(view),
            context_value=context,
            variable_values=variables,
            operation_name=operation_name,
        )
        if isawaitable(result):
            result = await result
        assert isinstance(result, ExecutionResult)
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [render_error(error).formatted for error in result.errors]
        return orjson.dumps(payload).decode()

    return render
