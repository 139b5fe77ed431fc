"""The customer's tracking poll: status, ETA, the driver's position and the timeline.

Customers poll it many times a second, so it is one statement built once, reading columns, not
rows of the ORM: the job, its driver and its timeline, a row per step. Building and loading
ORM objects for it cost more than SQLite or PostgreSQL take to answer it.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlmodel import col

from logistics.job.access import mine
from logistics.job.eta import TRIP_COLUMNS, driver_position, job_eta
from logistics.job.status import JobStatus
from logistics.models import Driver, Job, JobEvent
from logistics.models.driver import rating_of
from logistics.platform import Ctx
from logistics.resolvers.views import point_of, step_entry
from logistics.shapes.common import Vehicle
from logistics.shapes.jobs import TrackedDriver, TrackView

_TRACK = (
    select(
        *TRIP_COLUMNS,
        col(Job.customer_id),
        col(Driver.name),
        col(Driver.vehicle),
        col(Driver.rating_sum),
        col(Driver.rating_count),
        col(Driver.lat),
        col(Driver.lng),
        col(Driver.location_recorded_at),
        col(JobEvent.status).label("step"),
        col(JobEvent.at).label("step_at"),
        col(JobEvent.recorded_at).label("step_recorded_at"),
        col(JobEvent.lat).label("step_lat"),
        col(JobEvent.lng).label("step_lng"),
        col(JobEvent.actor_role).label("step_actor"),
        col(JobEvent.note).label("step_note"),
    )
    .select_from(Job)
    .outerjoin(Driver, col(Driver.id) == col(Job.driver_id))
    .outerjoin(JobEvent, col(JobEvent.job_id) == col(Job.id))
    .where(col(Job.id) == bindparam("job_id"))
    .order_by(col(JobEvent.seq))
)


async def track_order(ctx: Ctx, job_id: str) -> TrackView:
    connection = await ctx.session.connection()
    rows = (await connection.execute(_TRACK, {"job_id": job_id})).all()
    job = mine(ctx, rows[0] if rows else None, owner="customer_id", what="order")
    now = ctx.now()
    driver = job if job.driver_id is not None else None
    tracked = None
    if driver is not None:
        tracked = TrackedDriver(
            name=driver.name,
            vehicle=Vehicle.model_validate(driver.vehicle),
            rating=rating_of(driver.rating_sum, driver.rating_count),
            point=point_of(driver.lat, driver.lng),
            recorded_at=driver.location_recorded_at,
            stale=driver_position(driver, ctx.settings, now) is None,
        )
    return TrackView(
        job_id=job.id,
        status=JobStatus(job.status),
        eta=job_eta(job, ctx.settings.region(job.region_id), driver, ctx.settings, now),
        driver=tracked,
        timeline=[
            step_entry(
                r.step, r.step_at, r.step_recorded_at, r.step_lat, r.step_lng, r.step_actor, r.step_note
            )
            for r in rows
            if r.step is not None
        ],
    )
