"""Events to subscribers over broadcaster: ``memory://`` in one process, ``redis://`` across.

One broker subscription per channel per process feeds any number of local subscribers, each
with a bounded buffer: a slow client costs bounded memory. For positions the newest replaces
an unread one; for other events a subscriber that falls ``maxsize`` behind is closed (its
client resubscribes and reads the current state) rather than silently missing a change.

broadcaster 0.3.1's own ``Broadcast`` keeps an unbounded queue per subscriber and hangs every
subscriber for good when its broker connection drops. This module uses the backends directly
(fixed in :mod:`logistics.broker`) and closes local subscriptions cleanly when the broker goes
away, reconnecting for the next subscriber.

Resolvers never publish directly: they queue events on the unit of work, which publishes
after the commit (see :mod:`logistics.db`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any, TypeVar

from broadcaster._backends.base import BroadcastBackend

from logistics.broker import make_backend
from logistics.observability.metrics import PUBSUB_LAG, channel_kind

log = logging.getLogger("logistics.pubsub")
T = TypeVar("T")

FEED_CHANNEL = "feed"
DEFAULT_BUFFER = 100
# The publisher's wall clock (epoch seconds), added to every event and taken off on receipt: the
# delivery lag a process observes (across hosts, as good as their clocks agree).
PUBLISHED_AT = "_published_at"
RECONNECT_DELAY_S = (0.1, 0.5, 1.0, 2.0, 5.0)


def job_channel(job_id: str) -> str:
    return f"job:{job_id}"


def location_channel(job_id: str) -> str:
    return f"loc:{job_id}"


def messages_channel(job_id: str) -> str:
    return f"msg:{job_id}"


def issues_channel(job_id: str) -> str:
    return f"issue:{job_id}"


def offers_channel(driver_id: str) -> str:
    return f"offers:{driver_id}"


class SharedEvent(dict[str, Any]):
    """One decoded event, handed to every local subscriber of its channel. What one
    subscriber derives from it (its GraphQL object) is kept for the others: a thousand
    subscribers cost one conversion, not a thousand."""

    __slots__ = ("memo",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.memo: dict[str, Any] = {}

    def once(self, key: str, build: Callable[[], T]) -> T:
        if key not in self.memo:
            self.memo[key] = build()
        value: T = self.memo[key]
        return value


class SubscriptionClosed(Exception):
    """The stream ended: the broker went away, or the subscriber fell too far behind."""


class Subscription:
    """One subscriber's bounded buffer of decoded events."""

    def __init__(self, channel: str, *, latest_only: bool, maxsize: int) -> None:
        self.channel = channel
        self.latest_only = latest_only
        self.buffer: deque[dict[str, Any]] = deque()
        self.maxsize = 1 if latest_only else maxsize
        self.closed_reason: str | None = None
        self.ended = False
        self._wakeup = asyncio.Event()

    def offer(self, event: dict[str, Any]) -> None:
        if self.closed_reason is not None or self.ended:
            return
        if self.latest_only:
            self.buffer.clear()
        elif len(self.buffer) >= self.maxsize:
            self.close("the subscriber fell too far behind; resubscribe")
            return
        self.buffer.append(event)
        self._wakeup.set()

    def close(self, reason: str) -> None:
        if self.closed_reason is None:
            self.closed_reason = reason
            self.buffer.clear()
            self._wakeup.set()

    def end(self) -> None:
        """Take nothing more; the events already buffered are still read, then iteration stops
        (a job's stream ends after its last event)."""
        self.ended = True
        self._wakeup.set()

    async def get(self) -> dict[str, Any]:
        while not self.buffer:
            if self.closed_reason is not None:
                raise SubscriptionClosed(self.closed_reason)
            if self.ended:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        return self.buffer.popleft()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> dict[str, Any]:
        return await self.get()


class PubSub:
    def __init__(self, url: str, *, buffer: int = DEFAULT_BUFFER) -> None:
        self.url = url
        self.buffer = buffer
        self.connected = False
        self._backend: BroadcastBackend | None = None
        self._reader: asyncio.Task[None] | None = None
        self._local: dict[str, set[Subscription]] = {}
        self._lock = asyncio.Lock()

    async def connect(self) -> None:
        async with self._lock:
            await self._connect()

    async def _connect(self) -> None:
        backend = make_backend(self.url)
        try:
            await backend.connect()
        except BaseException:
            # The Redis backend starts its listener before it connects: a failed attempt
            # (one per publish while the broker is down) must not leave it behind.
            with suppress(Exception):
                await backend.disconnect()
            raise
        self._backend = backend
        self._reader = asyncio.create_task(self._read(backend))
        self.connected = True

    async def disconnect(self) -> None:
        async with self._lock:
            await self._teardown("the server is shutting down")

    async def _teardown(self, reason: str) -> None:
        self.connected = False
        for subscribers in self._local.values():
            for subscription in subscribers:
                subscription.close(reason)
        self._local.clear()
        reader, self._reader = self._reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await reader
        backend, self._backend = self._backend, None
        if backend is not None:
            with suppress(Exception):
                await backend.disconnect()

    async def _read(self, backend: BroadcastBackend) -> None:
        try:
            while True:
                event = await backend.next_published()
                subscribers = self._local.get(event.channel)
                if not subscribers:
                    continue
                try:
                    payload = SharedEvent(json.loads(event.message))
                except (ValueError, TypeError):
                    # Not ours (another publisher on a shared broker): drop it, keep the stream.
                    log.warning("dropped a malformed event on %s", event.channel)
                    continue
                published_at = payload.pop(PUBLISHED_AT, None)
                if isinstance(published_at, float):
                    lag = max(0.0, time.time() - published_at)
                    PUBSUB_LAG.labels(channel_kind(event.channel)).observe(lag)
                for subscription in list(subscribers):
                    subscription.offer(payload)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("broker connection lost; closing subscriptions", exc_info=True)
            async with self._lock:
                if self._backend is backend:
                    await self._teardown("the event stream was interrupted; resubscribe")

    async def _ensure_connected(self, *, patient: bool) -> BroadcastBackend:
        """The live backend, reconnecting if the broker went away. Subscribers wait a few
        seconds for it; publishers try once (they run in a request that already committed)."""
        if self._backend is None:
            for delay in RECONNECT_DELAY_S if patient else (0.0,):
                try:
                    await self._connect()
                    break
                except Exception:
                    log.warning("broker unavailable")
                    if patient:
                        await asyncio.sleep(delay)
            else:
                raise SubscriptionClosed("the event stream is unavailable; try again later")
        assert self._backend is not None
        return self._backend

    async def publish(self, channel: str, event: dict[str, Any]) -> None:
        """Publish; a broker outage is logged, never turned into a failed request (the work
        is already committed, and subscribers re-read state when they resubscribe)."""
        message = json.dumps({**event, PUBLISHED_AT: time.time()}, default=str)
        try:
            async with self._lock:
                backend = await self._ensure_connected(patient=False)
            await backend.publish(channel, message)
        except Exception:
            log.warning("could not publish on %s", channel, exc_info=True)

    @asynccontextmanager
    async def subscribe(self, channel: str, *, latest_only: bool = False) -> AsyncIterator[Subscription]:
        subscription = Subscription(channel, latest_only=latest_only, maxsize=self.buffer)
        async with self._lock:
            backend = await self._ensure_connected(patient=True)
            subscribers = self._local.get(channel)
            if not subscribers:
                try:
                    await backend.subscribe(channel)
                except Exception as exc:
                    log.warning("broker refused a subscription to %s", channel, exc_info=True)
                    raise SubscriptionClosed("the event stream is unavailable; try again later") from exc
                subscribers = self._local.setdefault(channel, set())
            subscribers.add(subscription)
        try:
            yield subscription
        finally:
            async with self._lock:
                remaining = self._local.get(channel)
                if remaining is not None:
                    remaining.discard(subscription)
                    if not remaining:
                        del self._local[channel]
                        if self._backend is not None:
                            with suppress(Exception):
                                await self._backend.unsubscribe(channel)
