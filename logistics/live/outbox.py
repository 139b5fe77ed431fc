"""A websocket's outbox: what the server has to say to one client, sent by that socket's own task.

Nothing that fans an event out ever waits on a socket: it puts a frame here and moves on to the
next subscriber. A client that reads slowly only lets its own outbox grow:

- a *slot* (a position stream) holds only the newest frame not yet sent: a late map jumps to
  where the driver is now instead of replaying where it was;
- every other frame counts against ``limit``; one more closes the socket with
  :data:`SLOW_CONSUMER` and a reason, and the client reconnects and reads the current state,
  rather than silently missing a status change or a message.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from contextlib import suppress
from typing import Any

log = logging.getLogger("logistics.live")

# A private close code (4000-4999): the client fell too far behind to be kept.
SLOW_CONSUMER = 4008


class _Slot:
    __slots__ = ("key", "text")

    def __init__(self, key: str, text: str) -> None:
        self.key = key
        self.text = text


async def _resume(coro: Coroutine[Any, Any, None], waiting: Any) -> None:
    """Finish a coroutine that was started by hand and paused on ``waiting`` (what it
    yielded: a future, or None for a bare yield)."""
    try:
        while True:
            if waiting is None:
                await asyncio.sleep(0)
            else:
                # What a task does with a future its coroutine yields; awaiting it again with
                # the flag still set is refused ("await wasn't used with future").
                waiting._asyncio_future_blocking = False
                await waiting
            try:
                waiting = coro.send(None)
            except StopIteration:
                return
    except BaseException:
        # Cancelled (the socket is being torn down) or its future failed: the write is
        # abandoned. Closing it, rather than throwing into it, leaves it no way to catch the
        # cancellation and wait on something that will never come.
        with suppress(RuntimeError):
            coro.close()
        raise


class Outbox:
    """Frames for one socket, in order. A frame put while nothing is waiting is written at
    once, in the caller's step: a write to a socket whose buffer has room completes without
    suspending, so a fan-out pays no task switch per socket. A write that must wait (the
    client is not reading) continues in the socket's own task, and what is put meanwhile
    queues behind it."""

    def __init__(
        self,
        send: Callable[[str], Coroutine[Any, Any, None]],
        close: Callable[[int, str], Coroutine[Any, Any, None]],
        *,
        limit: int,
    ) -> None:
        self._send = send
        self._close = close
        self.limit = limit
        self._queue: deque[str | _Slot] = deque()
        self._slots: dict[str, _Slot] = {}
        self._counted = 0
        self._task: asyncio.Task[None] | None = None
        self.closed = False

    def put(self, text: str, *, slot: str | None = None) -> None:
        """Send a frame, or queue it behind a write in progress; with ``slot``, a queued frame
        of that slot is replaced instead."""
        if self.closed:
            return
        if self._task is None:
            self._send_now(text)
            return
        if slot is not None:
            waiting = self._slots.get(slot)
            if waiting is not None:
                waiting.text = text
                return
            new = self._slots[slot] = _Slot(slot, text)
            item: str | _Slot = new
        else:
            if self._counted >= self.limit:
                self._overflow()
                return
            self._counted += 1
            item = text
        self._queue.append(item)

    def _send_now(self, text: str) -> None:
        coro = self._send(text)
        try:
            waiting = coro.send(None)
        except StopIteration:
            return
        except Exception:
            self._broken()
            return
        self._task = asyncio.create_task(self._finish_then_drain(coro, waiting), name="outbox")

    def forget(self, slot: str) -> None:
        """Drop a slot's waiting frame (its operation ended before it went out)."""
        waiting = self._slots.pop(slot, None)
        if waiting is not None:
            with suppress(ValueError):
                self._queue.remove(waiting)

    @property
    def pending(self) -> int:
        return len(self._queue)

    def _overflow(self) -> None:
        self._broken()
        reason = f"slow consumer: more than {self.limit} messages waiting; reconnect"
        task = asyncio.create_task(self._close(SLOW_CONSUMER, reason))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        if self._task is not None:
            self._task.cancel()

    def _broken(self) -> None:
        # The socket went away (or is being closed): the connection's handler cleans up.
        self.closed = True
        self._queue.clear()
        self._slots.clear()

    async def _finish_then_drain(self, coro: Coroutine[Any, Any, None], waiting: Any) -> None:
        queue = self._queue
        try:
            await _resume(coro, waiting)
            while queue:
                item = queue.popleft()
                if isinstance(item, _Slot):
                    del self._slots[item.key]
                    text = item.text
                else:
                    self._counted -= 1
                    text = item
                await self._send(text)
        except asyncio.CancelledError:
            raise
        except Exception:
            self._broken()
            log.debug("outbox stopped", exc_info=True)
        finally:
            self._task = None

    async def close(self) -> None:
        self._broken()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await task
