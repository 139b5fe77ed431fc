"""The pub/sub hub on real brokers: Redis (a private redis-server per test module, and one the
test kills and restarts), memory, and PostgreSQL LISTEN/NOTIFY.

What a subscriber may rely on: an event published once ``subscribe`` has returned is
delivered; a subscriber that does not read costs a bounded buffer (the newest position only,
or a closed stream once it falls ``maxsize`` behind); a broker that dies ends every live
subscription with ``SubscriptionClosed`` instead of leaving it hanging, publishing meanwhile
does not fail the request, and the next subscriber gets a fresh connection.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from redis import asyncio as redis

from logistics.pubsub import PubSub, Subscription, SubscriptionClosed
from tests.conftest import PG_URL, requires_postgres
from tests.realtime_helpers import RedisServer

WAIT_S = 5.0
# redis-py retries a dropped connection with backoff before it gives up: allow for that.
BROKER_LOSS_S = 30.0

needs_redis_server = pytest.mark.skipif(not RedisServer.available(), reason="needs the redis-server binary")


def channel(prefix: str = "test") -> str:
    # Unique per test: Redis channels are shared by every database number on a server.
    return f"{prefix}:{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def module_redis() -> Iterator[RedisServer]:
    if not RedisServer.available():
        pytest.skip("needs the redis-server binary")
    server = RedisServer()
    asyncio.run(server.start())
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
async def own_redis() -> AsyncIterator[RedisServer]:
    """A redis-server this test may kill and restart."""
    if not RedisServer.available():
        pytest.skip("needs the redis-server binary")
    server = RedisServer()
    await server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Whatever reaches the event loop's exception handler (a crashed task, say)."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        yield seen
    finally:
        loop.set_exception_handler(previous)


async def connected(url: str, **kwargs: Any) -> PubSub:
    pubsub = PubSub(url, **kwargs)
    await asyncio.wait_for(pubsub.connect(), WAIT_S)
    return pubsub


async def receive(subscription: Subscription, within: float = WAIT_S) -> dict[str, Any]:
    return await asyncio.wait_for(subscription.get(), within)


# --- Redis: subscribe, then receive -----------------------------------------------------------


@needs_redis_server
async def test_redis_delivers_a_message_published_right_after_the_first_subscribe(
    module_redis: RedisServer,
) -> None:
    # given a hub on Redis with no channel subscribed yet (the listener has nothing to read)
    pubsub = await connected(module_redis.url)
    name = channel()
    try:
        # when the first subscriber subscribes and an event is published at once
        async with pubsub.subscribe(name) as subscription:
            await pubsub.publish(name, {"n": 1})

            # then it arrives (broadcaster 0.3.1 reported ready before subscribing, and its
            # listener, finding nothing subscribed, went back to sleep for good)
            assert await receive(subscription) == {"n": 1}

        # and after the last subscriber left, a new first subscriber receives again
        async with pubsub.subscribe(name) as again:
            await pubsub.publish(name, {"n": 2})
            assert await receive(again) == {"n": 2}
    finally:
        await pubsub.disconnect()


@needs_redis_server
async def test_redis_fans_one_broker_subscription_out_to_every_local_subscriber(
    module_redis: RedisServer,
) -> None:
    # given two hubs (two processes) on one Redis, three subscribers on one channel
    listening, publishing = await connected(module_redis.url), await connected(module_redis.url)
    name = channel()
    try:
        async with (
            listening.subscribe(name) as first,
            listening.subscribe(name) as second,
            listening.subscribe(name, latest_only=True) as third,
        ):
            # when the other process publishes
            await publishing.publish(name, {"status": "accepted"})

            # then each local subscriber gets the event once
            for subscription in (first, second, third):
                assert await receive(subscription) == {"status": "accepted"}
            assert [len(s.buffer) for s in (first, second, third)] == [0, 0, 0]
    finally:
        await listening.disconnect()
        await publishing.disconnect()


@needs_redis_server
async def test_a_malformed_message_from_another_publisher_is_skipped(module_redis: RedisServer) -> None:
    # given subscribers on two channels of a Redis that other programs publish to as well
    pubsub = await connected(module_redis.url)
    name, other_name = channel(), channel()
    foreign = redis.Redis.from_url(module_redis.url)
    try:
        async with pubsub.subscribe(name) as subscription, pubsub.subscribe(other_name) as other:
            # when things that are no JSON object arrive, and then a real event
            for junk in (b"\xff not json", b"5", b"[1, 2, 3]", b"null"):
                await foreign.publish(name, junk)
            await pubsub.publish(name, {"n": 1})
            await pubsub.publish(other_name, {"n": 2})

            # then the junk is dropped and every subscription lives on
            assert await receive(subscription) == {"n": 1}
            assert await receive(other) == {"n": 2}
    finally:
        await foreign.aclose()
        await pubsub.disconnect()


# --- bounded buffers --------------------------------------------------------------------------

EVENTS = 10_000
LIMIT = 50


@pytest.fixture(params=["memory", "redis"])
def hub_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    server: RedisServer = request.getfixturevalue("module_redis")
    return server.url


async def test_a_subscriber_that_never_reads_costs_a_bounded_buffer(hub_url: str) -> None:
    # given a hub whose subscribers buffer at most LIMIT events, and three subscribers on one
    # channel: one that never reads, one for positions (latest only) that never reads, and a
    # marker channel read once everything was published (the broker keeps one publisher's order)
    pubsub = await connected(hub_url, buffer=LIMIT)
    name, marker_channel = channel("loc"), channel("marker")
    try:
        async with (
            pubsub.subscribe(name) as slow,
            pubsub.subscribe(name, latest_only=True) as latest,
            pubsub.subscribe(marker_channel) as marker,
        ):
            largest = {"slow": 0, "latest": 0}

            def measure() -> None:
                largest["slow"] = max(largest["slow"], len(slow.buffer))
                largest["latest"] = max(largest["latest"], len(latest.buffer))

            # when 10,000 events are published, and the hub gets to deliver them as they come
            for n in range(EVENTS):
                await pubsub.publish(name, {"n": n})
                if n % 100 == 99:
                    await asyncio.sleep(0)
                    measure()
            await pubsub.publish(marker_channel, {"done": True})
            assert await receive(marker, within=60) == {"done": True}
            measure()

            # then neither buffer ever held more than its limit
            assert largest["slow"] <= LIMIT
            assert largest["latest"] <= 1
            # and the latest-only subscriber holds exactly the newest event
            assert list(latest.buffer) == [{"n": EVENTS - 1}]
            assert await receive(latest) == {"n": EVENTS - 1}
            # and the other one was closed as too slow (its client resubscribes and re-reads)
            assert slow.closed_reason is not None
            assert len(slow.buffer) == 0
            with pytest.raises(SubscriptionClosed):
                await receive(slow)
    finally:
        await pubsub.disconnect()


async def test_a_reader_that_keeps_up_receives_every_event_in_order() -> None:
    # given a subscriber that reads while events are published
    pubsub = await connected("memory://", buffer=LIMIT)
    name = channel()
    try:
        async with pubsub.subscribe(name) as subscription:
            received: list[int] = []

            async def read() -> None:
                while len(received) < 1_000:
                    received.append((await subscription.get())["n"])

            reader = asyncio.create_task(read())
            # when 1,000 events are published with the reader getting its turn in between
            for n in range(1_000):
                await pubsub.publish(name, {"n": n})
                if n % 10 == 9:
                    await asyncio.sleep(0)
            await asyncio.wait_for(reader, WAIT_S)

            # then it got all of them, in order, and never overflowed
            assert received == list(range(1_000))
            assert subscription.closed_reason is None
    finally:
        await pubsub.disconnect()


async def test_disconnecting_the_hub_ends_live_subscriptions() -> None:
    # given a live subscriber
    pubsub = await connected("memory://")
    name = channel()
    async with pubsub.subscribe(name) as subscription:
        waiting = asyncio.create_task(subscription.get())
        await asyncio.sleep(0)

        # when the server shuts its hub down
        await pubsub.disconnect()

        # then the waiting subscriber ends with SubscriptionClosed rather than hanging
        with pytest.raises(SubscriptionClosed):
            await asyncio.wait_for(waiting, WAIT_S)


# --- a Redis restart while subscriptions are live ----------------------------------------------


@needs_redis_server
async def test_redis_restart_closes_live_subscriptions_and_the_next_one_works(
    own_redis: RedisServer, loop_errors: list[dict[str, Any]]
) -> None:
    # given two subscribers on a live Redis that already delivered one event
    pubsub = await connected(own_redis.url)
    name = channel("job")
    try:
        async with pubsub.subscribe(name) as first, pubsub.subscribe(name, latest_only=True) as second:
            await pubsub.publish(name, {"n": 1})
            assert await receive(first) == {"n": 1}
            assert await receive(second) == {"n": 1}
            waiting = asyncio.create_task(first.get())

            # when Redis dies
            own_redis.kill()

            # then both subscriptions end with SubscriptionClosed, no hang
            with pytest.raises(SubscriptionClosed):
                await asyncio.wait_for(waiting, BROKER_LOSS_S)
            with pytest.raises(SubscriptionClosed):
                await receive(second, BROKER_LOSS_S)

            # and publishing while the broker is down does not raise (the request committed)
            await asyncio.wait_for(pubsub.publish(name, {"n": 2}), BROKER_LOSS_S)

        # when Redis comes back on the same port
        await own_redis.start()

        # then a new subscription receives what is published from now on
        async with pubsub.subscribe(name) as fresh:
            await pubsub.publish(name, {"n": 3})
            assert await receive(fresh) == {"n": 3}
        assert pubsub.connected
    finally:
        await asyncio.wait_for(pubsub.disconnect(), WAIT_S)

    # and nothing crashed along the way
    assert [(context.get("message"), repr(context.get("task"))) for context in loop_errors] == []


@needs_redis_server
async def test_subscribing_while_redis_is_down_fails_cleanly(own_redis: RedisServer) -> None:
    # given a hub whose broker is gone before anyone subscribed
    pubsub = await connected(own_redis.url)
    own_redis.kill()
    try:
        # when a client subscribes, then it is told the stream is unavailable (it retries later)
        with pytest.raises(SubscriptionClosed):
            async with asyncio.timeout(BROKER_LOSS_S), pubsub.subscribe(channel()) as subscription:
                await subscription.get()
    finally:
        await asyncio.wait_for(pubsub.disconnect(), WAIT_S)


# --- PostgreSQL LISTEN/NOTIFY ---------------------------------------------------------------


def _broadcast_url(database_url: str) -> str:
    # The broadcast backend talks to asyncpg directly: a plain postgresql:// URL.
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


@requires_postgres
async def test_postgres_backend_delivers_fifty_concurrent_publishes() -> None:
    # given a hub on PostgreSQL (one asyncpg connection for LISTEN and NOTIFY)
    assert PG_URL is not None
    pubsub = await connected(_broadcast_url(PG_URL))
    name = channel("issue")
    try:
        async with pubsub.subscribe(name) as subscription:
            # when fifty requests publish at the same moment
            await asyncio.wait_for(
                asyncio.gather(*(pubsub.publish(name, {"n": n}) for n in range(50))), WAIT_S * 2
            )

            # then every one of them is delivered
            received = {(await receive(subscription))["n"] for _ in range(50)}
            assert received == set(range(50))
    finally:
        await pubsub.disconnect()
