"""The customer's side: book from a quote, list, track, change and cancel orders."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlmodel import col

from logistics import ledger
from logistics.config import VehicleType
from logistics.dispatch import offers
from logistics.errors import DomainError, ErrorCode, not_found, validation_failed
from logistics.job import webhook_events
from logistics.job.access import customer_job
from logistics.job.events import watch_feed
from logistics.job.lifecycle import Step, invalid_transition, must_move, record_transition, refused
from logistics.job.status import JobStatus, Trait, is_terminal, stage
from logistics.models import Job, Quote
from logistics.platform import Ctx
from logistics.pricing import PRICED_COLUMNS, price_trip
from logistics.resolvers import idempotency, payments
from logistics.resolvers.pagination import keyset_page
from logistics.resolvers.views import job_view, job_views
from logistics.shapes.jobs import JobPage, JobView
from logistics.shapes.orders import CancelIn, OrderIn, OrderUpdateIn, StopUpdate


async def new_job(
    ctx: Ctx,
    *,
    customer_id: str,
    created_by: str,
    pickup: dict[str, Any],
    dropoff: dict[str, Any],
    items: list[dict[str, Any]],
    vehicle_type: VehicleType | None,
    payment_method: str,
    scheduled_at: datetime | None,
    notes: str | None,
    quote: Quote | None,
) -> Job:
    """A new job in its first status, priced by its quote or, without one, like a quote."""
    if quote is not None:
        priced = {name: getattr(quote, name) for name in PRICED_COLUMNS}
    else:
        priced = price_trip(
            ctx.settings.regions,
            (pickup["point"]["lat"], pickup["point"]["lng"]),
            (dropoff["point"]["lat"], dropoff["point"]["lng"]),
            items,
            vehicle_type,
        ).columns()
    now = ctx.now()
    # Cash and invoice are settled outside the platform's checkout: dispatch starts at once.
    first = JobStatus.SEARCHING if payment_method in ("cash", "invoice") else JobStatus.AWAITING_PAYMENT
    job = Job(
        status=first,
        customer_id=customer_id,
        customer_name=(ctx.principal.name or pickup["contact"]["name"])
        if customer_id == ctx.principal.sub
        else "",
        customer_phone=(ctx.principal.phone or "") if customer_id == ctx.principal.sub else "",
        created_by=created_by,
        creator_id=ctx.principal.sub,
        notes=notes,
        pickup=pickup,
        dropoff=dropoff,
        pickup_lat=pickup["point"]["lat"],
        pickup_lng=pickup["point"]["lng"],
        **priced,
        items=items,
        payment_method=payment_method,
        payment_status="unpaid",
        quote_id=quote.id if quote else None,
        scheduled_at=scheduled_at,
        created_at=now,
        updated_at=now,
    )
    ctx.session.add(job)
    await ctx.session.flush()
    actor = "merchant" if created_by == "merchant" else "customer"
    await watch_feed(ctx, job, new=True)
    await record_transition(ctx, job, first, Step(actor))
    webhook_events.job_created(ctx, job)
    return job


def _merge_stop(stop: dict[str, Any], change: StopUpdate | None, name: str) -> dict[str, Any]:
    if change is None:
        return stop
    if change.address is not None or change.point is not None:
        raise DomainError(
            ErrorCode.VALIDATION_FAILED,
            "a new address needs a new quote",
            {"fields": {f"{name}.address": "cannot change; request a new quote"}},
        )
    merged = dict(stop)
    if change.contact is not None:
        merged["contact"] = change.contact.model_dump(mode="json")
    if change.instructions is not None:
        merged["instructions"] = change.instructions
    return merged


async def create_order(ctx: Ctx, data: OrderIn, *, idempotency_key: str | None = None) -> JobView:
    methods = payments.payment_methods(ctx)
    if data.payment_method.value not in methods:
        raise validation_failed(
            f"{data.payment_method.value} payments are not available",
            payment_method=f"one of {', '.join(methods)}",
        )

    async def create() -> tuple[str, JobView]:
        quote = (
            await ctx.session.execute(select(Quote).where(col(Quote.id) == data.quote_id))
        ).scalar_one_or_none()
        if quote is None or quote.customer_id != ctx.principal.sub:
            raise not_found("quote")
        now = ctx.now()
        # One conditional write claims the quote, so two racing bookings cannot both use it.
        claimed = await ctx.session.execute(
            update(Quote)
            .where(col(Quote.id) == quote.id, col(Quote.used_at).is_(None), col(Quote.expires_at) > now)
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            used = quote.used_at is not None or quote.expires_at > now
            raise DomainError(
                ErrorCode.QUOTE_EXPIRED,
                "this quote was already used" if used else "this quote has expired",
            )
        job = await new_job(
            ctx,
            customer_id=ctx.principal.sub,
            created_by="customer",
            pickup=_merge_stop(quote.pickup, data.pickup, "pickup"),
            dropoff=_merge_stop(quote.dropoff, data.dropoff, "dropoff"),
            items=quote.items,
            vehicle_type=None,
            payment_method=data.payment_method.value,
            scheduled_at=quote.scheduled_at,
            notes=data.notes,
            quote=quote,
        )
        if job.status == JobStatus.SEARCHING:
            await offers.start_dispatch(ctx, job)
        return job.id, await job_view(ctx.session, job, settings=ctx.settings, now=now, viewer="customer")

    async def replay(job_id: str) -> JobView:
        return await get_order(ctx, job_id)

    return await idempotency.once(
        ctx,
        scope="orders.create",
        key=idempotency_key,
        payload=data.model_dump(mode="json"),
        create=create,
        replay=replay,
    )


async def get_order(ctx: Ctx, job_id: str) -> JobView:
    job = await customer_job(ctx, job_id)
    return await job_view(ctx.session, job, settings=ctx.settings, now=ctx.now(), viewer="customer")


async def list_orders(
    ctx: Ctx, *, status: JobStatus | None = None, limit: int = 20, cursor: str | None = None
) -> JobPage:
    query = select(Job).where(col(Job.customer_id) == ctx.principal.sub)
    if status is not None:
        query = query.where(col(Job.status) == status.value)
    jobs, next_cursor = await keyset_page(ctx.session, query, col(Job.id), limit=limit, cursor=cursor)
    views = await job_views(ctx.session, jobs, settings=ctx.settings, now=ctx.now(), viewer="customer")
    return JobPage(items=views, next_cursor=next_cursor)


async def cancel_order(ctx: Ctx, job_id: str, data: CancelIn) -> JobView:
    """Free while nobody has accepted; after that the region's fee, shared with the driver."""
    job = await customer_job(ctx, job_id, lock=True)
    if must_move(job, JobStatus.CANCELLED):
        region = ctx.settings.region(job.region_id)
        fee = 0 if stage(job.status).has(Trait.FREE_CANCEL) else min(region.cancellation_fee, job.price)
        paid = job.payment_status == "paid"
        refund = job.price - fee if paid else 0
        if fee or paid:
            driver_share = fee * region.cancellation_driver_share_bps // 10_000 if job.driver_id else 0
            await ledger.post_cancellation(ctx.session, job, fee=fee, driver_share=driver_share, at=ctx.now())
        if refund:
            await payments.refund_delivery(ctx, job, refund)
        job.cancellation = {
            "by": "customer",
            "reason": data.reason,
            "fee": {"amount": fee, "currency": job.currency},
            "refund": {"amount": refund, "currency": job.currency},
        }
        await offers.job_cancelled(ctx, job)
        await record_transition(ctx, job, JobStatus.CANCELLED, Step("customer", note=data.reason))
    return await job_view(ctx.session, job, settings=ctx.settings, now=ctx.now(), viewer="customer")


async def update_order(ctx: Ctx, job_id: str, data: OrderUpdateIn) -> JobView:
    job = await customer_job(ctx, job_id, lock=True)
    current = stage(job.status)
    if is_terminal(job.status):
        raise invalid_transition(job, job.status)
    if data.pickup is not None and not current.has(Trait.PICKUP_EDITABLE):
        raise refused(job, "the pickup is done; its details can no longer change")
    job.pickup = _merge_stop(job.pickup, data.pickup, "pickup")
    job.dropoff = _merge_stop(job.dropoff, data.dropoff, "dropoff")
    if data.notes is not None:
        job.notes = data.notes
    if data.scheduled_at is not None:
        if not current.has(Trait.FREE_CANCEL):
            raise refused(job, "a driver is already on the way; the time can no longer change")
        if data.scheduled_at < ctx.now():
            raise validation_failed("scheduled_at is in the past", scheduled_at="in the past")
        job.scheduled_at = data.scheduled_at
    job.updated_at = ctx.now()
    ctx.session.add(job)
    await ctx.session.flush()
    return await job_view(ctx.session, job, settings=ctx.settings, now=ctx.now(), viewer="customer")
