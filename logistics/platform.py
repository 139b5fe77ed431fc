"""The platform layer: long-lived services (`Platform`) and what every use case is given (`Ctx`):
the request's unit of work, the caller and the platform. Resolvers, dispatch, webhooks and the
real-time streams all run on a `Ctx`; nothing below this layer knows about requests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from logistics.auth import Principal, TokenVerifier
from logistics.config import Settings
from logistics.db import Database, Transaction, UnitOfWork
from logistics.dispatch.follow import IndexSync
from logistics.dispatch.index import DriverIndex
from logistics.live.hub import Hub
from logistics.models.base import utcnow
from logistics.payments.gateway import ManualPayouts, PaymentGateway, PayoutGateway
from logistics.positions import PositionBuffer
from logistics.pubsub import PubSub
from logistics.ratelimit import RateLimiter
from logistics.storage import Storage


@dataclass
class Platform:
    """Long-lived services, built once by the app's lifespan."""

    settings: Settings
    db: Database
    storage: Storage
    verifier: TokenVerifier
    pubsub: PubSub
    gateways: dict[str, PaymentGateway] = field(default_factory=dict)
    payouts: PayoutGateway = field(default_factory=ManualPayouts)
    rate_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(0))
    positions: PositionBuffer = field(init=False)
    hub: Hub = field(init=False)
    # The drivers dispatch may consider, in memory, and what keeps them current.
    drivers: DriverIndex = field(init=False)
    driver_sync: IndexSync = field(init=False)
    # Tests and the dispatch loop replace the clock; nothing reads the wall clock directly.
    clock: Callable[[], datetime] = field(default=utcnow)
    # Set when a commit wrote webhook deliveries: this process's worker looks at once
    # instead of at its next poll.
    webhooks_due: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.hub = Hub(self.pubsub)
        self.drivers = DriverIndex()
        self.driver_sync = IndexSync(self.drivers, self.db, self.pubsub)
        self.positions = PositionBuffer(
            self.db,
            interval_s=self.settings.location_flush_s,
            stale_after_s=self.settings.location_stale_after_s,
            # Read at each call: tests replace the platform's clock after it is built.
            clock=lambda: self.clock(),
        )


class Ctx:
    """What a use case is given. The unit of work is either open (``uow``) or opened on first
    use by :meth:`begin` (``transaction``): a ping that needs no database never opens one."""

    def __init__(
        self,
        uow: UnitOfWork | None = None,
        *,
        principal: Principal,
        platform: Platform,
        transaction: Transaction | None = None,
    ) -> None:
        if uow is None and transaction is None:
            raise ValueError("a Ctx needs a unit of work or a transaction to open one")
        self._uow = uow
        self._transaction = transaction
        self.principal = principal
        self.platform = platform

    async def begin(self) -> UnitOfWork:
        if self._uow is None:
            assert self._transaction is not None
            self._uow = await self._transaction.begin()
        return self._uow

    @property
    def uow(self) -> UnitOfWork:
        if self._uow is None:
            raise RuntimeError("the unit of work is not open yet: await ctx.begin() first")
        return self._uow

    @property
    def session(self) -> AsyncSession:
        return self.uow.session

    @property
    def settings(self) -> Settings:
        return self.platform.settings

    def now(self) -> datetime:
        return self.platform.clock()

    def publish(self, channel: str, event: dict[str, Any]) -> None:
        """Queue an event; it goes out only if the transaction commits."""
        pubsub = self.platform.pubsub

        async def send() -> None:
            await pubsub.publish(channel, event)

        self.uow.after_commit(send)
