"""The ops map's snapshot: every online driver (stale ones marked) and every job not yet
finished, with its live offer. Read from the database, the arbiter, at each refresh."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from logistics.errors import validation_failed
from logistics.job import feed
from logistics.job.access import for_ops
from logistics.job.eta import driver_position
from logistics.job.status import JobStatus
from logistics.models import Driver, Job, JobOffer
from logistics.platform import Ctx
from logistics.resolvers.offer_log import offer_log
from logistics.resolvers.views import timelines
from logistics.shapes.common import Point
from logistics.shapes.ops_map import OpsJob, OpsMap, OpsMapDriver, OpsMapJob, OpsMapOffer

MAX_LIMIT = 5_000
_FINISHED = (JobStatus.COMPLETED, JobStatus.CANCELLED)


def _point(stop: dict[str, object]) -> Point:
    point = stop.get("point")
    assert isinstance(point, dict)
    return Point(lat=point["lat"], lng=point["lng"])


@for_ops
async def ops_map(ctx: Ctx, limit: int = 2_000) -> OpsMap:
    if not 1 <= limit <= MAX_LIMIT:
        raise validation_failed(f"limit must be between 1 and {MAX_LIMIT}", limit="out of range")
    now, session = ctx.now(), ctx.session
    drivers = list(
        (
            await session.execute(
                select(Driver)
                .where(col(Driver.status) == "approved", col(Driver.online).is_(True))
                .where(col(Driver.lat).is_not(None), col(Driver.lng).is_not(None))
                .order_by(col(Driver.id))
                .limit(limit + 1)
            )
        ).scalars()
    )
    jobs = list(
        (
            await session.execute(
                select(Job)
                .where(col(Job.status).not_in([s.value for s in _FINISHED]))
                .order_by(col(Job.id).desc())
                .limit(limit + 1)
            )
        ).scalars()
    )
    truncated = len(drivers) > limit or len(jobs) > limit
    drivers, jobs = drivers[:limit], jobs[:limit]
    facts = await feed.driver_facts(session, drivers)
    offers = {
        offer.job_id: offer
        for offer in (
            await session.execute(
                select(JobOffer).where(
                    col(JobOffer.status) == "pending", col(JobOffer.job_id).in_([job.id for job in jobs])
                )
            )
        ).scalars()
    }
    return OpsMap(
        drivers=[
            OpsMapDriver(
                id=d.id,
                name=d.name,
                vehicle_type=d.vehicle_type,
                point=Point(lat=d.lat, lng=d.lng),
                recorded_at=d.location_recorded_at,
                stale=driver_position(d, ctx.settings, now) is None,
                busy=facts[d.id].busy,
                offered_job_id=facts[d.id].live_offer_job,
            )
            for d in drivers
            if d.lat is not None and d.lng is not None
        ],
        jobs=[
            OpsMapJob(
                id=job.id,
                status=JobStatus(job.status),
                pickup=_point(job.pickup),
                dropoff=_point(job.dropoff),
                driver_id=job.driver_id,
                offer=OpsMapOffer(driver_id=offers[job.id].driver_id, expires_at=offers[job.id].expires_at)
                if job.id in offers
                else None,
                dispatch_waiting=job.dispatch_waiting,
                created_at=job.created_at,
            )
            for job in jobs
        ],
        truncated=truncated,
        generated_at=now,
    )


@for_ops
async def ops_job(ctx: Ctx, job_id: str) -> OpsJob:
    log = await offer_log(ctx, job_id)  # NOT_FOUND for a job that does not exist
    job = await ctx.session.get(Job, job_id)
    assert job is not None
    steps = (await timelines(ctx.session, [job_id])).get(job_id, [])
    return OpsJob(job_id=job_id, status=JobStatus(job.status), timeline=steps, offer_log=log)
