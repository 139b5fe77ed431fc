"""Offers: one live offer per job and per driver, re-offered on reject or expiry.

Every function runs inside the caller's unit of work (a request's, or the dispatch loop's),
so an offer, its timeline effects and its events commit or roll back together.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from logistics.config import Settings
from logistics.dispatch.candidates import why_nobody
from logistics.dispatch.search import nearest_for_job
from logistics.errors import DomainError, ErrorCode
from logistics.geo import bounding_box, haversine_m
from logistics.job import feed
from logistics.job.events import announce_dispatch, watch_feed
from logistics.job.status import JobStatus
from logistics.models import Driver, Job, JobEvent, JobOffer
from logistics.observability.metrics import OFFERS, TIME_TO_ASSIGN
from logistics.platform import Ctx
from logistics.pubsub import offers_channel
from logistics.shapes.dispatch import DispatchProgress
from logistics.shapes.events import JobOfferEvent

# A driver coming online is offered the nearest open job within this distance.
NEARBY_JOB_RADIUS_M = 5_000


async def live_offer(ctx: Ctx, job_id: str) -> JobOffer | None:
    query = select(JobOffer).where(col(JobOffer.job_id) == job_id, col(JobOffer.status) == "pending")
    return (await ctx.session.execute(query)).scalar_one_or_none()


def _count_on_commit(ctx: Ctx, outcome: str) -> None:
    """Count an offer's outcome once it is committed: a rolled-back pass offered nothing."""
    counter = OFFERS[outcome]

    async def count() -> None:
        counter.inc()

    ctx.uow.after_commit(count)


async def _close_offer(ctx: Ctx, job: Job, offer: JobOffer, status: str, reason: str | None) -> None:
    await watch_feed(ctx, job)
    offer.status = status
    offer.reason = reason
    offer.responded_at = ctx.now()
    ctx.session.add(offer)
    await ctx.session.flush()
    _count_on_commit(ctx, status)


async def create_offer(
    ctx: Ctx,
    job: Job,
    driver: Driver,
    distance_m: float,
    *,
    window_at: datetime | None = None,
    cost_m: int | None = None,
) -> JobOffer | None:
    """Insert the offer; None if the database refuses it (a live offer appeared meanwhile)."""
    await watch_feed(ctx, job)
    now = ctx.now()
    offer = JobOffer(
        job_id=job.id,
        driver_id=driver.id,
        distance_m=round(distance_m),
        offered_at=now,
        expires_at=now + timedelta(seconds=ctx.settings.offer_ttl_s),
        window_at=window_at,
        cost_m=cost_m,
    )
    try:
        async with ctx.session.begin_nested():
            ctx.session.add(offer)
            await ctx.session.flush()
    except IntegrityError:
        return None
    job.offer_count += 1
    job.dispatch_after = None
    job.dispatch_waiting = None
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
    announce_dispatch(ctx, job, "offered")
    _count_on_commit(ctx, "offered")
    return offer


def progress(settings: Settings, job: Job, *, live: bool) -> DispatchProgress | None:
    """Where dispatch stands for a searching job: an offer is live, it still looks (and why
    nobody could be offered it last time), or its offers ran out and it waits in the feed."""
    if job.status != JobStatus.SEARCHING or job.driver_id is not None:
        return None
    if live:
        state = "offered"
    else:
        state = "open_feed" if job.offer_count >= settings.dispatch_max_offers else "searching"
    return DispatchProgress.model_validate(
        {"state": state, "offers": job.offer_count, "waiting": job.dispatch_waiting}
    )


async def start_dispatch(ctx: Ctx, job: Job) -> None:
    """A job has entered ``searching``: offer it to the nearest driver now; if nobody is in
    range, the dispatch loop tries again later."""
    job.dispatch_after = ctx.now()
    ctx.session.add(job)
    if batched(ctx):
        return  # the next window matches it with every other waiting job
    await offer_job_to_next_driver(ctx, job)


def batched(ctx: Ctx) -> bool:
    return ctx.settings.dispatch_mode == "batch"


def open_to_feed(ctx: Ctx, job: Job) -> None:
    """Its offers ran out: the job waits in the open feed, where any driver may take it."""
    job.dispatch_after = None
    job.dispatch_waiting = None
    ctx.session.add(job)
    announce_dispatch(ctx, job, "open_feed")


async def offer_job_to_next_driver(ctx: Ctx, job: Job) -> JobOffer | None:
    """Offer a searching job to the nearest eligible driver not yet offered it.

    After ``dispatch_max_offers`` offers, or with nobody in range, the job waits in the open
    feed; with nobody in range the loop looks again after ``dispatch_retry_s``.
    """
    settings = ctx.settings
    if job.status != JobStatus.SEARCHING or job.driver_id is not None:
        return None
    if await live_offer(ctx, job.id) is not None:
        return None
    if job.offer_count >= settings.dispatch_max_offers:
        open_to_feed(ctx, job)
        return None
    if batched(ctx):
        # Back to the pool: the next window matches it, without the drivers already tried.
        job.dispatch_after = ctx.now()
        ctx.session.add(job)
        return None
    facts = await feed.one_job_facts(ctx.session, job, ctx.now())
    now, max_age_s, max_radius_m = ctx.now(), settings.location_stale_after_s, settings.dispatch_max_radius_m
    candidates = await nearest_for_job(ctx, facts, want=3)
    for candidate in candidates:
        offer = await create_offer(ctx, job, candidate.driver, candidate.distance_m)
        if offer is not None:
            return offer
    job.dispatch_after = ctx.now() + timedelta(seconds=settings.dispatch_retry_s)
    waiting = await why_nobody(ctx.session, facts, now=now, max_age_s=max_age_s, max_radius_m=max_radius_m)
    job.dispatch_waiting = waiting.value
    ctx.session.add(job)
    await ctx.session.flush()
    announce_dispatch(ctx, job, "searching")
    return None


async def expire_offer(ctx: Ctx, offer: JobOffer, job: Job) -> JobOffer | None:
    """The offered driver did not answer in time: the next driver gets the job."""
    await _close_offer(ctx, job, offer, "expired", "no answer before the offer expired")
    return await offer_job_to_next_driver(ctx, job)


async def driver_passed(ctx: Ctx, job: Job, driver: Driver, reason: str) -> None:
    """A driver rejected the job: close its live offer and offer the job to the next one."""
    offer = await live_offer(ctx, job.id)
    if offer is not None and offer.driver_id == driver.id:
        await _close_offer(ctx, job, offer, "rejected", reason)
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
            await _close_offer(ctx, job, offer, "accepted", None)
        elif offer.expires_at <= ctx.now():
            await _close_offer(ctx, job, offer, "expired", "no answer before the offer expired")
        else:
            raise DomainError(ErrorCode.OFFER_TAKEN, "another driver has taken this job")
    job.dispatch_after = None
    ctx.session.add(job)
    await withdraw_offers_of(ctx, driver, reason="the driver took another job")
    await _observe_time_to_assign(ctx, job)


async def _observe_time_to_assign(ctx: Ctx, job: Job) -> None:
    """From the job's last entering searching (its timeline) to now, once the accept commits."""
    query = (
        select(col(JobEvent.at))
        .where(col(JobEvent.job_id) == job.id, col(JobEvent.status) == JobStatus.SEARCHING)
        .order_by(col(JobEvent.seq).desc())
        .limit(1)
    )
    since = (await ctx.session.execute(query)).scalar_one_or_none()
    if since is None:
        return
    waited = max(0.0, (ctx.now() - since).total_seconds())

    async def observe() -> None:
        TIME_TO_ASSIGN.observe(waited)

    ctx.uow.after_commit(observe)


async def job_cancelled(ctx: Ctx, job: Job) -> None:
    offer = await live_offer(ctx, job.id)
    if offer is not None:
        await _close_offer(ctx, job, offer, "withdrawn", "the job was cancelled")
    job.dispatch_after = None
    ctx.session.add(job)


async def offer_nearby_job_to_driver(ctx: Ctx, driver: Driver) -> JobOffer | None:
    """A driver came online or moved: offer it the nearest open job, by the feed rule as
    dispatch applies it (the same rule that picks a driver for a job)."""
    if batched(ctx):
        return None  # the next window considers the driver with every waiting job
    me = (await feed.driver_facts(ctx.session, [driver]))[driver.id]
    stale_after = ctx.settings.location_stale_after_s
    if driver.lat is None or driver.lng is None:
        return None
    if feed.driver_block(me, now=ctx.now(), stale_after_s=stale_after) is not None:
        return None
    min_lat, max_lat, min_lng, max_lng = bounding_box(driver.lat, driver.lng, NEARBY_JOB_RADIUS_M)
    # SQL narrows to the open jobs of the area; the rule decides.
    query = select(Job).where(
        col(Job.status) == JobStatus.SEARCHING,
        col(Job.driver_id).is_(None),
        col(Job.pickup_lat).between(min_lat, max_lat),
        col(Job.pickup_lng).between(min_lng, max_lng),
    )
    if not ctx.platform.db.is_sqlite:
        query = query.with_for_update(skip_locked=True)
    jobs = (await ctx.session.execute(query.limit(200))).scalars().all()
    facts = await feed.job_facts(ctx.session, jobs, ctx.now())
    nearby = sorted(
        (haversine_m(driver.lat, driver.lng, job.pickup_lat, job.pickup_lng), job.id, job)
        for job in jobs
        if feed.dispatch_block(
            me, facts[job.id], now=ctx.now(), stale_after_s=stale_after, radius_m=NEARBY_JOB_RADIUS_M
        )
        is None
    )
    for distance, _, job in nearby:
        offer = await create_offer(ctx, job, driver, distance)
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
            col(Job.status) == JobStatus.SEARCHING,
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
        await _close_offer(ctx, job, offer, "withdrawn", reason)
        await offer_job_to_next_driver(ctx, job)
