"""The platform layer: long-lived services (`Platform`) and what every use case is given (`Ctx`):
the request's unit of work, the caller and the platform. Resolvers, dispatch, webhooks and the
real-time streams all run on a `Ctx`; nothing below this layer knows about requests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from logistics.auth import Principal, TokenVerifier
from logistics.config import Settings
from logistics.db import Database, UnitOfWork
from logistics.models.base import utcnow
from logistics.payments.gateway import ManualPayouts, PaymentGateway, PayoutGateway
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
    # Tests and the dispatch loop replace the clock; nothing reads the wall clock directly.
    clock: Callable[[], datetime] = field(default=utcnow)


@dataclass
class Ctx:
    uow: UnitOfWork
    principal: Principal
    platform: Platform

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
