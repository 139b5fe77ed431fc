"""The broker connections behind :mod:`logistics.pubsub`: broadcaster 0.3.1's backends, with
their faults fixed in subclasses.

- Its Redis backend reports ready before it has subscribed (with redis-py 8 it then never
  receives anything), and hangs when its connection drops.
- Its PostgreSQL backend shares one connection between concurrent publishes, and does not
  notice a lost connection.

Both now end ``next_published`` with ``ConnectionError`` when the broker goes away, which the
hub turns into closed subscriptions and a reconnect.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from urllib.parse import urlparse

from broadcaster import Event
from broadcaster._backends.base import BroadcastBackend
from broadcaster._backends.memory import MemoryBackend


def _redis_backend(url: str) -> BroadcastBackend:
    from broadcaster._backends.redis import RedisBackend

    class ReadyAfterSubscribeRedisBackend(RedisBackend):
        async def subscribe(self, channel: str) -> None:
            # Subscribe first, then wake the listener: redis-py's listen() returns at once
            # when nothing is subscribed yet, and the stock backend would then wait forever.
            await self._pubsub.subscribe(channel)
            self._ready.set()

        async def _pubsub_listener(self) -> None:
            while True:
                await self._ready.wait()
                async for message in self._pubsub.listen():
                    if message["type"] == "message":
                        # Anyone may publish to the broker: bytes that are not UTF-8 must not
                        # kill the listener (the hub drops what it cannot decode).
                        data = message["data"].decode(errors="replace")
                        await self._queue.put(Event(message["channel"].decode(), data))
                if not self._pubsub.subscribed:
                    self._ready.clear()

        async def disconnect(self) -> None:
            # The stock backend cancels its listener without waiting for it; a loop that
            # closes right after then destroys the still-pending task.
            try:
                await super().disconnect()
            finally:
                if self._listener is not None:
                    self._listener.cancel()
                    await asyncio.wait({self._listener})

        async def next_published(self) -> Event:
            # Surface a dead listener (broker gone) instead of waiting on its queue forever.
            getter = asyncio.ensure_future(self._queue.get())
            listener = self._listener
            assert listener is not None
            try:
                done, _ = await asyncio.wait({getter, listener}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                # Cancelled (the hub shuts down) or the listener died: leave no getter behind.
                if not getter.done():
                    getter.cancel()
            if getter in done:
                return getter.result()
            error = listener.exception() if not listener.cancelled() else None
            raise ConnectionError(f"broker listener stopped: {error!r}")

    return ReadyAfterSubscribeRedisBackend(url)


# asyncpg reports a connection the server ended or whose socket closed, but not a peer that
# went silent (a dead host, a dropped route): that one is found by a query left unanswered
# this long, asked this often.
POSTGRES_PROBE_S = 10.0


def _postgres_backend(url: str) -> BroadcastBackend:
    from broadcaster._backends.postgres import PostgresBackend

    class SerialisedPostgresBackend(PostgresBackend):
        """One asyncpg connection serves every call: concurrent publishes must take turns.
        Losing it ends ``next_published`` with ``ConnectionError``, as on Redis."""

        def __init__(self, url: str) -> None:
            super().__init__(url)
            self._lock = asyncio.Lock()
            self._terminated = asyncio.Event()
            self._watcher: asyncio.Task[str] | None = None

        async def connect(self) -> None:
            await super().connect()
            self._conn.add_termination_listener(lambda _conn: self._terminated.set())
            self._watcher = asyncio.create_task(self._watch())

        async def _watch(self) -> str:
            """Returns, with the reason, once the connection is lost."""
            while True:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._terminated.wait(), POSTGRES_PROBE_S)
                if self._terminated.is_set():
                    return "the PostgreSQL connection was closed"
                try:
                    # The lock counts towards the limit: a publish stuck on a silent peer
                    # holds it, and is released (with an error) by the terminate below.
                    async with asyncio.timeout(POSTGRES_PROBE_S), self._lock:
                        await self._conn.execute("SELECT 1")
                except Exception as exc:
                    self._conn.terminate()
                    return f"the PostgreSQL connection stopped answering: {exc!r}"

        async def disconnect(self) -> None:
            # Stop watching first: this close is no loss to report. Bounded, because closing
            # waits for an answer that a silent peer never sends.
            watcher, self._watcher = self._watcher, None
            if watcher is not None:
                watcher.cancel()
                await asyncio.wait({watcher})
            await self._conn.close(timeout=POSTGRES_PROBE_S)

        async def next_published(self) -> Event:
            # Notifications that arrived before a loss are still delivered, then the loss is.
            if not self._listen_queue.empty():
                return self._listen_queue.get_nowait()
            getter = asyncio.ensure_future(self._listen_queue.get())
            watcher = self._watcher
            assert watcher is not None
            try:
                done, _ = await asyncio.wait({getter, watcher}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not getter.done():
                    getter.cancel()
            if getter in done:
                return getter.result()
            reason = watcher.result() if not watcher.cancelled() else "the broker was disconnected"
            raise ConnectionError(reason)

        async def publish(self, channel: str, message: str) -> None:
            async with self._lock:
                await super().publish(channel, message)

        async def subscribe(self, channel: str) -> None:
            async with self._lock:
                await super().subscribe(channel)

        async def unsubscribe(self, channel: str) -> None:
            async with self._lock:
                await super().unsubscribe(channel)

    return SerialisedPostgresBackend(url)


def make_backend(url: str) -> BroadcastBackend:
    scheme = urlparse(url).scheme
    if scheme == "memory":
        return MemoryBackend(url)
    if scheme in ("redis", "rediss"):
        return _redis_backend(url)
    if scheme in ("postgres", "postgresql"):
        return _postgres_backend(url)
    raise ValueError(f"unsupported broadcast URL scheme: {scheme!r}")
