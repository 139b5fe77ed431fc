"""Helpers for the real-time tests: GraphQL over HTTP, subscriptions through ``schema.subscribe``,
and graphql-transport-ws sessions through Starlette's TestClient, every wait bounded.

Two ways to watch a subscription:

- ``DirectSubscription`` runs ``schema.subscribe`` in the test's own event loop, on the
  platform that the ``app`` fixture's lifespan connected.
- ``Live`` runs the app in Starlette's TestClient, which has an event loop of its own (in a
  thread). Its data is made in that loop too: ``Live.run`` calls the async ``Api`` factories
  there, through the TestClient's portal, so the engine and the broker are only ever used from
  the loop that opened them. ``WsSession`` speaks graphql-transport-ws over a websocket of
  that TestClient.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import socket
import subprocess
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any, TypeVar

import anyio
import httpx
import strawberry
from starlette.exceptions import StarletteDeprecationWarning
from strawberry.types.execution import ExecutionResult

from logistics.auth import mint_token
from logistics.config import Settings
from logistics.platform import Platform
from logistics.pubsub import PubSub
from logistics.schema.context import GraphQLContext
from tests.factories import Api

with warnings.catch_warnings():
    # The suite uses httpx on purpose; Starlette suggests its successor package on import.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

T = TypeVar("T")
GRAPHQL = "/graphql"
WS_PROTOCOL = "graphql-transport-ws"
WAIT_S = 10.0


def token(settings: Settings, sub: str, roles: list[str] | None = None) -> str:
    return mint_token(settings, sub, name=f"User {sub}", phone="+49 30 5550000", roles=roles)


async def graphql(
    api: Api, sub: str, query: str, *, headers: dict[str, str] | None = None, **variables: Any
) -> dict[str, Any]:
    response = await api.client.post(
        GRAPHQL,
        json={"query": query, "variables": variables},
        headers={**api.headers(sub), **(headers or {})},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors") or []]


async def accepted_job(
    api: Api, customer: str = "cust-1", *, driver: str | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(driver, job) for a cash order that a fresh approved driver has accepted."""
    registered = await api.register_driver(driver)
    order = await api.order(customer)
    job = await api.ok("PUT", f"/jobs/{order['id']}/accept", registered["sub"])
    return registered, job


def has_local_subscriber(pubsub: PubSub, channel: str) -> bool:
    # The hub registers a local subscriber only once the broker subscription is in place,
    # so this is the moment from which a published event reaches the subscriber.
    return bool(pubsub._local.get(channel))


async def wait_subscribed(pubsub: PubSub, channel: str, within: float = WAIT_S) -> None:
    async def poll() -> None:
        while not has_local_subscriber(pubsub, channel):  # noqa: ASYNC110  (no event to wait on)
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), within)


async def wait_unsubscribed(pubsub: PubSub, channel: str, within: float = WAIT_S) -> None:
    async def poll() -> None:
        while has_local_subscriber(pubsub, channel):  # noqa: ASYNC110  (no event to wait on)
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), within)


# --- schema.subscribe in the test's loop ------------------------------------------------------


class DirectSubscription:
    """A running ``schema.subscribe``: results are read in a task, so the resolver (which
    authorizes and then subscribes) starts at once; ``next`` waits a bounded time."""

    def __init__(self, results: Any) -> None:
        self._results = results
        self._queue: asyncio.Queue[ExecutionResult | None] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for result in self._results:
                await self._queue.put(result)
        finally:
            await self._queue.put(None)

    async def next(self, within: float = WAIT_S) -> ExecutionResult:
        result = await asyncio.wait_for(self._queue.get(), within)
        assert result is not None, "the subscription ended"
        return result

    async def data(self, field: str, within: float = WAIT_S) -> dict[str, Any]:
        result = await self.next(within)
        assert not result.errors, result.errors
        assert result.data is not None
        value: dict[str, Any] = result.data[field]
        return value

    async def ended(self, within: float = WAIT_S) -> list[ExecutionResult]:
        """Everything the stream yields until it ends (bounded)."""
        seen: list[ExecutionResult] = []
        while (result := await asyncio.wait_for(self._queue.get(), within)) is not None:
            seen.append(result)
        return seen

    def pending(self) -> int:
        return self._queue.qsize()

    async def close(self) -> None:
        self._reader.cancel()
        with suppress(asyncio.CancelledError, Exception):
            await self._reader
        with suppress(Exception):
            await self._results.aclose()


@asynccontextmanager
async def direct_subscription(
    schema: strawberry.Schema,
    platform: Platform,
    settings: Settings,
    sub: str,
    query: str,
    *,
    channel: str | None = None,
    **variables: Any,
) -> AsyncIterator[DirectSubscription]:
    """Subscribe as ``sub``; with ``channel``, return only once the hub listens on it."""
    context = GraphQLContext(platform, authorization=f"Bearer {token(settings, sub)}", idempotency_key=None)
    results = await schema.subscribe(query, variable_values=variables, context_value=context)
    subscription = DirectSubscription(results)
    try:
        if channel is not None:
            await wait_subscribed(platform.pubsub, channel)
        yield subscription
    finally:
        await subscription.close()


def rendered(result: ExecutionResult) -> list[dict[str, Any]]:
    """The errors as a client receives them (message and extensions.code)."""
    return [dict(error.formatted) for error in result.errors or []]


# --- the app in Starlette's TestClient, graphql-transport-ws -----------------------------------


class Live:
    """The app served by a TestClient; ``run`` executes a coroutine function in its loop."""

    def __init__(self, client: TestClient, platform: Platform, api: Api) -> None:
        self.client = client
        self.platform = platform
        self.settings = platform.settings
        self.api = api

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        assert self.client.portal is not None
        return self.client.portal.call(functools.partial(fn, *args, **kwargs))

    def ok(self, method: str, path: str, sub: str | None, status: int = 200, **kwargs: Any) -> Any:
        return self.run(self.api.ok, method, path, sub, status, **kwargs)

    def call(self, method: str, path: str, sub: str | None, **kwargs: Any) -> httpx.Response:
        return self.run(self.api.call, method, path, sub, **kwargs)

    def graphql(self, sub: str, query: str, **variables: Any) -> dict[str, Any]:
        return self.run(graphql, self.api, sub, query, **variables)

    def token(self, sub: str) -> str:
        return token(self.settings, sub)

    def wait_subscribed(self, channel: str, timeout: float = WAIT_S) -> None:
        """Block until the server's hub listens on ``channel`` (polled from this thread)."""
        deadline = time.monotonic() + timeout
        while not has_local_subscriber(self.platform.pubsub, channel):
            assert time.monotonic() < deadline, f"nobody subscribed to {channel} within {timeout}s"
            time.sleep(0.005)

    def wait_members(self, count: int, timeout: float = WAIT_S) -> None:
        """Block until the server's live hub holds ``count`` subscribers."""
        deadline = time.monotonic() + timeout
        while self.platform.hub.members != count:
            assert time.monotonic() < deadline, f"{self.platform.hub.members} subscribers, not {count}"
            time.sleep(0.005)

    @contextmanager
    def ws(self, *, init: dict[str, Any] | None = None, sub: str | None = None) -> Iterator[WsSession]:
        """A graphql-transport-ws session; with ``sub``, initialised with that user's token."""
        with self.client.websocket_connect(GRAPHQL, subprotocols=[WS_PROTOCOL]) as websocket:
            session = WsSession(websocket)
            if sub is not None:
                ack = session.init({"token": self.token(sub)})
                assert ack == {"type": "connection_ack"}, ack
            elif init is not None:
                session.send({"type": "connection_init", "payload": init})
            yield session


@contextmanager
def live_app(platform: Platform) -> Iterator[Live]:
    from logistics.app import create_app

    app = create_app(platform=platform)
    with TestClient(app) as client:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        http = httpx.AsyncClient(transport=transport, base_url="http://test")
        live = Live(client, platform, Api(http, platform.settings))
        try:
            yield live
        finally:
            live.run(http.aclose)


class WsSession:
    """One websocket speaking graphql-transport-ws; every receive is bounded."""

    def __init__(self, websocket: Any) -> None:
        self.websocket = websocket
        # Messages of other operations, read while waiting for one operation's next message.
        self.backlog: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.websocket.send_json(message)

    def raw(self, timeout: float = WAIT_S) -> dict[str, Any]:
        """The next ASGI message the server sent (text frame or close), within ``timeout``."""

        async def receive() -> dict[str, Any]:
            # TestClient's receive() has no timeout; read its stream with one instead.
            with anyio.fail_after(timeout):
                message: dict[str, Any] = await self.websocket._send_rx.receive()
                return message

        result: dict[str, Any] = self.websocket.portal.call(receive)
        return result

    def receive(self, timeout: float = WAIT_S) -> dict[str, Any]:
        import json

        message = self.raw(timeout)
        assert message["type"] == "websocket.send", message
        decoded: dict[str, Any] = json.loads(message["text"])
        return decoded

    def close_code(self, timeout: float = WAIT_S) -> int:
        message = self.raw(timeout)
        assert message["type"] == "websocket.close", message
        code: int = message.get("code", 1000)
        return code

    def init(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.send({"type": "connection_init", "payload": payload})
        return self.receive()

    def subscribe(self, op_id: str, query: str, **variables: Any) -> None:
        self.send({"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables}})

    def complete(self, op_id: str) -> None:
        self.send({"id": op_id, "type": "complete"})

    def next_for(self, op_id: str, timeout: float = WAIT_S) -> dict[str, Any]:
        """The next message for ``op_id``; those of other operations wait in ``backlog``."""
        for message in self.backlog:
            if message.get("id") == op_id:
                self.backlog.remove(message)
                return message
        deadline = time.monotonic() + timeout
        while True:
            message = self.receive(max(deadline - time.monotonic(), 0.01))
            if message.get("id") == op_id:
                return message
            self.backlog.append(message)

    def data(self, op_id: str, field: str, timeout: float = WAIT_S) -> dict[str, Any]:
        message = self.next_for(op_id, timeout)
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        value: dict[str, Any] = message["payload"]["data"][field]
        return value


# --- processes: a private redis-server ------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


NOT_PERSISTENT = ("--save", "", "--appendonly", "no", "--daemonize", "no")


class RedisServer:
    """A redis-server of the test's own on ``port``: never the shared one on 6379."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    def spawn(self) -> None:
        assert self.process is None
        executable = shutil.which("redis-server")
        assert executable is not None
        self.process = subprocess.Popen(  # noqa: S603  (a fixed argv, no shell)
            [executable, "--port", str(self.port), "--bind", "127.0.0.1", *NOT_PERSISTENT],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def start(self, within: float = WAIT_S) -> None:
        """Start it and wait (bounded) until it answers PING."""
        self.spawn()
        await asyncio.wait_for(self._until_ready(), within)

    async def _until_ready(self) -> None:
        while True:
            assert self.process is not None and self.process.poll() is None, "redis-server exited"
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            try:
                writer.write(b"PING\r\n")
                await writer.drain()
                if (await reader.readline()).startswith(b"+PONG"):
                    return
            finally:
                writer.close()
                with suppress(Exception):
                    await writer.wait_closed()
            await asyncio.sleep(0.05)

    def kill(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=WAIT_S)
