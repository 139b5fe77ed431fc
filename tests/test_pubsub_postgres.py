"""The pub/sub hub on PostgreSQL LISTEN/NOTIFY losing its connection: the server ends it
(``pg_terminate_backend``, a restart), the socket closes underneath it, or the peer falls silent.
As on Redis, every live subscription then ends with ``SubscriptionClosed`` instead of hanging,
and the next subscriber gets a fresh connection."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

import logistics.broker
from logistics.pubsub import SubscriptionClosed
from tests.conftest import PG_URL
from tests.test_pubsub import _broadcast_url, channel, connected, loop_errors, receive

pytestmark = pytest.mark.skipif(
    not (PG_URL or "").startswith("postgresql"), reason="needs LOGISTICS_TEST_DATABASE_URL (PostgreSQL)"
)

loop_errors = loop_errors

# Generous: a lost connection must end the subscription, however long that takes here.
LOSS_S = 30.0
INTERRUPTED = "the event stream was interrupted; resubscribe"


def broadcast_url(application_name: str, *, port: int | None = None) -> str:
    """The hub's URL, its connections named so that the test can find them on the server."""
    assert PG_URL is not None
    parts = urlsplit(_broadcast_url(PG_URL))
    netloc = parts.netloc
    if port is not None:
        netloc = f"{netloc.rpartition('@')[0]}@127.0.0.1:{port}" if "@" in netloc else f"127.0.0.1:{port}"
    query = "&".join(q for q in (parts.query, f"application_name={application_name}") if q)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


async def terminate_backends(application_name: str) -> int:
    assert PG_URL is not None
    admin = await asyncpg.connect(_broadcast_url(PG_URL))
    try:
        ended = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            application_name,
        )
        return int(ended)
    finally:
        await admin.close()


class Proxy:
    """A TCP relay to PostgreSQL whose current connections the test can cut or silence (as a
    dead host or a dropped route would); connections made afterwards are relayed normally."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._relays: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []
        self._silenced: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        assert PG_URL is not None
        target = urlsplit(_broadcast_url(PG_URL))
        server_reader, server_writer = await asyncio.open_connection(target.hostname, target.port or 5432)
        self._writers += [client_writer, server_writer]
        for reader, writer, other in (
            (client_reader, server_writer, client_writer),
            (server_reader, client_writer, server_writer),
        ):
            relay = asyncio.create_task(self._relay(reader, writer, other))
            self._relays.add(relay)
            relay.add_done_callback(self._relays.discard)

    async def _relay(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, other: asyncio.StreamWriter
    ) -> None:
        with suppress(OSError):
            while data := await reader.read(65536):
                if writer not in self._silenced:
                    writer.write(data)
                    await writer.drain()
        writer.close()
        other.close()

    def cut(self) -> None:
        for writer in self._writers:
            writer.transport.abort()

    def silence(self) -> None:
        self._silenced.update(self._writers)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        for relay in list(self._relays):
            relay.cancel()
        await asyncio.gather(*self._relays, return_exceptions=True)


@pytest.fixture
async def proxy() -> AsyncIterator[Proxy]:
    relay = Proxy()
    await relay.start()
    try:
        yield relay
    finally:
        await relay.close()


async def test_terminated_listen_connection_closes_live_subscriptions_and_the_next_one_works(
    loop_errors: list[dict[str, Any]],
) -> None:
    # given two subscribers on a PostgreSQL hub that already delivered one event
    name = f"pubsub-test-{uuid.uuid4().hex[:12]}"
    pubsub = await connected(broadcast_url(name))
    topic = channel("job")
    try:
        async with pubsub.subscribe(topic) as first, pubsub.subscribe(topic, latest_only=True) as second:
            await pubsub.publish(topic, {"n": 1})
            assert await receive(first) == {"n": 1}
            assert await receive(second) == {"n": 1}
            waiting = asyncio.create_task(first.get())

            # when PostgreSQL ends the hub's connection (an operator, a restart, a failover)
            assert await terminate_backends(name) == 1

            # then both subscriptions end, telling the client to resubscribe, rather than hang
            with pytest.raises(SubscriptionClosed, match="interrupted; resubscribe"):
                await asyncio.wait_for(waiting, LOSS_S)
            with pytest.raises(SubscriptionClosed, match="interrupted; resubscribe"):
                await receive(second, LOSS_S)
            assert first.closed_reason == second.closed_reason == INTERRUPTED

        # and a new subscriber, on a new connection, receives what is published from now on
        async with pubsub.subscribe(topic) as fresh:
            await pubsub.publish(topic, {"n": 2})
            assert await receive(fresh) == {"n": 2}
        assert pubsub.connected
    finally:
        await asyncio.wait_for(pubsub.disconnect(), LOSS_S)

    # and nothing crashed along the way
    assert [(context.get("message"), repr(context.get("task"))) for context in loop_errors] == []


@pytest.mark.parametrize("loss", ["cut", "silence"])
async def test_a_connection_lost_underneath_closes_live_subscriptions_and_the_next_one_works(
    loss: str, proxy: Proxy, monkeypatch: pytest.MonkeyPatch, loop_errors: list[dict[str, Any]]
) -> None:
    # given a subscriber on a hub that reaches PostgreSQL through a relay, probed often (a
    # silent peer is only found by a probe left unanswered)
    monkeypatch.setattr(logistics.broker, "POSTGRES_PROBE_S", 0.5)
    pubsub = await connected(broadcast_url(f"pubsub-test-{uuid.uuid4().hex[:12]}", port=proxy.port))
    topic = channel("job")
    try:
        async with pubsub.subscribe(topic) as subscription:
            await pubsub.publish(topic, {"n": 1})
            assert await receive(subscription) == {"n": 1}

            # when the connection is closed underneath it, or its peer stops answering
            if loss == "cut":
                proxy.cut()
            else:
                proxy.silence()

            # then the subscription ends, telling the client to resubscribe, rather than hang
            with pytest.raises(SubscriptionClosed, match="interrupted; resubscribe"):
                await receive(subscription, LOSS_S)

        # and a new subscriber, on a new connection, receives what is published from now on
        async with pubsub.subscribe(topic) as fresh:
            await pubsub.publish(topic, {"n": 2})
            assert await receive(fresh) == {"n": 2}
        assert pubsub.connected
    finally:
        await asyncio.wait_for(pubsub.disconnect(), LOSS_S)

    # and nothing crashed along the way
    assert [(context.get("message"), repr(context.get("task"))) for context in loop_errors] == []
