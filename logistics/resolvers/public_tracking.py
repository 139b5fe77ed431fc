"""The public tracking page's use cases: a job seen through its link (``job.tracking_link``),
by anyone holding it. The link is the only credential: a wrong, forged, cancelled or expired
one is ``NOT_FOUND``, exactly as a job that does not exist."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import col

from logistics.errors import not_found
from logistics.job import tracking_link
from logistics.job.access import customer_job
from logistics.job.eta import driver_position, job_eta
from logistics.job.status import is_active
from logistics.models import Driver, Job, JobEvent, JobImage, Upload
from logistics.platform import Ctx
from logistics.resolvers.media import FileContent
from logistics.resolvers.views import job_view
from logistics.shapes.jobs import JobView
from logistics.shapes.public_tracking import (
    PublicDriver,
    PublicPosition,
    PublicProof,
    PublicStep,
    PublicStop,
    PublicTracking,
    PublicVehicle,
    Tiles,
)


async def linked_job(ctx: Ctx, token: str) -> Job:
    """The job the link names, while the link is open."""
    job_id = tracking_link.job_id_of(token)
    job = await ctx.session.get(Job, job_id) if job_id else None
    if (
        job is None
        or not tracking_link.holds(ctx.settings, token, job.id, job.tracking_generation)
        or not tracking_link.open_now(ctx.settings, job.status, job.completed_at, ctx.now())
    ):
        raise not_found("tracking link")
    return job


async def rotate_tracking_link(ctx: Ctx, job_id: str) -> JobView:
    """The customer replaces the order's tracking link: the old one stops answering at once
    (a stream open on it ends at the order's next change)."""
    job = await customer_job(ctx, job_id, lock=True)
    job.tracking_generation += 1
    job.updated_at = ctx.now()
    ctx.session.add(job)
    return await job_view(ctx.session, job, settings=ctx.settings, now=ctx.now(), viewer="customer")


def _stop(stop: dict[str, Any]) -> PublicStop:
    point, address = stop.get("point") or {}, stop.get("address") or {}
    label = ", ".join(str(part) for part in (address.get("line1"), address.get("city")) if part)
    return PublicStop(lat=point["lat"], lng=point["lng"], label=label)


def _driver(driver: Driver) -> PublicDriver:
    vehicle = driver.vehicle or {}
    return PublicDriver(
        first_name=(driver.name or "").split(" ")[0] or "Your courier",
        vehicle=PublicVehicle(
            type=str(vehicle.get("type", "")),
            make=vehicle.get("make"),
            model=vehicle.get("model"),
            color=vehicle.get("color"),
        ),
    )


async def _dropoff_photo(ctx: Ctx, job: Job) -> tuple[JobImage, Upload] | None:
    """The job's latest proof of delivery and its file, if there is one."""
    query = (
        select(JobImage, Upload)
        .join(Upload, col(Upload.id) == col(JobImage.upload_id))
        .where(col(JobImage.job_id) == job.id, col(JobImage.kind) == "dropoff")
        .order_by(col(JobImage.id).desc())
        .limit(1)
    )
    row = (await ctx.session.execute(query)).first()
    return (row[0], row[1]) if row is not None else None


async def public_tracking(ctx: Ctx, token: str) -> PublicTracking:
    job = await linked_job(ctx, token)
    now, settings = ctx.now(), ctx.settings
    region = settings.region(job.region_id)
    driver = await ctx.session.get(Driver, job.driver_id) if job.driver_id else None
    live = is_active(job.status) and driver is not None
    position = None
    # The same rule as the ETA's: a position older than the stale limit is not shown.
    where = driver_position(driver, settings, now) if live else None
    if where is not None and driver is not None:
        position = PublicPosition(lat=where[0], lng=where[1], recorded_at=driver.location_recorded_at)
    steps = (
        await ctx.session.execute(
            select(col(JobEvent.status), col(JobEvent.at))
            .where(col(JobEvent.job_id) == job.id)
            .order_by(col(JobEvent.seq))
        )
    ).all()
    photo = await _dropoff_photo(ctx, job)
    proof = None
    if photo is not None:
        proof = PublicProof(url=f"{tracking_link.PATH_PREFIX}{token}/proof", at=photo[0].created_at)
    tiles = None
    if settings.tracking_tile_url:
        tiles = Tiles(url=settings.tracking_tile_url, attribution=settings.tracking_tile_attribution)
    return PublicTracking(
        job_id=job.id,
        status=job.status,
        live=live,
        eta=job_eta(job, region, driver, settings, now) if live else None,
        driver=_driver(driver) if driver is not None else None,
        position=position,
        pickup=_stop(job.pickup),
        dropoff=_stop(job.dropoff),
        timeline=[PublicStep(status=status, at=at) for status, at in steps],
        proof=proof,
        # GeoJSON rings are [lng, lat]; the page (Leaflet) takes [lat, lng].
        service_area=[(lat, lng) for lng, lat in (region.service_area[0] if region.service_area else [])],
        tiles=tiles,
        expires_at=tracking_link.expires_at(settings, job.status, job.completed_at),
    )


async def proof_photo(ctx: Ctx, token: str) -> FileContent:
    """The delivery photo, once there is one."""
    photo = await _dropoff_photo(ctx, await linked_job(ctx, token))
    if photo is None:
        raise not_found("proof of delivery")
    upload = photo[1]
    return FileContent(await ctx.platform.storage.read(upload.sha256), upload.content_type)
