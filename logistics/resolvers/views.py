"""Tables -> the API's shapes, with the visibility rules applied once for both edges.

Lists are built in batches (one query for all timelines, one for all drivers), which is the
resolver-level DataLoader: a page of 100 jobs costs three queries, not three hundred.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from logistics.config import Region, Settings
from logistics.dispatch.offers import progress
from logistics.job import tracking_link
from logistics.job.eta import job_eta
from logistics.job.status import JobStatus
from logistics.models import Driver, Job, JobEvent, JobImage, JobOffer, Quote, Upload
from logistics.pricing import region_for
from logistics.shapes.common import Money, Point, StopView, Vehicle
from logistics.shapes.drivers import DriverView
from logistics.shapes.jobs import (
    Cancellation,
    DriverSummary,
    JobView,
    OfferSummary,
    PaymentInfo,
    TimelineEntry,
)
from logistics.shapes.media import ImageView, UploadView
from logistics.shapes.quotes import QuoteView


def money(amount: int, currency: str) -> Money:
    return Money(amount=amount, currency=currency)


def driver_view(driver: Driver) -> DriverView:
    return DriverView.of(driver)


def driver_region(settings: Settings, driver: Driver | None) -> Region:
    """The region a driver works in: where its last position lies, else the default."""
    if driver is not None and driver.lat is not None and driver.lng is not None:
        region = region_for(settings.regions, driver.lat, driver.lng)
        if region is not None:
            return region
    return settings.default_region


def timeline_entry(event: JobEvent) -> TimelineEntry:
    return step_entry(
        event.status, event.at, event.recorded_at, event.lat, event.lng, event.actor_role, event.note
    )


def step_entry(
    status: str,
    at: datetime,
    recorded_at: datetime | None,
    lat: float | None,
    lng: float | None,
    actor: str,
    note: str | None,
) -> TimelineEntry:
    return TimelineEntry.model_validate(
        {
            "status": status,
            "at": at,
            "recorded_at": recorded_at,
            "point": point_of(lat, lng),
            "actor": actor,
            "note": note,
        }
    )


def point_of(lat: float | None, lng: float | None) -> Point | None:
    """A stored position as the API shows it, or None where none was recorded."""
    return Point(lat=lat, lng=lng) if lat is not None and lng is not None else None


async def timelines(session: AsyncSession, job_ids: list[str]) -> dict[str, list[TimelineEntry]]:
    by_job: dict[str, list[TimelineEntry]] = defaultdict(list)
    if not job_ids:
        return by_job
    query = (
        select(JobEvent)
        .where(col(JobEvent.job_id).in_(job_ids))
        .order_by(col(JobEvent.job_id), col(JobEvent.seq))
    )
    for event in (await session.execute(query)).scalars():
        by_job[event.job_id].append(timeline_entry(event))
    return by_job


async def drivers_by_id(session: AsyncSession, ids: set[str]) -> dict[str, Driver]:
    if not ids:
        return {}
    query = select(Driver).where(col(Driver.id).in_(ids))
    return {driver.id: driver for driver in (await session.execute(query)).scalars()}


def _stop(stop: dict[str, object], show_contact: bool) -> StopView:
    view = StopView.model_validate(stop)
    if not show_contact:
        view.contact = None
    return view


async def job_views(
    session: AsyncSession,
    jobs: list[Job],
    *,
    settings: Settings,
    now: datetime,
    viewer: str,
    feed_distances: dict[str, float] | None = None,
    feed_driver: Driver | None = None,
) -> list[JobView]:
    """``viewer`` is the caller's relation to the jobs: customer, driver, feed or ops.

    A driver browsing the feed sees where and what, not who: stop contacts appear once the
    job is assigned to that driver.
    """
    events = await timelines(session, [job.id for job in jobs])
    drivers = await drivers_by_id(session, {job.driver_id for job in jobs if job.driver_id})
    my_offers: dict[str, JobOffer] = {}
    if feed_driver is not None and jobs:
        query = select(JobOffer).where(
            col(JobOffer.driver_id) == feed_driver.id,
            col(JobOffer.status) == "pending",
            col(JobOffer.job_id).in_([job.id for job in jobs]),
        )
        my_offers = {offer.job_id: offer for offer in (await session.execute(query)).scalars()}
    searching = [job.id for job in jobs if job.status == JobStatus.SEARCHING]
    live_offers: set[str] = set()
    if searching:
        live_query = select(col(JobOffer.job_id)).where(
            col(JobOffer.job_id).in_(searching), col(JobOffer.status) == "pending"
        )
        live_offers = set((await session.execute(live_query)).scalars())
    views = []
    for job in jobs:
        driver = drivers.get(job.driver_id) if job.driver_id else None
        region = settings.region(job.region_id)
        offer = my_offers.get(job.id)
        cancellation = None
        if job.cancellation:
            cancellation = Cancellation.model_validate(job.cancellation)
        distance = job.distance_m
        if feed_distances is not None and job.id in feed_distances:
            distance = round(feed_distances[job.id])
        views.append(
            JobView(
                id=job.id,
                status=job.status,
                customer_id=job.customer_id,
                driver_id=job.driver_id,
                created_by=job.created_by,
                notes=job.notes,
                pickup=_stop(job.pickup, viewer != "feed"),
                dropoff=_stop(job.dropoff, viewer != "feed"),
                items=job.items,
                vehicle_type=job.vehicle_type,
                price=money(job.price, job.currency),
                breakdown=job.breakdown,
                driver_earnings=money(job.driver_earnings, job.currency),
                payment=PaymentInfo.model_validate(
                    {"method": job.payment_method, "status": job.payment_status}
                ),
                scheduled_at=job.scheduled_at,
                created_at=job.created_at,
                updated_at=job.updated_at,
                timeline=events.get(job.id, []),
                cancellation=cancellation,
                driver=DriverSummary(
                    id=driver.id,
                    name=driver.name,
                    vehicle=Vehicle.model_validate(driver.vehicle),
                    rating=driver.rating,
                )
                if driver
                else None,
                distance_m=distance,
                eta=job_eta(job, region, driver or feed_driver, settings, now),
                offer=OfferSummary(id=offer.id, expires_at=offer.expires_at) if offer else None,
                dispatch=progress(settings, job, live=job.id in live_offers),
                tracking_url=tracking_link.url_for(settings, job.id, job.tracking_generation)
                if viewer in ("customer", "ops")
                else None,
            )
        )
    return views


async def job_view(
    session: AsyncSession, job: Job, *, settings: Settings, now: datetime, viewer: str
) -> JobView:
    return (await job_views(session, [job], settings=settings, now=now, viewer=viewer))[0]


def quote_view(quote: Quote) -> QuoteView:
    return QuoteView.model_validate(
        {
            "id": quote.id,
            "price": money(quote.price, quote.currency),
            "breakdown": quote.breakdown,
            "driver_earnings": money(quote.driver_earnings, quote.currency),
            "distance_m": quote.distance_m,
            "duration_s": quote.duration_s,
            "vehicle_type": quote.vehicle_type,
            "expires_at": quote.expires_at,
            "validated": quote.validated,
            "checks": quote.checks,
        }
    )


def upload_url(upload: Upload) -> str:
    return f"/client/logistics/uploads/{upload.id}/content"


def upload_view(upload: Upload) -> UploadView:
    return UploadView(
        id=upload.id,
        url=upload_url(upload),
        content_type=upload.content_type,
        size=upload.size,
        sha256=upload.sha256,
    )


def image_view(image: JobImage, upload: Upload) -> ImageView:
    return ImageView.model_validate(
        {
            "id": image.id,
            "kind": image.kind,
            "url": upload_url(upload),
            "content_type": upload.content_type,
            "size": upload.size,
            "sha256": upload.sha256,
            "uploaded_by": image.uploaded_by,
            "created_at": image.created_at,
        }
    )
