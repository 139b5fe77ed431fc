"""One look at each HTTP request: its id, its metrics and its log line.

:class:`RequestObserver` is a pure ASGI middleware (Starlette's ``BaseHTTPMiddleware`` would
buffer streamed answers and costs a task per request). It does not see websockets: the GraphQL
socket is routed past every HTTP middleware (``app.SocketRoute``), so no frame of a fan-out
pays for it; sockets are counted where they are served (``schema.websocket``, ``live.hub``).

Per request it takes the caller's ``X-Request-ID`` (at most 128 of ``[A-Za-z0-9._:-]``,
else a new one of 32 hex digits), returns it on the answer, and once the answer is sent counts the
request, observes its duration and logs one line (logger ``logistics.access``) with the
method, the route template (never the raw path: the public tracking page's paths carry its
link's secret), the status, the duration, the caller's ``sub`` and the request id.

A driver's successful presence ping (``PUT /client/logistics/location`` answered 204) is the
hottest path: a fleet sends thousands a second. Its line is logged at DEBUG, and at any
higher level it is never built: the ping pays for the counter and the histogram only.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import time
from typing import Any

from prometheus_client.metrics import Counter, Histogram
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from logistics.observability.context import CURRENT, RequestInfo
from logistics.observability.metrics import HTTP_DURATION, HTTP_REQUESTS, METHODS, UNMATCHED

REQUEST_ID_HEADER = b"x-request-id"
_VALID_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
# nginx's code for a client that went away before it was answered: not a server error.
CLIENT_CLOSED = 499
access_log = logging.getLogger("logistics.access")
# A made id: this process's random prefix and its count of requests. Unique without a uuid4
# per request (a few microseconds of every ping); an id is a label to find lines by, not a secret.
_ID_PREFIX = os.urandom(8).hex()
_ID_COUNTER = itertools.count()


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


def incoming_request_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The caller's ``X-Request-ID`` when it is one we can safely repeat in logs and headers."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            return value.decode("ascii") if _VALID_ID.fullmatch(value) else None
    return None


class RouteTemplates:
    """The path template of the route a request matched (``/client/logistics/orders/{job_id}/track``).

    FastAPI names it in the scope in three ways: a route of an included router by its effective
    route context (FastAPI 0.16x, the prefix included; its own telemetry reads the same), a route
    of the app itself by ``scope["route"]``; a plain Starlette route or mount (GraphQL, the web
    pages, static files) only by its ``endpoint``, looked up among the app's routes.
    """

    def __init__(self, routes: list[BaseRoute]) -> None:
        self.routes = routes
        self._by_endpoint: dict[object, str] | None = None

    def __call__(self, scope: Scope) -> str:
        fastapi_scope = scope.get("fastapi")
        if isinstance(fastapi_scope, dict):
            template = getattr(fastapi_scope.get("effective_route_context"), "path_format", None)
            if template:
                return str(template)
        template = getattr(scope.get("route"), "path_format", None)
        if template:
            return str(template)
        endpoint = scope.get("endpoint")
        if endpoint is None:
            return UNMATCHED
        if self._by_endpoint is None:
            # Built at the first request, once every route is in place.
            self._by_endpoint = {}
            for route in self.routes:
                target = getattr(route, "endpoint", None) or getattr(route, "app", None)
                path = getattr(route, "path_format", None)
                if target is not None and path:
                    self._by_endpoint.setdefault(target, path)
        return self._by_endpoint.get(endpoint, UNMATCHED)


class RequestObserver:
    def __init__(self, app: ASGIApp, *, routes: list[BaseRoute], quiet_ping_path: str | None = None) -> None:
        self.app = app
        self.route_template = RouteTemplates(routes)
        self.quiet_ping_path = quiet_ping_path
        # Label children by their values: a dict lookup per request instead of labels()'
        # lock and checks. Bounded: methods are folded to a fixed set, routes and statuses
        # are the app's own.
        self._counts: dict[tuple[str, str, int], Counter] = {}
        self._durations: dict[tuple[str, str], Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = incoming_request_id(scope["headers"]) or new_request_id()
        info = RequestInfo(request_id)
        token = CURRENT.set(info)
        header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except asyncio.CancelledError:
            self._observe(scope, info, status or CLIENT_CLOSED, started)
            raise
        except BaseException:
            # Answered (500) by the error handler outside this middleware, which logs the error
            # and repeats the id: the request stays current for it.
            self._observe(scope, info, status or 500, started)
            raise
        self._observe(scope, info, status or 500, started)
        CURRENT.reset(token)

    def _observe(self, scope: Scope, info: RequestInfo, status: int, started: float) -> None:
        elapsed = time.perf_counter() - started
        method = scope["method"]
        if method not in METHODS:
            method = "other"
        route = self.route_template(scope)
        counted = self._counts.get((method, route, status))
        if counted is None:
            counted = self._counts[(method, route, status)] = HTTP_REQUESTS.labels(method, route, str(status))
        counted.inc()
        timed = self._durations.get((method, route))
        if timed is None:
            timed = self._durations[(method, route)] = HTTP_DURATION.labels(method, route)
        timed.observe(elapsed)
        quiet = status == 204 and method == "PUT" and route == self.quiet_ping_path
        level = logging.DEBUG if quiet else logging.INFO
        if not access_log.isEnabledFor(level):
            return
        duration_ms = round(elapsed * 1000, 2)
        fields: dict[str, Any] = {
            "request_id": info.request_id,
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": duration_ms,
            "user_id": info.user_id,
        }
        user = f" user={info.user_id}" if info.user_id else ""
        access_log.log(level, "%s %s %d %.1f ms%s", method, route, status, duration_ms, user, extra=fields)
