"""The driver's side of jobs: the open feed, own jobs, accept, reject, custom jobs."""

from __future__ import annotations

from sqlalchemy import exists, not_, select, update
from sqlmodel import col

from logistics.dispatch import offers
from logistics.dispatch.index import touched
from logistics.errors import DomainError, ErrorCode, validation_failed
from logistics.geo import bounding_box, haversine_m
from logistics.job import feed
from logistics.job.access import JobAccess, driver_of, for_drivers, job_access, load
from logistics.job.events import watch_feed
from logistics.job.lifecycle import Step, invalid_transition, record_transition
from logistics.job.status import ACTIVE_STATUSES, JobStatus
from logistics.models import Driver, Job, JobOffer, JobRejection
from logistics.platform import Ctx
from logistics.resolvers import idempotency
from logistics.resolvers.orders import new_job
from logistics.resolvers.pagination import keyset_page, offset_page
from logistics.resolvers.views import job_view, job_views
from logistics.shapes.jobs import (
    CreatedBy,
    CreateJobIn,
    JobListFilter,
    JobPage,
    JobView,
    RejectIn,
    RejectResult,
)

DEFAULT_FEED_RADIUS_M = 10_000
MAX_FEED_RADIUS_M = 50_000
# The feed is a browse list: beyond this many nearby open jobs, nearer ones matter most.
FEED_SCAN_LIMIT = 500


@for_drivers()
async def available_jobs(
    ctx: Ctx,
    driver: Driver,
    *,
    lat: float | None = None,
    lng: float | None = None,
    radius_m: int | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> JobPage:
    """Open jobs near the driver (default: its last reported position), nearest first."""
    if (lat is None) != (lng is None):
        raise validation_failed(
            "give both lat and lng, or neither", lat="paired with lng", lng="paired with lat"
        )
    if lat is None or lng is None:
        if driver.lat is None or driver.lng is None:
            raise validation_failed(
                "no location reported yet: pass lat and lng", lat="required", lng="required"
            )
        lat, lng = driver.lat, driver.lng
    radius = radius_m if radius_m is not None else DEFAULT_FEED_RADIUS_M
    check_feed_area(lat, lng, radius, "radius_m")
    min_lat, max_lat, min_lng, max_lng = bounding_box(lat, lng, radius)
    # SQL only narrows the rows to the open jobs of the area; the feed rule decides.
    query = (
        select(Job)
        .where(
            col(Job.status) == JobStatus.SEARCHING,
            col(Job.driver_id).is_(None),
            col(Job.pickup_lat).between(min_lat, max_lat),
            col(Job.pickup_lng).between(min_lng, max_lng),
        )
        .limit(FEED_SCAN_LIMIT)
    )
    candidates = (await ctx.session.execute(query)).scalars().all()
    facts = await feed.job_facts(ctx.session, candidates, ctx.now())
    me = feed.DriverFacts.of(driver)
    nearby = [job for job in candidates if feed.feed_block(me, facts[job.id], lat, lng, radius) is None]
    distances = {job.id: haversine_m(lat, lng, job.pickup_lat, job.pickup_lng) for job in nearby}
    nearby.sort(key=lambda job: (distances[job.id], job.id))
    page, next_cursor = offset_page(nearby, limit=limit, cursor=cursor)
    views = await job_views(
        ctx.session,
        page,
        settings=ctx.settings,
        now=ctx.now(),
        viewer="feed",
        feed_distances=distances,
        feed_driver=driver,
    )
    return JobPage(items=views, next_cursor=next_cursor)


def check_feed_area(lat: float, lng: float, radius_m: int, radius_name: str) -> None:
    """The area a feed (query or subscription) may watch."""
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise validation_failed("coordinates out of range", lat="-90..90", lng="-180..180")
    if not 1 <= radius_m <= MAX_FEED_RADIUS_M:
        raise validation_failed(
            f"{radius_name} must be 1 to {MAX_FEED_RADIUS_M}", radius_m=f"1..{MAX_FEED_RADIUS_M}"
        )


@for_drivers()
async def list_jobs(
    ctx: Ctx,
    driver: Driver,
    *,
    status: JobListFilter = JobListFilter.ACTIVE,
    limit: int = 20,
    cursor: str | None = None,
) -> JobPage:
    """The driver's own jobs, newest first."""
    query = select(Job).where(col(Job.driver_id) == driver.id)
    if status is JobListFilter.ACTIVE:
        query = query.where(col(Job.status).in_(ACTIVE_STATUSES))
    elif status is JobListFilter.COMPLETED:
        query = query.where(col(Job.status) == JobStatus.COMPLETED)
    jobs, next_cursor = await keyset_page(ctx.session, query, col(Job.id), limit=limit, cursor=cursor)
    views = await job_views(ctx.session, jobs, settings=ctx.settings, now=ctx.now(), viewer="driver")
    return JobPage(items=views, next_cursor=next_cursor)


async def get_job(ctx: Ctx, job_id: str) -> JobView:
    """A job the caller ordered, drives, or may take from the feed."""
    access = await job_access(ctx, job_id, allow_feed=True)
    return await job_view(ctx.session, access.job, settings=ctx.settings, now=ctx.now(), viewer=access.role)


async def create_job(ctx: Ctx, data: CreateJobIn, *, idempotency_key: str | None = None) -> JobView:
    """A job priced like a quote: a merchant's for a customer, a driver's own custom delivery,
    or a customer's booked without a stored quote. Cash and invoice skip payment."""
    principal = ctx.principal
    if (
        data.customer_id is not None
        and data.customer_id != principal.sub
        and not principal.has_role("merchant")
    ):
        raise DomainError(ErrorCode.FORBIDDEN, "only merchants may create jobs for other customers")
    if data.payment_method.value not in ("cash", "invoice"):
        raise validation_failed("jobs are paid in cash or by invoice", payment_method="cash or invoice")
    if data.payment_method.value == "invoice" and not principal.has_role("merchant"):
        raise validation_failed("invoice is for merchants", payment_method="cash for customers")
    driver = await _approved_driver_or_none(ctx)
    if principal.has_role("merchant"):
        created_by = CreatedBy.MERCHANT
    elif driver is not None:
        created_by = CreatedBy.DRIVER
    else:
        created_by = CreatedBy.CUSTOMER

    async def create() -> tuple[str, JobView]:
        job = await new_job(
            ctx,
            customer_id=data.customer_id or principal.sub,
            created_by=created_by.value,
            pickup=data.pickup.model_dump(mode="json"),
            dropoff=data.dropoff.model_dump(mode="json"),
            items=[item.model_dump(mode="json") for item in data.items],
            vehicle_type=data.vehicle_type,
            payment_method=data.payment_method.value,
            scheduled_at=data.scheduled_at,
            notes=data.notes,
            quote=None,
        )
        # A driver offering to take a custom delivery takes it at once.
        if driver is not None and created_by is CreatedBy.DRIVER:
            if not feed.vehicle_fits(driver.vehicle_type, job.vehicle_type):
                raise validation_failed("your vehicle cannot carry these items", vehicle_type="too small")
            job.driver_id = driver.id
            job.accepted_at = ctx.now()
            await record_transition(ctx, job, JobStatus.ACCEPTED, Step("driver"))
        elif job.status == JobStatus.SEARCHING:
            await offers.start_dispatch(ctx, job)
        return job.id, await job_view(
            ctx.session, job, settings=ctx.settings, now=ctx.now(), viewer="customer"
        )

    async def replay(job_id: str) -> JobView:
        return await get_job(ctx, job_id)

    return await idempotency.once(
        ctx,
        scope="jobs.create",
        key=idempotency_key,
        payload=data.model_dump(mode="json"),
        create=create,
        replay=replay,
    )


async def _approved_driver_or_none(ctx: Ctx) -> Driver | None:
    driver = await driver_of(ctx)
    return driver if driver is not None and driver.status == "approved" else None


# The driver's row is held until the commit: dispatch (which skips locked drivers) must not
# offer it a job meanwhile, on a snapshot where it is still free.
@for_drivers(lock=True)
async def accept_job(ctx: Ctx, driver: Driver, job_id: str) -> JobView:
    """Take a job the feed rule opens to this driver. One conditional UPDATE decides among
    racing drivers."""
    access = await _open_job_access(ctx, driver, job_id)
    job = access.job
    if job.driver_id == driver.id:
        if job.status == JobStatus.ACCEPTED:
            return await job_view(ctx.session, job, settings=ctx.settings, now=ctx.now(), viewer="driver")
        raise invalid_transition(job, JobStatus.ACCEPTED)
    if access.role != "feed":
        # The caller's own order, or ops: not a job this driver can take.
        if job.status == JobStatus.SEARCHING:
            raise DomainError(ErrorCode.FORBIDDEN, "you cannot accept your own order")
        raise invalid_transition(job, JobStatus.ACCEPTED)
    now = ctx.now()
    await watch_feed(ctx, job)
    # Re-checked in the statement itself: the rule's facts were read a moment ago, and an
    # offer to another driver may have been made since.
    exclusive_elsewhere = exists().where(
        col(JobOffer.job_id) == col(Job.id),
        col(JobOffer.status) == "pending",
        col(JobOffer.driver_id) != driver.id,
        col(JobOffer.expires_at) > now,
    )
    result = await ctx.session.execute(
        update(Job)
        .where(
            col(Job.id) == job_id,
            col(Job.status) == JobStatus.SEARCHING,
            col(Job.driver_id).is_(None),
            not_(exclusive_elsewhere),
        )
        .values(status=JobStatus.ACCEPTED.value, driver_id=driver.id, accepted_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(ErrorCode.OFFER_TAKEN, "another driver has taken this job")
    touched(ctx.session, driver.id)  # busy now: dispatch's index reads the driver again
    await ctx.session.refresh(job)
    await offers.job_taken(ctx, job, driver)
    await record_transition(ctx, job, JobStatus.ACCEPTED, Step("driver"), moved_from=JobStatus.SEARCHING)
    return await job_view(ctx.session, job, settings=ctx.settings, now=ctx.now(), viewer="driver")


async def _open_job_access(ctx: Ctx, driver: Driver, job_id: str) -> JobAccess:
    """The caller's access to a job it means to accept. A job the feed showed it a moment
    ago that another driver now holds, or holds the offer of, is ``OFFER_TAKEN``: the
    driver who came second hears why it is gone."""
    try:
        return await job_access(ctx, job_id, allow_feed=True)
    except DomainError as exc:
        if exc.code is ErrorCode.NOT_FOUND and await _taken_by_another_driver(ctx, job_id, driver):
            raise DomainError(ErrorCode.OFFER_TAKEN, "another driver has taken this job") from exc
        raise


async def _taken_by_another_driver(ctx: Ctx, job_id: str, driver: Driver) -> bool:
    """A job this driver could have taken by the feed rule, now another driver's (assigned,
    or under a live exclusive offer); not a driver's own custom delivery."""
    job = await load(ctx, Job, job_id)
    if job is None or job.driver_id == driver.id or job.created_by == CreatedBy.DRIVER.value:
        return False
    facts = await feed.one_job_facts(ctx.session, job, ctx.now())
    if job.driver_id is None:
        return feed.job_block(feed.DriverFacts.of(driver), facts) is feed.Block.OFFERED_ELSEWHERE
    return feed.job_block(feed.DriverFacts.of(driver), feed.as_if_open(facts)) is None


@for_drivers()
async def reject_job(ctx: Ctx, driver: Driver, job_id: str, data: RejectIn) -> RejectResult:
    """Pass on a job: it leaves this driver's feed; dispatch moves on to the next driver."""
    # The job's row first, then its offer, in the order accept and cancel take them: closing
    # the offer first would deadlock with a driver accepting the job at the same moment.
    # A job the rule now closes to this driver (taken, or offered to another) is NOT_FOUND:
    # passing on it changes nothing, and the answer must not tell a job that exists from one
    # that does not.
    access = await job_access(ctx, job_id, allow_feed=True, lock=True)
    if access.role != "feed":
        raise (
            invalid_transition(access.job, "rejected")
            if access.role == "driver"
            else DomainError(ErrorCode.NOT_FOUND, "job not found")
        )
    existing = await ctx.session.execute(
        select(JobRejection).where(
            col(JobRejection.job_id) == job_id, col(JobRejection.driver_id) == driver.id
        )
    )
    if existing.scalar_one_or_none() is None:
        await watch_feed(ctx, access.job)
        ctx.session.add(
            JobRejection(job_id=job_id, driver_id=driver.id, reason=data.reason.value, at=ctx.now())
        )
        await ctx.session.flush()
    await offers.driver_passed(ctx, access.job, driver, data.reason.value)
    return RejectResult(job_id=job_id, rejected=True, reason=data.reason)
