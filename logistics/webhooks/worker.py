"""The delivery worker: claims due deliveries, signs and POSTs them, records every attempt.

Every server process runs one. A delivery is claimed by a committed lease (a conditional
UPDATE, with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two workers never hold it at once.
A worker that dies mid-send leaves the lease to expire (``WEBHOOK_LEASE_S``); another worker,
or the same one restarted, then sends the event again. That is the one case of a second
send besides retries after a failure: delivery is at least once, and receivers drop
duplicates by the event's id.

Sends run side by side, up to ``WEBHOOK_CONCURRENCY``: as one finishes, its slot is refilled
by a new claim, so a slow endpoint holds one slot, never the others' deliveries. Outcomes are
recorded in batches, one transaction for whatever finished together.

Order: per endpoint and job, a delivery is claimable only when no earlier delivery of that job
to that endpoint is still pending. Events of one job therefore arrive one at a time, in
commit order; an event being retried holds back the job's later ones until it is delivered
or given up.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from datetime import datetime, timedelta

import httpx
from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.orm import aliased
from sqlmodel import col

from logistics.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from logistics.models.base import new_id
from logistics.observability.metrics import WEBHOOK_ATTEMPTS, WEBHOOK_BACKLOG, WEBHOOK_DISABLED
from logistics.platform import Platform
from logistics.secrets_box import unseal
from logistics.webhooks.outbox import live_endpoint
from logistics.webhooks.sender import Claimed, Outcome, send

log = logging.getLogger("logistics.webhooks")
BATCH = 100
Attempted = tuple[Claimed, Outcome]


def backoff_s(platform: Platform, attempt: int) -> float:
    """Exponential, capped, with jitter so that an endpoint that comes back is not hit by
    every retry at once."""
    settings = platform.settings
    delay = min(settings.webhook_retry_base_s * 2 ** (attempt - 1), settings.webhook_retry_max_s)
    return delay * random.uniform(0.5, 1.0)  # noqa: S311  (jitter, not a secret)


class WebhookWorker:
    def __init__(
        self,
        platform: Platform,
        *,
        periodic: Sequence[Callable[[Platform], Awaitable[object]]] = (),
        client: httpx.AsyncClient | None = None,
        batch: int = BATCH,
    ) -> None:
        self.platform = platform
        # Checks that write events of their own, run every WEBHOOK_ETA_CHECK_S (the app passes
        # the job core's ETA watch).
        self.periodic = periodic
        self.batch = batch
        self.owner = new_id()
        self._client = client
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._next_check = 0.0
        self._next_expiry = 0.0

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="webhook-worker")

    async def stop(self) -> None:
        """Stop claiming; sends under way get their timeout to finish, so their outcome is
        recorded instead of left to a lease's expiry."""
        self._stopping = True
        self.platform.webhooks_due.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(
                    asyncio.shield(self._task), self.platform.settings.webhook_timeout_s + 2
                )
            except TimeoutError:
                self._task.cancel()
                with suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.platform.settings.webhook_timeout_s, follow_redirects=False
            )
        return self._client

    async def attempt(self, delivery: Claimed) -> Attempted:
        allow = self.platform.settings.webhooks_reach_private_networks
        return delivery, await send(self.client, delivery, allow_private=allow)

    async def run_once(self) -> int:
        """Claim a batch, send it all, record every outcome; the deliveries attempted."""
        await self._housekeeping()
        claimed = await self.claim(self.batch)
        if not claimed:
            return 0
        limit = asyncio.Semaphore(self.platform.settings.webhook_concurrency)

        async def one(delivery: Claimed) -> Attempted:
            async with limit:
                return await self.attempt(delivery)

        await self.record(list(await asyncio.gather(*(one(delivery) for delivery in claimed))))
        return len(claimed)

    async def _run(self) -> None:
        settings = self.platform.settings
        due = self.platform.webhooks_due
        inflight: set[asyncio.Task[Attempted]] = set()
        while not (self._stopping and not inflight):
            try:
                if not self._stopping:
                    await self._housekeeping()
                    room = settings.webhook_concurrency - len(inflight)
                    if room > 0:
                        # Cleared before the claim: a commit after it sets it again.
                        due.clear()
                        for delivery in await self.claim(room):
                            inflight.add(asyncio.create_task(self.attempt(delivery)))
                waiter = asyncio.ensure_future(due.wait())
                try:
                    await asyncio.wait(
                        {*inflight, waiter},
                        timeout=settings.webhook_poll_s,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    waiter.cancel()
                finished = {task for task in inflight if task.done()}
                inflight -= finished
                if finished:
                    await self.record([task.result() for task in finished])
            except asyncio.CancelledError:
                for task in inflight:
                    task.cancel()
                raise
            except Exception:
                # A failed pass (the database briefly away) must not end deliveries for good;
                # what it held is retried once its lease runs out.
                log.exception("webhook pass failed")
                await asyncio.sleep(settings.webhook_poll_s)

    async def _housekeeping(self) -> None:
        """Every 10 s: fail pending deliveries older than the retry horizon (their endpoint was
        disabled meanwhile, say) without another try, and count the backlog; every
        WEBHOOK_ETA_CHECK_S, the periodic checks."""
        platform, now = self.platform, time.monotonic()
        if now >= self._next_check:
            self._next_check = now + platform.settings.webhook_eta_check_s
            for check in self.periodic:
                await check(platform)
        if now < self._next_expiry:
            return
        self._next_expiry = now + 10
        horizon = platform.clock() - timedelta(seconds=platform.settings.webhook_retry_horizon_s)
        pending = col(WebhookDelivery.status) == "pending"
        async with platform.db.unit_of_work() as uow:
            await uow.session.execute(
                update(WebhookDelivery)
                .where(pending, col(WebhookDelivery.created_at) < horizon)
                .values(
                    status="failed", last_error="given up: older than the retry horizon", lease_until=None
                )
            )
            count = select(func.count()).select_from(WebhookDelivery).where(pending)
            WEBHOOK_BACKLOG.set((await uow.session.execute(count)).scalar_one())

    async def claim(self, limit: int) -> list[Claimed]:
        if self._stopping:
            return []
        platform = self.platform
        now = platform.clock()
        d = WebhookDelivery
        earlier = aliased(WebhookDelivery)
        free = or_(col(d.lease_until).is_(None), col(d.lease_until) < now)
        due = (
            select(col(d.id))
            .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(d.endpoint_id))
            .where(
                col(d.status) == "pending",
                col(d.next_attempt_at) <= now,
                free,
                *live_endpoint(),
                ~exists().where(
                    col(earlier.endpoint_id) == col(d.endpoint_id),
                    col(earlier.job_id) == col(d.job_id),
                    col(earlier.status) == "pending",
                    col(earlier.id) < col(d.id),
                ),
            )
            .order_by(col(d.id))
            .limit(limit)
        )
        if not platform.db.is_sqlite:
            due = due.with_for_update(of=d, skip_locked=True)
        lease_until = now + timedelta(seconds=platform.settings.webhook_lease_s)
        async with platform.db.unit_of_work() as uow:
            session = uow.session
            ids = list((await session.execute(due)).scalars())
            if not ids:
                return []
            taken = (
                await session.execute(
                    update(d)
                    .where(col(d.id).in_(ids), free)
                    .values(lease_until=lease_until, lease_owner=self.owner, attempts=col(d.attempts) + 1)
                    .returning(col(d.id), col(d.attempts), col(d.event_id), col(d.endpoint_id))
                )
            ).all()
            events = {
                row.id: row
                for row in await session.execute(
                    select(col(WebhookEvent.id), col(WebhookEvent.type), col(WebhookEvent.body)).where(
                        col(WebhookEvent.id).in_({row.event_id for row in taken})
                    )
                )
            }
            endpoints = {
                endpoint.id: endpoint
                for endpoint in (
                    await session.execute(
                        select(WebhookEndpoint).where(
                            col(WebhookEndpoint.id).in_({row.endpoint_id for row in taken})
                        )
                    )
                ).scalars()
            }
        return [
            Claimed(
                delivery_id=row.id,
                endpoint_id=row.endpoint_id,
                attempt=row.attempts,
                event_id=row.event_id,
                event_type=events[row.event_id].type,
                body=events[row.event_id].body.encode(),
                url=endpoints[row.endpoint_id].url,
                secrets=self.signing_secrets(endpoints[row.endpoint_id], now),
            )
            for row in sorted(taken, key=lambda row: row.id)
        ]

    def signing_secrets(self, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
        settings = self.platform.settings
        secrets = [unseal(settings, endpoint.secret_sealed)["secret"]]
        expires = endpoint.previous_secret_expires_at
        if endpoint.previous_secret_sealed and expires is not None and expires > now:
            secrets.append(unseal(settings, endpoint.previous_secret_sealed)["secret"])
        return secrets

    async def record(self, attempted: list[Attempted]) -> None:
        """Log every attempt and move each delivery on: delivered, due again after a backoff,
        or failed past the horizon; count the endpoints' failures in a row."""
        platform = self.platform
        now = platform.clock()
        for _, outcome in attempted:
            WEBHOOK_ATTEMPTS.labels(outcome.kind).inc()
        attempted = sorted(attempted, key=lambda pair: pair[0].delivery_id)
        async with platform.db.unit_of_work() as uow:
            session = uow.session
            session.add_all(
                WebhookAttempt(
                    delivery_id=delivery.delivery_id,
                    at=now,
                    duration_ms=outcome.duration_ms,
                    status_code=outcome.status_code,
                    error=outcome.error,
                    response_excerpt=outcome.excerpt,
                )
                for delivery, outcome in attempted
            )
            # Endpoints before deliveries, in id order: the order deleting an endpoint takes.
            endpoint_ids = sorted({delivery.endpoint_id for delivery, _ in attempted})
            endpoints = {
                endpoint.id: endpoint
                for endpoint in (
                    await session.execute(
                        select(WebhookEndpoint)
                        .where(col(WebhookEndpoint.id).in_(endpoint_ids))
                        .order_by(col(WebhookEndpoint.id))
                        .with_for_update()
                    )
                ).scalars()
            }
            # Only what this worker still holds: past its lease another worker took over, and
            # that one records its own outcome.
            held = {
                row.id: row
                for row in (
                    await session.execute(
                        select(WebhookDelivery)
                        .where(
                            col(WebhookDelivery.id).in_([delivery.delivery_id for delivery, _ in attempted]),
                            col(WebhookDelivery.lease_owner) == self.owner,
                            col(WebhookDelivery.status) == "pending",
                        )
                        .order_by(col(WebhookDelivery.id))
                        .with_for_update()
                    )
                ).scalars()
            }
            for delivery, outcome in attempted:
                row = held.get(delivery.delivery_id)
                if row is not None:
                    self._move_on(row, endpoints[row.endpoint_id], outcome, now)
            session.add_all([*held.values(), *endpoints.values()])

    def _move_on(
        self, row: WebhookDelivery, endpoint: WebhookEndpoint, outcome: Outcome, now: datetime
    ) -> None:
        settings = self.platform.settings
        row.lease_until = row.lease_owner = None
        row.last_status_code, row.last_error = outcome.status_code, outcome.error
        if outcome.delivered:
            row.status, row.delivered_at = "delivered", now
            endpoint.consecutive_failures = 0
            return
        retry_at = now + timedelta(seconds=backoff_s(self.platform, row.attempts))
        if retry_at > row.created_at + timedelta(seconds=settings.webhook_retry_horizon_s):
            row.status = "failed"
        else:
            row.next_attempt_at = retry_at
        endpoint.consecutive_failures += 1
        if endpoint.enabled and endpoint.consecutive_failures >= settings.webhook_disable_after:
            endpoint.enabled, endpoint.disabled_reason, endpoint.updated_at = False, "failures", now
            WEBHOOK_DISABLED.inc()
