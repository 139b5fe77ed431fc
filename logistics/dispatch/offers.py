"""Offers: one live offer per job and per driver, re-offered on reject or expiry.

Every function runs inside the caller's unit of work (a request's, or the dispatch loop's),
so an offer, its timeline effects and its events commit or roll back together.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, union_all
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from logistics.auth import ACTIVE_STATUSES
from logistics.dispatch.candidates import nearest_drivers, vehicle_types_for
from logistics.errors import DomainError, ErrorCode
from logistics.geo import bounding_box, haversine_m
from logistics.models import Driver, Job, JobOffer, JobRejection
from logistics.pricing import driver_can_take
from logistics.pubsub import job_channel, offers_channel
from logistics.resolvers.context import Ctx
from logistics.shapes.events import JobOfferEvent, JobUpdate

# A driver coming online is offered the nearest open job within this distance.
NEARBY_JOB_RADIUS_M = 5_000


async def live_offer(ctx: Ctx, job_id: str) -> JobOffer | None:
    query = select(JobOffer).where(col(JobOffer.job_id) == job_id, col(JobOffer.status) == "pending")
    return (await ctx.session.execute(query)).scalar_one_or_none()


async def _close_offer(ctx: Ctx, offer: JobOffer, status: str, reason: str | None) -> None:
    offer.status = status
    offer.reason = reason
    offer.responded_at = ctx.now()
    ctx.session.add(offer)
    await ctx.session.flush()


async def _create_offer(ctx: Ctx, job: Job, driver: Driver, distance_m: float) -> JobOffer | None:
    """Insert the offer; None if the database refuses it (a live offer appeared meanwhile)."""
    now = ctx.now()
    offer = JobOffer(
        job_id=job.id,
        driver_id=driver.id,
        distance_m=round(distance_m),
        offered_at=now,
        expires_at=now + timedelta(seconds=ctx.settings.offer_ttl_s),
    )
    try:
        async with ctx.session.begin_nested():
            ctx.session.add(offer)
            await ctx.session.flush()
    except IntegrityError:
        return None
    job.offer_count += 1
    job.dispatch_after = None
    ctx.session.add(job)
    await ctx.session.flush()
    event = JobOfferEvent.model_validate(
        {
            "offer_id": offer.id,
            "job_id": job.id,
            "expires_at": offer.expires_at,
            "pickup": {"lat": job.pickup_lat, "lng": job.pickup_lng},
            "distance_m": offer.distance_m,
            "driver_earnings": {"amount": job.driver_earnings, "currency": job.currency},
        }
    )
    ctx.publish(offers_channel(driver.id), event.model_dump(mode="json"))
    _announce_dispatch(ctx, job, "offered")
    return offer


def _announce_dispatch(ctx: Ctx, job: Job, state: str) -> None:
    """Tell the customer's ``jobUpdated`` that dispatch is at work (status stays searching)."""
    update = JobUpdate.model_validate(
        {
            "job_id": job.id,
            "status": job.status,
            "previous": job.status,
            "at": ctx.now(),
            "dispatch": {"state": state, "offers": job.offer_count},
        }
    )
    ctx.publish(job_channel(job.id), update.model_dump(mode="json"))


async def offer_job_to_next_driver(ctx: Ctx, job: Job) -> JobOffer | None:
    """Offer a searching job to the nearest eligible driver not yet offered it.

    After ``dispatch_max_offers`` offers, or with nobody in range, the job waits in the open
    feed; with nobody in range the loop looks again after ``dispatch_retry_s``.
    """
    settings = ctx.settings
    if job.status != "searching" or job.driver_id is not None or await live_offer(ctx, job.id) is not None:
        return None
    if job.offer_count >= settings.dispatch_max_offers:
        job.dispatch_after = None
        ctx.session.add(job)
        _announce_dispatch(ctx, job, "open_feed")
        return None
    candidates = await nearest_drivers(
        ctx.session,
        lat=job.pickup_lat,
        lng=job.pickup_lng,
        vehicle_types=vehicle_types_for(job.vehicle_type),
        now=ctx.now(),
        max_age_s=settings.location_stale_after_s,
        max_radius_m=settings.dispatch_max_radius_m,
        job_id=job.id,
        want=3,
        lock=not ctx.platform.db.is_sqlite,
    )
    for candidate in candidates:
        offer = await _create_offer(ctx, job, candidate.driver, candidate.distance_m)
        if offer is not None:
            return offer
    job.dispatch_after = ctx.now() + timedelta(seconds=settings.dispatch_retry_s)
    ctx.session.add(job)
    await ctx.session.flush()
    _announce_dispatch(ctx, job, "searching")
    return None


async def expire_offer(ctx: Ctx, offer: JobOffer, job: Job) -> JobOffer | None:
    """The offered driver did not answer in time: the next driver gets the job."""
    await _close_offer(ctx, offer, "expired", "no answer before the offer expired")
    return await offer_job_to_next_driver(ctx, job)


async def driver_passed(ctx: Ctx, job: Job, driver: Driver, reason: str) -> None:
    """A driver rejected the job: close its live offer and offer the job to the next one."""
    offer = await live_offer(ctx, job.id)
    if offer is not None and offer.driver_id == driver.id:
        await _close_offer(ctx, offer, "rejected", reason)
        await offer_job_to_next_driver(ctx, job)


async def job_taken(ctx: Ctx, job: Job, driver: Driver) -> None:
    """The job was accepted: its live offer is accepted (the driver's own) or, lapsed, expired;
    the driver's offer of any other job moves on to the next driver.

    A live offer to another driver made while the accepting UPDATE waited for the job's row
    (PostgreSQL re-checks that UPDATE against the row only, not against new offers) wins:
    the accept is refused with ``OFFER_TAKEN`` and rolled back.
    """
    offer = await live_offer(ctx, job.id)
    if offer is not None:
        if offer.driver_id == driver.id:
            await _close_offer(ctx, offer, "accepted", None)
        elif offer.expires_at <= ctx.now():
            await _close_offer(ctx, offer, "expired", "no answer before the offer expired")
        else:
            raise DomainError(ErrorCode.OFFER_TAKEN, "another driver has taken this job")
    job.dispatch_after = None
    ctx.session.add(job)
    await withdraw_offers_of(ctx, driver, reason="the driver took another job")


async def job_cancelled(ctx: Ctx, job: Job) -> None:
    offer = await live_offer(ctx, job.id)
    if offer is not None:
        await _close_offer(ctx, offer, "withdrawn", "the job was cancelled")
    job.dispatch_after = None
    ctx.session.add(job)


async def offer_nearby_job_to_driver(ctx: Ctx, driver: Driver) -> JobOffer | None:
    """A driver came online: offer it the nearest open job that waits without a live offer.

    Only a driver dispatch could pick itself: with a fresh position and no job or offer yet.
    """
    if driver.lat is None or driver.lng is None or not driver.online or driver.status != "approved":
        return None
    fresh_since = ctx.now() - timedelta(seconds=ctx.settings.location_stale_after_s)
    if driver.location_recorded_at is None or driver.location_recorded_at < fresh_since:
        return None
    live_offer_or_job = union_all(
        select(col(JobOffer.id)).where(
            col(JobOffer.driver_id) == driver.id, col(JobOffer.status) == "pending"
        ),
        select(col(Job.id)).where(col(Job.driver_id) == driver.id, col(Job.status).in_(ACTIVE_STATUSES)),
    )
    if (await ctx.session.execute(live_offer_or_job)).first() is not None:
        return None
    min_lat, max_lat, min_lng, max_lng = bounding_box(driver.lat, driver.lng, NEARBY_JOB_RADIUS_M)
    offered_before = select(col(JobOffer.job_id)).where(col(JobOffer.driver_id) == driver.id)
    rejected = select(col(JobRejection.job_id)).where(col(JobRejection.driver_id) == driver.id)
    live = select(col(JobOffer.job_id)).where(col(JobOffer.status) == "pending")
    query = select(Job).where(
        col(Job.status) == "searching",
        col(Job.driver_id).is_(None),
        col(Job.pickup_lat).between(min_lat, max_lat),
        col(Job.pickup_lng).between(min_lng, max_lng),
        col(Job.id).not_in(offered_before),
        col(Job.id).not_in(rejected),
        col(Job.id).not_in(live),
        # The driver's own orders: it could not accept them.
        col(Job.customer_id) != driver.user_id,
        col(Job.creator_id) != driver.user_id,
    )
    if not ctx.platform.db.is_sqlite:
        query = query.with_for_update(skip_locked=True)
    jobs = (await ctx.session.execute(query.limit(200))).scalars().all()
    nearby = sorted(
        (
            (haversine_m(driver.lat, driver.lng, job.pickup_lat, job.pickup_lng), job.id, job)
            for job in jobs
            if driver_can_take(driver.vehicle_type, job.vehicle_type)
        ),
    )
    for distance, _, job in nearby:
        if distance <= NEARBY_JOB_RADIUS_M:
            offer = await _create_offer(ctx, job, driver, distance)
            if offer is not None:
                return offer
    return None


async def expire_due_offers(ctx: Ctx, *, limit: int = 100) -> int:
    """Expire offers past their time and re-offer their jobs. Returns how many expired."""
    query = (
        select(JobOffer, Job)
        .join(Job, col(Job.id) == col(JobOffer.job_id))
        .where(col(JobOffer.status) == "pending", col(JobOffer.expires_at) <= ctx.now())
        .order_by(col(JobOffer.expires_at))
        .limit(limit)
    )
    if not ctx.platform.db.is_sqlite:
        # Several processes run this loop: each claims rows the others are not working on.
        # The offer and its job are claimed together, and skipped if either is held: an
        # accept or a cancel locks the job and then closes the offer, so waiting here for
        # the job while holding the offer would deadlock with them. A skipped offer is
        # expired by a later pass if it is still pending then.
        query = query.with_for_update(skip_locked=True, key_share=True)
    claimed = (await ctx.session.execute(query)).all()
    for offer, job in claimed:
        await expire_offer(ctx, offer, job)
    return len(claimed)


async def dispatch_waiting_jobs(ctx: Ctx, *, limit: int = 50) -> int:
    """Offer jobs whose dispatch is due (new, or retrying after nobody was in range)."""
    query = (
        select(Job)
        .where(
            col(Job.status) == "searching",
            col(Job.driver_id).is_(None),
            col(Job.dispatch_after) <= ctx.now(),
        )
        .order_by(col(Job.dispatch_after))
        .limit(limit)
    )
    if not ctx.platform.db.is_sqlite:
        query = query.with_for_update(skip_locked=True)
    jobs = (await ctx.session.execute(query)).scalars().all()
    for job in jobs:
        await offer_job_to_next_driver(ctx, job)
    return len(jobs)


async def withdraw_offers_of(ctx: Ctx, driver: Driver, *, reason: str = "the driver went offline") -> None:
    """A driver going offline (or taking another job) gives back its live offer, which moves
    on at once."""
    offers = (
        (
            await ctx.session.execute(
                select(JobOffer).where(
                    col(JobOffer.driver_id) == driver.id, col(JobOffer.status) == "pending"
                )
            )
        )
        .scalars()
        .all()
    )
    for offer in offers:
        # The job's row first, then its offer, in the order accept and cancel take them.
        job_query = select(Job).where(col(Job.id) == offer.job_id)
        if not ctx.platform.db.is_sqlite:
            job_query = job_query.with_for_update(key_share=True)
        job = (await ctx.session.execute(job_query.execution_options(populate_existing=True))).scalar_one()
        # While this waited for the job, the offer may have been answered or expired.
        await ctx.session.refresh(offer)
        if offer.status != "pending":
            continue
        await _close_offer(ctx, offer, "withdrawn", reason)
        await offer_job_to_next_driver(ctx, job)
