"""The GraphQL request context: the caller and the request's unit of work, opened lazily.

Resolvers of one operation share one session. graphql-core runs a query's root fields
concurrently, and a session allows one statement at a time, so each root resolver holds the
context's lock while it works.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from strawberry.fastapi import BaseContext
from strawberry.types import Info

from logistics.auth import Principal
from logistics.db import Transaction
from logistics.errors import DomainError
from logistics.live.hub import Watch
from logistics.live.members import InboxMember, Recheck
from logistics.platform import Ctx, Platform

T = TypeVar("T")
Authorize = Callable[[Ctx], Awaitable[Watch]]


@asynccontextmanager
async def read_ctx(platform: Platform, principal: Principal) -> AsyncIterator[Ctx]:
    async with platform.db.unit_of_work(write=False) as uow:
        yield Ctx(uow=uow, principal=principal, platform=platform)


class GraphQLContext(BaseContext):
    def __init__(self, platform: Platform, authorization: str | None, idempotency_key: str | None) -> None:
        super().__init__()
        self.platform = platform
        self.authorization = authorization
        self.idempotency_key = idempotency_key
        self.write = True
        self.lock = asyncio.Lock()
        self._transaction: Transaction | None = None
        self._ctx: Ctx | None = None
        # Set from the graphql-transport-ws connection_init payload.
        self.connection_params: dict[str, Any] = {}

    def principal(self) -> Principal:
        return self.platform.verifier.principal(self.authorization)

    async def authorized_watch(self, authorize: Authorize) -> tuple[Watch, Principal, Recheck]:
        """Authorize a subscription: its watch, the caller, and how to ask again later."""
        principal = self.principal()
        async with read_ctx(self.platform, principal) as ctx:
            watch = await authorize(ctx)
        platform = self.platform

        async def recheck() -> bool:
            try:
                async with read_ctx(platform, principal) as ctx:
                    await authorize(ctx)
            except DomainError:
                return False
            return True

        return watch, principal, recheck

    async def watch(self, authorize: Authorize) -> AsyncIterator[Any]:
        """The views of an authorized subscription, read here and executed per subscriber (over
        HTTP, or a direct ``schema.subscribe``). Websocket operations share their execution:
        see :class:`logistics.schema.websocket.OperationContext`."""
        watch, principal, recheck = await self.authorized_watch(authorize)
        member = InboxMember(
            watch,
            sub=principal.sub,
            expires_at=principal.expires_at,
            recheck=recheck,
            maxsize=self.platform.settings.subscriber_buffer,
        )
        hub = self.platform.hub
        await hub.join(member)
        try:
            async for view in member.views():
                yield view
        finally:
            hub.leave(member)

    async def resolver_ctx(self) -> Ctx:
        if self._ctx is None:
            principal = self.principal()
            self.platform.rate_limiter.check(principal.sub)
            self._transaction = self.platform.db.transaction(write=self.write)
            uow = await self._transaction.begin()
            self._ctx = Ctx(uow=uow, principal=principal, platform=self.platform)
        return self._ctx

    async def finish(self, *, commit: bool) -> None:
        """Commit (or roll back) what the operation did; its events go out after a commit."""
        transaction, self._transaction, self._ctx = self._transaction, None, None
        if transaction is not None:
            await transaction.finish(commit=commit)


async def call(
    info: Info[GraphQLContext, Any], resolver: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any
) -> T:
    """Run a resolver with the request's ``Ctx``: the one way GraphQL fields reach the domain."""
    context = info.context
    async with context.lock:
        ctx = await context.resolver_ctx()
        return await resolver(ctx, *args, **kwargs)
