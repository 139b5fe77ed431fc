"""The driver's GPS trail while a job is active."""

from __future__ import annotations

from datetime import datetime

from logistics.errors import DomainError, ErrorCode
from logistics.job.access import driver_job, for_drivers
from logistics.job.eta import job_eta
from logistics.job.status import is_active
from logistics.models import Driver, LocationPoint
from logistics.platform import Ctx
from logistics.pubsub import location_channel
from logistics.resolvers.drivers import apply_position
from logistics.shapes.common import LocationReport, Point
from logistics.shapes.events import DriverLocation
from logistics.shapes.jobs import TrackingResult


@for_drivers(lock=True)
async def report_tracking(
    ctx: Ctx, driver: Driver, job_id: str, points: list[LocationReport]
) -> TrackingResult:
    """Store points (a batch is replayed in device-time order) and move the driver."""
    job = await driver_job(ctx, driver, job_id)
    if not is_active(job.status):
        raise DomainError(ErrorCode.JOB_NOT_ACTIVE, "tracking is accepted only while the job is active")
    now = ctx.now()

    def device_time(report: LocationReport) -> datetime:
        return report.recorded_at or now

    for report in sorted(points, key=device_time):
        ctx.session.add(
            LocationPoint(
                **report.model_dump(exclude={"recorded_at"}),
                job_id=job.id,
                driver_id=driver.id,
                recorded_at=device_time(report),
                received_at=now,
            )
        )
        apply_position(driver, report, ctx)
    ctx.session.add(driver)
    await ctx.session.flush()
    eta = job_eta(job, ctx.settings.region(job.region_id), driver, ctx.settings, now)
    if driver.lat is not None and driver.lng is not None and driver.location_recorded_at is not None:
        location = DriverLocation(
            job_id=job.id,
            point=Point(lat=driver.lat, lng=driver.lng),
            heading_deg=driver.heading_deg,
            speed_mps=driver.speed_mps,
            recorded_at=driver.location_recorded_at,
            eta_seconds=eta.seconds if eta else None,
        )
        ctx.publish(location_channel(job.id), location.model_dump(mode="json"))
    return TrackingResult(accepted=len(points), eta=eta)
