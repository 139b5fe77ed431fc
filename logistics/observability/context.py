"""What is known of the HTTP request being served, for its log line and every record logged in it.

The request middleware (:mod:`logistics.observability.requests`) opens a :class:`RequestInfo`
per request; authentication notes the caller on it (:func:`note_user`). It is one mutable
object rather than a context variable per fact: Starlette runs a sync dependency in a thread
with a copy of the context, and a variable set there would never reach the middleware, while
a change to the shared object does.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(slots=True)
class RequestInfo:
    request_id: str
    user_id: str | None = None


CURRENT: ContextVar[RequestInfo | None] = ContextVar("logistics_request", default=None)


def note_user(sub: str) -> None:
    """The request was authenticated as ``sub`` (a no-op outside an HTTP request)."""
    info = CURRENT.get()
    if info is not None:
        info.user_id = sub


def current_request_id() -> str | None:
    info = CURRENT.get()
    return None if info is None else info.request_id
