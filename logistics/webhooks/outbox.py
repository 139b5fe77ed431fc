"""Webhook events, written in the transaction of the change they report.

A use case calls :func:`emit`; just before the commit, the events are written with one
delivery row per endpoint that wants them. A rolled-back change therefore leaves nothing to
send, and a committed one cannot lose its events in a crash. Events nobody listens to are not
stored.

Order: for one job, deliveries are numbered in commit order. On PostgreSQL the job's row is
locked before they are written (a no-op for the many use cases that already hold it), so two
transactions on one job number their deliveries one after the other; SQLite has one writer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, or_, select
from sqlmodel import col

from logistics.models import Job, WebhookDelivery, WebhookEndpoint, WebhookEvent
from logistics.models.base import new_id
from logistics.platform import Ctx
from logistics.shapes.webhooks import WebhookEventType

_PENDING = "webhooks.pending"
API_VERSION = "2026-12-01"


@dataclass(frozen=True)
class Pending:
    type: WebhookEventType
    job_id: str
    data: dict[str, Any]
    at: datetime


def emit(ctx: Ctx, job_id: str, type: WebhookEventType, data: dict[str, Any]) -> None:
    """Queue an event about ``job_id``; it is written just before the transaction commits."""
    pending: list[Pending] | None = ctx.uow.notes.get(_PENDING)
    if pending is None:
        pending = ctx.uow.notes[_PENDING] = []
        queued = pending

        async def write() -> None:
            await write_events(ctx, queued)

        ctx.uow.before_commit(write)
    pending.append(Pending(type, job_id, data, ctx.now()))


def body(event_id: str, pending: Pending) -> str:
    envelope = {
        "id": event_id,
        "type": pending.type.value,
        "created_at": pending.at,
        "api_version": API_VERSION,
        "data": pending.data,
    }
    return orjson.dumps(envelope, option=orjson.OPT_UTC_Z).decode()


def live_endpoint() -> tuple[ColumnElement[bool], ...]:
    """An endpoint that is sent events: enabled, and not deleted."""
    return col(WebhookEndpoint.enabled).is_(True), col(WebhookEndpoint.deleted_at).is_(None)


def wake_worker(ctx: Ctx) -> None:
    """Once this transaction commits, this process's webhook worker looks at once instead of
    at its next poll."""
    due = ctx.platform.webhooks_due

    async def wake() -> None:
        due.set()

    ctx.uow.after_commit(wake)


def listening(endpoint: WebhookEndpoint, type: str, owners: Iterable[str]) -> bool:
    return type in endpoint.event_types and (endpoint.owner_role == "ops" or endpoint.owner_id in owners)


async def endpoints_for(ctx: Ctx, owners: set[str]) -> list[WebhookEndpoint]:
    """The live endpoints that may hear of jobs of these owners: theirs and every ops one."""
    query = select(WebhookEndpoint).where(
        *live_endpoint(),
        or_(col(WebhookEndpoint.owner_role) == "ops", col(WebhookEndpoint.owner_id).in_(sorted(owners))),
    )
    return list((await ctx.session.execute(query)).scalars())


async def write_events(ctx: Ctx, pending: list[Pending]) -> None:
    job_ids = sorted({event.job_id for event in pending})
    rows = (
        await ctx.session.execute(
            select(col(Job.id), col(Job.customer_id), col(Job.creator_id)).where(col(Job.id).in_(job_ids))
        )
    ).all()
    owners_of = {row.id: (row.customer_id, row.creator_id) for row in rows}
    endpoints = await endpoints_for(ctx, {owner for pair in owners_of.values() for owner in pair})
    if not endpoints:
        return
    matched = [
        (event, [ep for ep in endpoints if listening(ep, event.type.value, owners_of.get(event.job_id, ()))])
        for event in pending
    ]
    matched = [(event, eps) for event, eps in matched if eps]
    if not matched:
        return
    locked = sorted({event.job_id for event, _ in matched})
    # Taken in id order, like every other multi-job lock, and held to the commit.
    await ctx.session.execute(
        select(col(Job.id))
        .where(col(Job.id).in_(locked))
        .order_by(col(Job.id))
        .with_for_update(key_share=True)
    )
    stored = [(new_id(), event, eps) for event, eps in matched]
    ctx.session.add_all(
        WebhookEvent(
            id=event_id,
            type=event.type.value,
            job_id=event.job_id,
            body=body(event_id, event),
            created_at=event.at,
        )
        for event_id, event, _ in stored
    )
    # Events first: with no relationship declared, the session does not order the two tables.
    await ctx.session.flush()
    ctx.session.add_all(
        WebhookDelivery(
            event_id=event_id,
            endpoint_id=endpoint.id,
            job_id=event.job_id,
            next_attempt_at=event.at,
            created_at=event.at,
        )
        for event_id, event, eps in stored
        for endpoint in eps
    )
    await ctx.session.flush()
    wake_worker(ctx)
