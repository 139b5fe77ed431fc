"""The two kinds of subscriber the hub serves.

- :class:`SocketMember`: one operation on a graphql-transport-ws socket. It is sent the
  group's rendered payload, with its own operation id spliced in front, through the socket's
  :class:`~logistics.live.outbox.Outbox`.
- :class:`InboxMember`: a subscription read in the resolver itself (GraphQL over HTTP, or a
  direct ``schema.subscribe``). It is handed the views, and GraphQL executes them for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson

from logistics.errors import DomainError, ErrorCode
from logistics.live.hub import Watch
from logistics.live.outbox import Outbox
from logistics.pubsub import Subscription, SubscriptionClosed

Recheck = Callable[[], Awaitable[bool]]


class SocketMember:
    __slots__ = ("_done", "_prefix", "_recheck", "_slot", "expires_at", "op_id", "outbox", "sub", "watch")

    def __init__(
        self,
        watch: Watch,
        *,
        sub: str,
        expires_at: float | None,
        recheck: Recheck,
        op_id: str,
        outbox: Outbox,
        done: Callable[[str], None],
    ) -> None:
        self.watch = watch
        self.sub = sub
        self.expires_at = expires_at
        self._recheck = recheck
        self.op_id = op_id
        self.outbox = outbox
        self._done = done
        self._prefix = '{"id":' + orjson.dumps(op_id).decode() + ',"type":"next","payload":'
        self._slot = op_id if watch.latest_only else None

    def deliver(self, payload: Any) -> None:
        self.outbox.put(self._prefix + payload + "}", slot=self._slot)

    def fail(self, error: DomainError) -> None:
        # graphql-transport-ws: an ``error`` ends the operation; no ``complete`` follows it.
        errors = error.graphql_body()["errors"]
        self.outbox.put(orjson.dumps({"id": self.op_id, "type": "error", "payload": errors}).decode())
        self._done(self.op_id)

    def end(self) -> None:
        self.outbox.put(orjson.dumps({"id": self.op_id, "type": "complete"}).decode())
        self._done(self.op_id)

    async def recheck(self) -> bool:
        return await self._recheck()


class InboxMember:
    """Views in a bounded buffer, read by the subscription's own resolver."""

    def __init__(
        self, watch: Watch, *, sub: str, expires_at: float | None, recheck: Recheck, maxsize: int
    ) -> None:
        self.watch = watch
        self.sub = sub
        self.expires_at = expires_at
        self._recheck = recheck
        self.inbox = Subscription(watch.channel, latest_only=watch.latest_only, maxsize=maxsize)
        self.error: DomainError | None = None

    def deliver(self, payload: Any) -> None:
        self.inbox.offer(payload)

    def fail(self, error: DomainError) -> None:
        self.error = error
        self.inbox.close(error.message)

    def end(self) -> None:
        self.inbox.end()

    async def recheck(self) -> bool:
        return await self._recheck()

    async def views(self) -> AsyncIterator[Any]:
        try:
            async for view in self.inbox:
                yield view
        except SubscriptionClosed as closed:
            # Failed by the hub (not allowed any more, token expired), or fell behind.
            raise self.error or DomainError(ErrorCode.UNAVAILABLE, str(closed)) from closed
